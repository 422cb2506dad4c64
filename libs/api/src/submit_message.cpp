#include "msgbroker/api/submit_message.hpp"

#include <string>

#include "msgbroker/core/utf8.hpp"

namespace msgbroker::api {
namespace {

const std::string kSender(kFieldSenderNumber);
const std::string kBody(kFieldMessageBody);
const std::string kMetadata(kFieldMetadata);
const std::string kMessages(kFieldMessages);

}  // namespace

Status ValidateSenderNumber(std::string_view number) {
  if (number.size() < 3 || number.size() > 16 || number.front() != '+') {
    return Fail(ErrorCode::kInvalidSenderNumber,
                "sender_number must be E.164: '+' followed by 2 to 15 digits", kSender);
  }
  for (std::size_t i = 1; i < number.size(); ++i) {
    if (number[i] < '0' || number[i] > '9') {
      return Fail(ErrorCode::kInvalidSenderNumber,
                  "sender_number must be E.164: '+' followed by 2 to 15 digits", kSender);
    }
  }
  if (number[1] == '0') {
    return Fail(ErrorCode::kInvalidSenderNumber, "sender_number must not start with +0", kSender);
  }
  return Ok();
}

Status ValidateMessageBody(std::string_view body, const MessageLimits& limits) {
  const auto length = Utf8Length(body);
  if (!length) {
    return Fail(ErrorCode::kInvalidMessageBody, "message_body is not valid UTF-8", kBody);
  }
  if (*length == 0) return Fail(ErrorCode::kInvalidMessageBody, "message_body is empty", kBody);
  if (*length > limits.max_body_chars) {
    return Fail(ErrorCode::kInvalidMessageBody,
                "message_body has " + std::to_string(*length) + " characters; the maximum is " +
                    std::to_string(limits.max_body_chars),
                kBody);
  }
  if (IsBlank(body)) {
    return Fail(ErrorCode::kInvalidMessageBody, "message_body is blank", kBody);
  }
  if (HasDisallowedControl(body)) {
    return Fail(ErrorCode::kInvalidMessageBody,
                "message_body contains control characters (only tab, LF and CR are allowed)",
                kBody);
  }
  return Ok();
}

std::size_t JsonNestingDepth(std::string_view text) noexcept {
  std::size_t depth = 0;
  std::size_t max_depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
      if (depth > max_depth) max_depth = depth;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

namespace {

// The checks every request document passes before it is parsed: UTF-8, nesting depth, JSON, and
// a top-level object.
Result<nlohmann::json> ParseRequestObject(std::string_view json_text, const MessageLimits& limits) {
  if (!Utf8Length(json_text)) {
    return Fail(ErrorCode::kInvalidJson, "request body is not valid UTF-8");
  }
  if (JsonNestingDepth(json_text) > limits.max_json_depth) {
    return Fail(ErrorCode::kInvalidJson, "request body is nested more than " +
                                             std::to_string(limits.max_json_depth) + " levels");
  }
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return Fail(ErrorCode::kInvalidJson, "request body is not valid JSON");
  }
  if (!doc.is_object()) {
    return Fail(ErrorCode::kInvalidJson, "request body must be a JSON object");
  }
  return doc;
}

}  // namespace

Result<SubmitMessage> ParseSubmitMessage(std::string_view json_text, const MessageLimits& limits) {
  auto doc = ParseRequestObject(json_text, limits);
  if (!doc) return tl::unexpected(doc.error());
  return SubmitMessageFromJson(*doc, limits);
}

Result<std::vector<Result<SubmitMessage>>> ParseSubmitBatch(std::string_view json_text,
                                                            const MessageLimits& limits,
                                                            std::size_t max_items) {
  // One level deeper than a single message: {"messages":[{...,"metadata":{...}}]}.
  MessageLimits batch_limits = limits;
  batch_limits.max_json_depth = limits.max_json_depth + 2;
  auto doc = ParseRequestObject(json_text, batch_limits);
  if (!doc) return tl::unexpected(doc.error());
  const auto messages = doc->find(kMessages);
  if (messages == doc->end() || !messages->is_array()) {
    return Fail(ErrorCode::kInvalidRequest, "messages must be an array of message objects",
                kMessages);
  }
  if (messages->empty() || messages->size() > max_items) {
    return Fail(ErrorCode::kInvalidRequest,
                "messages must hold 1 to " + std::to_string(max_items) + " items", kMessages);
  }
  std::vector<Result<SubmitMessage>> items;
  items.reserve(messages->size());
  for (const auto& item : *messages) {
    if (!item.is_object()) {
      items.emplace_back(Fail(ErrorCode::kInvalidRequest, "each item must be a JSON object"));
    } else {
      items.push_back(SubmitMessageFromJson(item, limits));
    }
  }
  return items;
}

Result<SubmitMessage> SubmitMessageFromJson(const nlohmann::json& doc,
                                            const MessageLimits& limits) {
  SubmitMessage out;
  const auto sender = doc.find(kSender);
  if (sender == doc.end() || sender->is_null()) {
    return Fail(ErrorCode::kInvalidSenderNumber, "sender_number is required", kSender);
  }
  if (!sender->is_string()) {
    return Fail(ErrorCode::kInvalidSenderNumber, "sender_number must be a string", kSender);
  }
  out.sender_number = sender->get<std::string>();
  if (auto ok = ValidateSenderNumber(out.sender_number); !ok) return tl::unexpected(ok.error());

  const auto body = doc.find(kBody);
  if (body == doc.end() || body->is_null()) {
    return Fail(ErrorCode::kInvalidMessageBody, "message_body is required", kBody);
  }
  if (!body->is_string()) {
    return Fail(ErrorCode::kInvalidMessageBody, "message_body must be a string", kBody);
  }
  out.message_body = body->get<std::string>();
  if (auto ok = ValidateMessageBody(out.message_body, limits); !ok) {
    return tl::unexpected(ok.error());
  }

  const auto metadata = doc.find(kMetadata);
  if (metadata != doc.end() && !metadata->is_null()) {
    if (!metadata->is_object()) {
      return Fail(ErrorCode::kInvalidMetadata, "metadata must be a JSON object", kMetadata);
    }
    const std::string dumped = metadata->dump();
    if (dumped.size() > limits.max_metadata_bytes) {
      return Fail(ErrorCode::kInvalidMetadata,
                  "metadata is " + std::to_string(dumped.size()) + " bytes; the maximum is " +
                      std::to_string(limits.max_metadata_bytes),
                  kMetadata);
    }
    out.metadata = *metadata;
  }
  return out;
}

}  // namespace msgbroker::api
