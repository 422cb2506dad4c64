#pragma once
// TLS contexts. Policy: TLS 1.2 minimum (1.3 preferred), ECDHE + AEAD ciphers only, no
// compression, no renegotiation, no session tickets on the server.

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "msgbroker/core/result.hpp"

namespace msgbroker::net {

enum class TlsVersion { kTls12, kTls13 };

struct TlsServerConfig {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::filesystem::path ca_file;  // client certificates must chain to this CA
  // Request a client certificate and verify it when presented. A presented certificate that does
  // not verify fails the handshake; a missing one is left to the handler (401 with JSON) when
  // `require_client_certificate` is false, and fails the handshake when it is true.
  bool require_client_certificate = false;
  TlsVersion min_version = TlsVersion::kTls12;
};

struct TlsClientConfig {
  std::filesystem::path ca_file;    // server must chain to this CA
  std::filesystem::path cert_file;  // optional client certificate
  std::filesystem::path key_file;
  TlsVersion min_version = TlsVersion::kTls12;
  bool verify_host = true;  // check the server certificate's SAN against the host we dial
};

// Errors name the file that could not be loaded and OpenSSL's reason.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(const TlsServerConfig& config);
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(const TlsClientConfig& config);

}  // namespace msgbroker::net
