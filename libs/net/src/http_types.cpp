#include "msgbroker/net/http_types.hpp"

#include <nlohmann/json.hpp>

namespace msgbroker::net {

HttpResponse MakeErrorResponse(const Error& error, std::string_view request_id) {
  nlohmann::json body = {
      {"code", ErrorCodeName(error.code)}, {"message", error.message}, {"request_id", request_id}};
  if (!error.field.empty()) body["field"] = error.field;
  return MakeJsonResponse(static_cast<http::status>(HttpStatusFor(error.code)),
                          nlohmann::json{{"error", std::move(body)}});
}

HttpResponse MakeJsonResponse(http::status status, const nlohmann::json& body) {
  // Replace invalid UTF-8 rather than throw: a response must always be producible.
  return MakeJsonTextResponse(status,
                              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

HttpResponse MakeJsonTextResponse(http::status status, std::string json_text) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(json_text);
  response.prepare_payload();
  return response;
}

}  // namespace msgbroker::net
