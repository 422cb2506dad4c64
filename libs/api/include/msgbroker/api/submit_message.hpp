#pragma once
// Parsing and validation of POST /api/v1/messages (PRODUCT.md §3). Every failure names its field.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::api {

struct SubmitMessage {
  std::string sender_number;
  std::string message_body;
  nlohmann::json metadata;  // an object, or null when absent
};

// `+`, then 2-15 ASCII digits, the first not 0.
Status ValidateSenderNumber(std::string_view number);
// 1..limits.max_body_chars code points of valid UTF-8, not blank, no control characters
// other than tab/LF/CR.
Status ValidateMessageBody(std::string_view body, const MessageLimits& limits);

// The whole request body. Errors:
//  INVALID_JSON (not JSON, not UTF-8, nested deeper than max_json_depth, not an object),
//  INVALID_SENDER_NUMBER / INVALID_MESSAGE_BODY / INVALID_METADATA with `field` set
//  (missing, wrong type, or invalid value). Unknown fields are ignored.
Result<SubmitMessage> ParseSubmitMessage(std::string_view json_text, const MessageLimits& limits);

// One message object already parsed (the single request's document, or one item of a batch):
// the field checks of ParseSubmitMessage.
Result<SubmitMessage> SubmitMessageFromJson(const nlohmann::json& object,
                                            const MessageLimits& limits);

// POST /api/v1/messages/batch: {"messages":[{message}, ...]} with 1..max_items items.
// The request as a whole fails with INVALID_JSON (as above, one nesting level more allowed) or
// INVALID_REQUEST (field "messages": missing, not an array, empty or too many items). Otherwise
// every item has its own result, in order: the message, or its validation error (an item that
// is not an object is INVALID_REQUEST).
Result<std::vector<Result<SubmitMessage>>> ParseSubmitBatch(std::string_view json_text,
                                                            const MessageLimits& limits,
                                                            std::size_t max_items);

// Depth of nested arrays/objects, scanning without building a tree (strings are skipped).
std::size_t JsonNestingDepth(std::string_view json_text) noexcept;

}  // namespace msgbroker::api
