#pragma once
// What we read out of an X.509 certificate. Used by the CA, the CLI and the TLS layer
// (the peer certificate of every connection is described with this struct).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"

typedef struct x509_st X509;  // NOLINT: OpenSSL's forward declaration

namespace msgbroker::pki {

enum class ServiceRole { kProxy, kWorker, kMainServer, kPortal, kAdmin };

std::string_view RoleName(ServiceRole role) noexcept;  // "proxy", "worker", "main-server", ...
std::optional<ServiceRole> ParseRole(std::string_view name) noexcept;

inline constexpr std::string_view kRoleUriPrefix = "urn:msgbroker:role:";
inline constexpr std::string_view kClientUriPrefix = "urn:msgbroker:client:";

struct CertificateInfo {
  std::string subject_cn;
  std::string serial_hex;          // lowercase hex, no separators
  std::string fingerprint_sha256;  // lowercase hex of SHA-256 over the DER encoding
  SystemTime not_before{};
  SystemTime not_after{};
  bool is_ca = false;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;
  std::vector<std::string> uri_sans;
  std::optional<ServiceRole> role;       // from a "urn:msgbroker:role:" URI SAN
  std::optional<std::string> client_id;  // from a "urn:msgbroker:client:" URI SAN
  bool client_auth = false;              // EKU contains clientAuth
  bool server_auth = false;              // EKU contains serverAuth
};

// Never fails on a well-formed X509 object; missing fields stay empty.
CertificateInfo Describe(const X509* cert);
// Parses the first certificate of a PEM text.
Result<CertificateInfo> DescribePem(std::string_view pem);

}  // namespace msgbroker::pki
