#include "msgbroker/net/request_parser.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "msgbroker/core/ids.hpp"

namespace msgbroker::net {

void ApplyLimits(RequestParser& parser, const ServerLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(limits.max_body_bytes);
}

std::optional<Error> HeaderFailure(const RequestParser& parser) {
  if (parser.get().count(http::field::transfer_encoding) > 0 && !parser.chunked()) {
    return Error{ErrorCode::kInvalidRequest,
                 "malformed HTTP request: Transfer-Encoding must end with chunked"};
  }
  return std::nullopt;
}

std::optional<Error> ReadFailure(const boost::system::error_code& ec, const ServerLimits& limits) {
  if (ec == http::error::header_limit) {
    return Error{ErrorCode::kHeadersTooLarge,
                 "request headers exceed " + std::to_string(limits.max_header_bytes) + " bytes"};
  }
  if (ec == http::error::body_limit) {
    return Error{ErrorCode::kPayloadTooLarge,
                 "request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes"};
  }
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return Error{ErrorCode::kInvalidRequest, "malformed HTTP request: " + ec.message()};
  }
  return std::nullopt;
}

HttpResponse UnroutedResponse(const Router::Match& match, http::verb method,
                              std::string_view target, std::string_view request_id) {
  if (match.allowed.empty()) {
    return MakeErrorResponse(
        Error{ErrorCode::kNotFound,
              "no such resource: " + std::string(target.substr(0, target.find('?')))},
        request_id);
  }
  std::string allow;
  for (const auto verb : match.allowed) {
    if (!allow.empty()) allow += ", ";
    allow += http::to_string(verb);
  }
  auto response = MakeErrorResponse(
      Error{ErrorCode::kMethodNotAllowed,
            "method " + std::string(http::to_string(method)) + " is not allowed here"},
      request_id);
  response.set(http::field::allow, allow);
  return response;
}

std::string RequestIdFor(std::string_view given) {
  return IsAcceptableRequestId(given) ? std::string(given) : NewRequestId();
}

}  // namespace msgbroker::net
