#pragma once
// Shared by the net component tests: certificates from our own CA written to a scratch
// directory, polling with a deadline, metric look-ups, and raw TCP / TLS peers for the cases
// the HttpsClient deliberately cannot produce (partial requests, old TLS versions).

#include <openssl/ssl.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "msgbroker/net/http_server.hpp"
#include "msgbroker/net/https_client.hpp"
#include "msgbroker/net/tls.hpp"
#include "msgbroker/testing/wait_for.hpp"

namespace prometheus {
class Registry;
}

namespace msgbroker::net::testing {

using std::chrono::milliseconds;

// Certificates issued once per test binary:
//  * ca / server (role main-server, SAN localhost + 127.0.0.1) / client "acme" / worker service
//  * other_ca with its own client "mallory" (chains to a CA the server does not trust)
//  * mismatched_server: from our CA but for other.example / 127.0.0.2 only
struct TestPki {
  std::filesystem::path dir;
  std::filesystem::path ca_cert;
  std::filesystem::path server_cert, server_key;
  std::filesystem::path client_cert, client_key;
  std::filesystem::path worker_cert, worker_key;
  std::filesystem::path mismatched_server_cert, mismatched_server_key;
  std::filesystem::path other_ca_cert;
  std::filesystem::path other_client_cert, other_client_key;
};
const TestPki& Pki();

TlsServerConfig ServerTls(bool require_client_certificate = false);
// A client of our CA presenting the "acme" certificate (or none when `with_certificate` is false).
TlsClientConfig ClientTls(bool with_certificate = true);

using msgbroker::testing::WaitFor;

// Sum of the values of `name` (counter, gauge, or histogram sample count) over the series whose
// labels include all of `labels`.
double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels);

// An HttpServer on 127.0.0.1:0 that is started in the constructor (ASSERT in the test body on
// `started`).
struct TestServer {
  TestServer(Router router, std::optional<TlsServerConfig> tls, ServerLimits limits = {},
             std::size_t threads = 2);
  ~TestServer();
  Endpoint endpoint() const;
  HttpsClient Client(std::optional<TlsClientConfig> tls = ClientTls(),
                     milliseconds timeout = milliseconds{5'000}) const;

  std::shared_ptr<prometheus::Registry> registry;
  std::unique_ptr<HttpServer> server;
  Status started;
  bool tls;
};

struct RawResponse {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// A plain TCP connection to 127.0.0.1:port with blocking writes and deadline-bounded reads.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // False when the peer has closed or reset the connection.
  bool Send(std::string_view data);
  // One response with a Content-Length body, or nullopt on timeout / close before it is whole.
  std::optional<RawResponse> ReadResponse(milliseconds timeout);
  // True when the peer closes (EOF or reset) within `timeout`; data read meanwhile is dropped.
  bool WaitClosed(milliseconds timeout);

 private:
  // Reads what is available within `timeout`: >0 bytes appended, 0 on EOF/reset, -1 on timeout.
  int ReadSome(milliseconds timeout);
  int fd_ = -1;
  std::string pending_;
};

// A TLS client built directly on OpenSSL, for protocol-version and cipher checks.
struct RawTlsResult {
  bool ok = false;
  std::string error;
  int version = 0;  // e.g. TLS1_3_VERSION
  std::string cipher;
  std::string group;  // the key exchange group, e.g. "X25519"
};
// What the client offers: empty strings leave OpenSSL's defaults.
struct RawTlsOffer {
  std::string cipher_suites;  // TLS 1.3
  std::string groups;
};
RawTlsResult RawTlsHandshake(std::uint16_t port, int min_version, int max_version,
                             const std::string& cipher_list = {}, const RawTlsOffer& offer = {});

}  // namespace msgbroker::net::testing
