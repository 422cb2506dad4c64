#pragma once
// What the attack suite needs that the product's own tools deliberately cannot do: certificates
// the internal CA refuses to issue (self-signed, wrong extended key usage, arbitrary validity),
// and a TLS connection that sends exactly the bytes a test gives it (request smuggling, slow
// clients, old protocol versions), which HttpsClient never would.

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/result.hpp"
#include "msgbroker/pki/certificate_authority.hpp"

namespace msgbroker::testing {

using std::chrono::milliseconds;

// A certificate built field by field with OpenSSL.
struct RogueCertificate {
  std::string common_name = "demo";
  std::string uri_san = "urn:msgbroker:client:demo";  // empty: no SAN
  // OpenSSL names ("clientAuth", "serverAuth", "emailProtection", ...); empty: no EKU at all.
  std::vector<std::string> extended_key_usage{"clientAuth"};
  std::chrono::seconds not_before{-300};  // relative to now
  std::chrono::seconds not_after{86'400};
};
// Signed by the CA whose certificate and key files are given, or self-signed when they are empty.
Result<pki::IssuedCertificate> IssueRogue(const RogueCertificate& spec,
                                          const std::filesystem::path& ca_cert = {},
                                          const std::filesystem::path& ca_key = {});

struct RawHttpResponse {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

struct RawTlsOptions {
  std::filesystem::path ca_file;  // the server is verified against it when set
  std::filesystem::path cert_file, key_file;
  int min_version = TLS1_2_VERSION;
  int max_version = 0;  // 0: the highest OpenSSL supports
};

// A TLS connection to 127.0.0.1:port on a non-blocking socket; every read has a deadline.
class RawTlsConnection {
 public:
  RawTlsConnection(std::uint16_t port, const RawTlsOptions& options);
  ~RawTlsConnection();
  RawTlsConnection(const RawTlsConnection&) = delete;
  RawTlsConnection& operator=(const RawTlsConnection&) = delete;

  // The client side of the handshake finished (with TLS 1.3 the server may still refuse the
  // client certificate afterwards).
  bool handshake_ok() const { return ssl_ != nullptr; }
  const std::string& error() const { return error_; }
  int version() const;

  // False when the peer has closed or reset the connection.
  bool Send(std::string_view data);
  // One response with a Content-Length body, or nullopt on timeout / close before it is whole.
  std::optional<RawHttpResponse> ReadResponse(milliseconds timeout);
  // Reads until the peer closes; nullopt if it is still open after `timeout`, else everything
  // that arrived (beyond responses already returned).
  std::optional<std::string> ReadUntilClosed(milliseconds timeout);

 private:
  // >0 bytes appended to pending_, 0 on close/reset/TLS alert, -1 on timeout.
  int ReadSome(milliseconds timeout);
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string error_;
  std::string pending_;
};

}  // namespace msgbroker::testing
