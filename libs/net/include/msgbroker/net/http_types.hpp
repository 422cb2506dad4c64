#pragma once
// Request/response types shared by the server, the client and every handler.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "msgbroker/core/result.hpp"
#include "msgbroker/pki/certificate_info.hpp"

namespace boost::asio {
class io_context;
}

namespace msgbroker::net {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

// Everything a handler may know about who is calling. `peer` is set only when the client
// presented a certificate that chained to our CA (the TLS layer rejects any other certificate).
struct RequestContext {
  std::string request_id;
  std::string remote_address;  // "ip:port"
  std::optional<pki::CertificateInfo> peer;
  std::map<std::string, std::string, std::less<>> path_params;  // "{id}" segments of the route
  std::string route;  // the route pattern that matched, e.g. "/api/v1/messages/{id}"
  std::chrono::steady_clock::time_point received_at{};
  // The event loop the handler is called on (the connection's I/O thread), for work that can
  // run there without blocking it, such as RedisQueue's enqueues (Queue::EnqueueAsyncOn).
  boost::asio::io_context* loop = nullptr;
};

// Must be called exactly once, from any thread. The server moves the response back onto the
// connection's strand, adds X-Request-Id, Date, Server and keep-alive handling.
using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest&&, const RequestContext&, Responder)>;

// The one JSON error envelope: {"error":{"code","message","request_id"[,"field"]}}, with the
// status taken from the error code table (msgbroker/core/error_code.hpp). Extra headers such as
// Retry-After are added by the caller.
HttpResponse MakeErrorResponse(const Error& error, std::string_view request_id);
HttpResponse MakeJsonResponse(http::status status, const nlohmann::json& body);
// The same with a body that is JSON text already (msgbroker/core/json_text.hpp).
HttpResponse MakeJsonTextResponse(http::status status, std::string json_text);

}  // namespace msgbroker::net
