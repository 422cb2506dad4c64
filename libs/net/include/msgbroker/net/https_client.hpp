#pragma once
// A small blocking HTTP/1.1 client with keep-alive and per-request timeouts, for the worker,
// `msgbroker send` and the tests. Not thread-safe: one client per thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "msgbroker/core/result.hpp"
#include "msgbroker/net/http_types.hpp"
#include "msgbroker/net/tls.hpp"

namespace msgbroker::net {

struct Endpoint {
  bool tls = true;
  std::string host;
  std::uint16_t port = 0;
};
// "https://host:port" or "http://host:port" (a path, if any, is ignored).
Result<Endpoint> ParseUrl(std::string_view url);

class HttpsClient {
 public:
  // `tls` is required when endpoint.tls is true.
  HttpsClient(Endpoint endpoint, std::optional<TlsClientConfig> tls,
              std::chrono::milliseconds timeout);
  // TLS from a context that can be reloaded while the client lives (the worker on SIGHUP).
  HttpsClient(Endpoint endpoint, std::shared_ptr<ReloadableClientContext> tls,
              std::chrono::milliseconds timeout);
  ~HttpsClient();

  // Sends one request over a kept-alive connection, connecting (and handshaking) first when
  // needed; one transparent reconnect when a reused connection turns out to be closed.
  // Sets Host, Content-Length and User-Agent. Errors: kServiceUnavailable (connect/handshake
  // failure, with the reason), kTimeout, kUpstreamError (protocol errors).
  Result<HttpResponse> Send(HttpRequest request);
  Result<HttpResponse> Get(std::string target);
  Result<HttpResponse> PostJson(std::string target, std::string body);
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace msgbroker::net
