#pragma once
// How the HTTP server reads a request and answers the requests that never reach a handler, apart
// from its sockets. The server (http_server.cpp) uses exactly these functions, so the HTTP fuzz
// target (fuzz/http_request_fuzz.cpp) exercises the server's own parser configuration and error
// mapping rather than a copy of them.

#include <boost/beast/http/parser.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "msgbroker/net/http_server.hpp"
#include "msgbroker/net/http_types.hpp"
#include "msgbroker/net/router.hpp"

namespace msgbroker::net {

using RequestParser = http::request_parser<http::string_body>;

// Sets the header and body limits on a fresh parser for the next request.
void ApplyLimits(RequestParser& parser, const ServerLimits& limits);

// What a request whose header was read must be refused with before its body is read, or nullopt.
// RFC 9112 6.1: when chunked is not the final transfer coding the body's length cannot be
// determined. Beast would read such a request as having no body (or frame it by a Content-Length
// beside it) and the body's bytes as the next request: request smuggling. It is 400
// INVALID_REQUEST, and the connection closes.
std::optional<Error> HeaderFailure(const RequestParser& parser);

// What a failed read is answered with: 431 HEADERS_TOO_LARGE, 413 PAYLOAD_TOO_LARGE or 400
// INVALID_REQUEST for a malformed request. nullopt when nobody is waiting for an answer (the peer
// closed, possibly mid-request, or the read timed out): the connection just closes.
std::optional<Error> ReadFailure(const boost::system::error_code& ec, const ServerLimits& limits);

// The answer to a request the router has no handler for: 404 NOT_FOUND naming the path, or, when
// the path matched with other methods, 405 METHOD_NOT_ALLOWED with an Allow header.
HttpResponse UnroutedResponse(const Router::Match& match, http::verb method,
                              std::string_view target, std::string_view request_id);

// The request id of a response: the client's X-Request-Id when it is acceptable, else a new one.
std::string RequestIdFor(std::string_view given);

}  // namespace msgbroker::net
