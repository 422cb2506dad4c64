#include "msgbroker/api/queue_envelope.hpp"

#include "msgbroker/core/base64.hpp"
#include "msgbroker/core/json_text.hpp"
#include "msgbroker/core/time_format.hpp"

namespace msgbroker::api {

// Written directly rather than through an nlohmann::json document (this runs once per message on
// the proxy); the keys in nlohmann's order, so the bytes are what it wrote.
std::string EncodeQueuePayload(const QueuePayload& payload) {
  std::string out = "{";
  AppendJsonKey(out, "client_id");
  AppendJsonString(out, payload.client_id.str());
  out += ',';
  AppendJsonKey(out, "content");
  out += '"';  // base64 needs no escaping
  out += Base64Encode(payload.sealed_content);
  out += '"';
  out += ',';
  AppendJsonKey(out, "queued_at");
  AppendJsonNumber(out, ToUnixMillis(payload.queued_at));
  out += R"(,"v":1})";
  return out;
}

Result<QueuePayload> DecodeQueuePayload(std::string_view text) {
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(ErrorCode::kDataCorrupted, "queue payload is not a JSON object");
  }
  const auto v = doc.find("v");
  const auto client = doc.find("client_id");
  const auto queued = doc.find("queued_at");
  const auto content = doc.find("content");
  if (v == doc.end() || !v->is_number_integer() || v->get<int>() != 1) {
    return Fail(ErrorCode::kDataCorrupted, "queue payload has an unknown version");
  }
  if (client == doc.end() || !client->is_string() || queued == doc.end() ||
      !queued->is_number_integer() || content == doc.end() || !content->is_string()) {
    return Fail(ErrorCode::kDataCorrupted, "queue payload is missing fields");
  }
  auto client_id = ClientId::Parse(client->get<std::string>());
  auto sealed = Base64Decode(content->get<std::string>());
  if (!client_id || !sealed) {
    return Fail(ErrorCode::kDataCorrupted, "queue payload has a malformed client id or content");
  }
  return QueuePayload{*client_id, FromUnixMillis(queued->get<std::int64_t>()), std::move(*sealed)};
}

std::string EnvelopeAssociatedData(const MessageId& id, const ClientId& client) {
  return id.str() + "|" + client.str();
}

std::string EncodeContent(const SubmitMessage& message) {
  std::string out = "{";
  AppendJsonKey(out, kFieldMessageBody);
  AppendJsonString(out, message.message_body);
  if (!message.metadata.is_null()) {
    out += ',';
    AppendJsonKey(out, kFieldMetadata);
    out += message.metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  out += ',';
  AppendJsonKey(out, kFieldSenderNumber);
  AppendJsonString(out, message.sender_number);
  out += '}';
  return out;
}

Result<SubmitMessage> DecodeContent(std::string_view text) {
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(ErrorCode::kDataCorrupted, "message content is not a JSON object");
  }
  const auto sender = doc.find(std::string(kFieldSenderNumber));
  const auto body = doc.find(std::string(kFieldMessageBody));
  if (sender == doc.end() || !sender->is_string() || body == doc.end() || !body->is_string()) {
    return Fail(ErrorCode::kDataCorrupted, "message content is missing fields");
  }
  SubmitMessage out{sender->get<std::string>(), body->get<std::string>(), nullptr};
  if (const auto m = doc.find(std::string(kFieldMetadata)); m != doc.end()) out.metadata = *m;
  return out;
}

}  // namespace msgbroker::api
