#pragma once
// HTTP/1.1 server on Boost.Beast/Asio with optional TLS (mutual TLS for our services).
//
// Threading: `threads` io_context threads; each connection lives on one strand for its whole
// life. Handlers run on the connection's strand and must not block: blocking work goes to a
// pool and calls the Responder when done (docs/ARCHITECTURE.md, "Threading").
//
// Limits (each a config field, a metric and a test):
//  * header bytes        -> 431 HEADERS_TOO_LARGE, connection closed
//  * body bytes          -> 413 PAYLOAD_TOO_LARGE, connection closed
//  * connections         -> further connections are accepted and closed at once, counted
//  * handshake timeout   -> TLS handshake must finish in time
//  * request timeout     -> a whole request (headers + body) must arrive in time (slow clients)
//  * idle timeout        -> keep-alive connections idle longer are closed
//  * requests/connection -> after this many, "Connection: close"
// Graceful Stop(): stop accepting, report not ready, let in-flight requests finish for up to
// `grace`, close idle connections, then stop the threads.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "msgbroker/core/result.hpp"
#include "msgbroker/net/router.hpp"
#include "msgbroker/net/tls.hpp"

namespace prometheus {
class Registry;
}

namespace msgbroker::net {

struct ServerLimits {
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_connections = 4096;
  std::chrono::milliseconds handshake_timeout{5'000};
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_requests_per_connection = 100'000;
};

struct HttpServerOptions {
  std::string service;  // label for metrics and logs: "proxy", "main_server", ...
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = pick a free port (tests)
  std::size_t threads = 2;
  std::optional<TlsServerConfig> tls;  // nullopt = plain HTTP (worker metrics)
  ServerLimits limits;
};

class HttpServer {
 public:
  // Registers http_requests_total{service,route,method,status},
  // http_request_duration_seconds{service,route} (histogram), http_connections_active{service},
  // http_connections_rejected_total{service,reason}, tls_handshake_failures_total{service}
  // in `metrics`.
  HttpServer(HttpServerOptions options, Router router, prometheus::Registry& metrics);
  ~HttpServer();  // Stop(0) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the threads. kServiceUnavailable with "address already in use"
  // naming the address and port when it is taken; errors from TLS set-up name the file.
  Status Start();
  std::uint16_t port() const noexcept;  // the bound port (after Start)
  void Stop(std::chrono::milliseconds grace);
  // Reads the certificate, key and CA files again (renewed certificates, a new CA bundle): new
  // connections use them, open ones finish with what they started with. On an error the server
  // keeps the old ones and the error names the file. No-op without TLS.
  Status ReloadTls();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace msgbroker::net
