#pragma once
// TLS contexts. Policy: TLS 1.2 minimum (1.3 preferred), ECDHE + AEAD ciphers only, no
// compression, no renegotiation, no session tickets on the server.
//
// The policy can be narrowed in configuration (TlsPolicy), never weakened: a TLS 1.2 cipher list
// that would enable a suite without ECDHE key exchange or without an AEAD is refused, as is a
// name OpenSSL does not know, with an error naming it.

#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "msgbroker/core/result.hpp"

namespace msgbroker::net {

enum class TlsVersion { kTls12, kTls13 };

// Empty strings mean the defaults below.
struct TlsPolicy {
  TlsVersion min_version = TlsVersion::kTls12;
  std::string ciphers;        // TLS 1.2 suites, OpenSSL names separated by ':'
  std::string cipher_suites;  // TLS 1.3 suites, e.g. "TLS_AES_256_GCM_SHA384"
  std::string groups;         // key exchange groups, e.g. "X25519:P-256"
};
inline constexpr const char* kDefaultTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* kDefaultTls13CipherSuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
inline constexpr const char* kDefaultTlsGroups = "X25519:P-256:P-384";

struct TlsServerConfig {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::filesystem::path ca_file;  // client certificates must chain to this CA
  // Request a client certificate and verify it when presented. A presented certificate that does
  // not verify fails the handshake; a missing one is left to the handler (401 with JSON) when
  // `require_client_certificate` is false, and fails the handshake when it is true.
  bool require_client_certificate = false;
  TlsPolicy policy;
};

struct TlsClientConfig {
  std::filesystem::path ca_file;    // server must chain to this CA
  std::filesystem::path cert_file;  // optional client certificate
  std::filesystem::path key_file;
  TlsPolicy policy;
  bool verify_host = true;  // check the server certificate's SAN against the host we dial
};

// Errors name the file that could not be loaded and OpenSSL's reason, or the policy entry that
// was refused.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(const TlsServerConfig& config);
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(const TlsClientConfig& config);

// A client context that SIGHUP can replace (a renewed worker certificate): HttpsClient takes the
// current one for each new connection, and closes a kept-alive connection made with an older one
// before its next request. Thread-safe.
class ReloadableClientContext {
 public:
  struct Current {
    std::shared_ptr<boost::asio::ssl::context> context;
    std::uint64_t generation = 0;  // goes up with every successful Reload
  };

  // `service` names it in the reload log lines.
  static Result<std::shared_ptr<ReloadableClientContext>> Create(TlsClientConfig config,
                                                                 std::string service);
  // Reads the files again; when they do not load, the error is logged and returned and the
  // current context stays in use.
  Status Reload();
  Current current() const;
  const TlsClientConfig& config() const { return config_; }

 private:
  ReloadableClientContext(TlsClientConfig config, std::string service)
      : config_(std::move(config)), service_(std::move(service)) {}
  Status Load();
  const TlsClientConfig config_;
  const std::string service_;
  mutable std::mutex mutex_;
  Current current_;
};

}  // namespace msgbroker::net
