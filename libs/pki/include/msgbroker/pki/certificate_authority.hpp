#pragma once
// The internal certificate authority, built on the OpenSSL 3 library (no shelling out).
//
// Identity conventions (see docs/adr/0003-certificate-identity.md):
//  * client certificates: CN = client id, URI SAN "urn:msgbroker:client:<client-id>",
//    EKU clientAuth, KU digitalSignature (+keyEncipherment for RSA).
//  * service certificates: CN = "<role>", URI SAN "urn:msgbroker:role:<role>", DNS/IP SANs,
//    EKU serverAuth + clientAuth.
//  * CA: basicConstraints critical CA:TRUE, pathlen:0; KU keyCertSign + cRLSign; SKI/AKI.
// Serial numbers are 128 random bits. Keys are ECDSA P-256 by default, RSA-3072 optional.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/pki/certificate_info.hpp"

namespace msgbroker::pki {

enum class KeyAlgorithm { kEcdsaP256, kRsa3072 };

struct CaOptions {
  std::string common_name = "msgbroker CA";
  std::string organization = "msgbroker";
  std::chrono::days validity{3650};
  KeyAlgorithm algorithm = KeyAlgorithm::kEcdsaP256;
};

struct IssuedCertificate {
  std::string certificate_pem;
  std::string private_key_pem;  // PKCS#8, unencrypted; written 0600 by the caller
  CertificateInfo info;
};

struct ClientCertificateRequest {
  ClientId client_id;
  std::string domain;  // becomes a DNS SAN and the O= field
  std::chrono::days validity{365};
  KeyAlgorithm algorithm = KeyAlgorithm::kEcdsaP256;
};

struct ServiceCertificateRequest {
  ServiceRole role = ServiceRole::kMainServer;
  std::vector<std::string> dns_names{"localhost"};
  std::vector<std::string> ip_addresses{"127.0.0.1"};
  std::chrono::days validity{825};
  KeyAlgorithm algorithm = KeyAlgorithm::kEcdsaP256;
};

class CertificateAuthority {
 public:
  ~CertificateAuthority();
  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;

  // A new self-signed CA valid from `clock.Now()` - 5 minutes. Create and Load keep a reference
  // to `clock` (issued validity periods start from it): it must outlive the CA.
  static Result<CertificateAuthority> Create(const CaOptions& options, const Clock& clock);
  // Loads an existing CA; errors name the file and say what is wrong with it.
  static Result<CertificateAuthority> Load(const std::filesystem::path& cert_file,
                                           const std::filesystem::path& key_file,
                                           const Clock& clock);
  // Writes cert (0644) and key (0600). Refuses to overwrite existing files.
  Status Save(const std::filesystem::path& cert_file, const std::filesystem::path& key_file) const;

  Result<IssuedCertificate> IssueClient(const ClientCertificateRequest& request) const;
  Result<IssuedCertificate> IssueService(const ServiceCertificateRequest& request) const;

  const std::string& certificate_pem() const;
  const CertificateInfo& info() const;

 private:
  struct Impl;
  explicit CertificateAuthority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes `contents` to `path` atomically (temp file + rename) with the given permissions.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents,
                           std::filesystem::perms perms);

}  // namespace msgbroker::pki
