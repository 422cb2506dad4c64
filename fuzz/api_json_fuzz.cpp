// Fuzz target: JSON documents as the API receives them, fed to every parser of libs/api that
// reads untrusted text: the client's single message and batch (api::ParseSubmitMessage,
// api::ParseSubmitBatch, hence SubmitMessageFromJson) and both halves of the worker -> main server
// delivery protocol (api::DecodeDeliveryRequest, api::DecodeDeliveryResponse).
//
// Properties beyond "no crash": failures carry the documented error codes; an accepted message
// survives the queue's content codec unchanged; an accepted delivery request or response encodes
// to text that decodes to the same items.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "fuzz_check.hpp"
#include "msgbroker/api/contract.hpp"
#include "msgbroker/api/delivery.hpp"
#include "msgbroker/api/queue_envelope.hpp"
#include "msgbroker/api/submit_message.hpp"

namespace {

using namespace msgbroker;

bool IsMessageError(ErrorCode code) {
  return code == ErrorCode::kInvalidSenderNumber || code == ErrorCode::kInvalidMessageBody ||
         code == ErrorCode::kInvalidMetadata;
}

void CheckMessage(const api::SubmitMessage& message, const api::MessageLimits& limits) {
  FUZZ_CHECK(api::ValidateSenderNumber(message.sender_number));
  FUZZ_CHECK(api::ValidateMessageBody(message.message_body, limits));
  FUZZ_CHECK(message.metadata.is_null() || message.metadata.is_object());
  const auto decoded = api::DecodeContent(api::EncodeContent(message));
  FUZZ_CHECK(decoded.has_value());
  FUZZ_CHECK(decoded->sender_number == message.sender_number);
  FUZZ_CHECK(decoded->message_body == message.message_body);
  FUZZ_CHECK(decoded->metadata == message.metadata);
}

void FuzzSubmit(std::string_view text) {
  const api::MessageLimits limits;
  if (const auto message = api::ParseSubmitMessage(text, limits)) {
    CheckMessage(*message, limits);
  } else {
    FUZZ_CHECK(message.error().code == ErrorCode::kInvalidJson ||
               IsMessageError(message.error().code));
  }

  const auto batch = api::ParseSubmitBatch(text, limits, api::kMaxBatchMessages);
  if (!batch) {
    FUZZ_CHECK(batch.error().code == ErrorCode::kInvalidJson ||
               batch.error().code == ErrorCode::kInvalidRequest);
    return;
  }
  FUZZ_CHECK(!batch->empty() && batch->size() <= api::kMaxBatchMessages);
  for (const auto& item : *batch) {
    if (item) {
      CheckMessage(*item, limits);
    } else {
      FUZZ_CHECK(item.error().code == ErrorCode::kInvalidRequest ||
                 IsMessageError(item.error().code));
    }
  }
}

void FuzzDeliveryRequest(std::string_view text) {
  const auto items = api::DecodeDeliveryRequest(text);
  if (!items) {
    FUZZ_CHECK(items.error().code == ErrorCode::kInvalidJson ||
               items.error().code == ErrorCode::kInvalidRequest);
    return;
  }
  FUZZ_CHECK(items->size() <= api::kMaxDeliveryBatch);
  // The counts decoded are the counts sent.
  const auto sent = nlohmann::json::parse(text)["deliveries"];
  for (std::size_t i = 0; i < items->size(); ++i) {
    FUZZ_CHECK(sent[i]["attempts"].get<std::uint64_t>() == (*items)[i].attempts);
  }
  const auto again = api::DecodeDeliveryRequest(api::EncodeDeliveryRequest(*items));
  FUZZ_CHECK(again.has_value() && again->size() == items->size());
  for (std::size_t i = 0; i < items->size(); ++i) {
    const auto& a = (*items)[i];
    const auto& b = (*again)[i];
    FUZZ_CHECK(a.message_id == b.message_id && a.attempts == b.attempts && a.payload == b.payload &&
               a.failure == b.failure);
  }
}

void FuzzDeliveryResponse(std::string_view text) {
  const auto results = api::DecodeDeliveryResponse(text);
  if (!results) {
    FUZZ_CHECK(results.error().code == ErrorCode::kUpstreamError);
    return;
  }
  const auto again = api::DecodeDeliveryResponse(api::EncodeDeliveryResponse(*results));
  FUZZ_CHECK(again.has_value() && again->size() == results->size());
  for (std::size_t i = 0; i < results->size(); ++i) {
    const auto& a = (*results)[i];
    const auto& b = (*again)[i];
    FUZZ_CHECK(a.message_id == b.message_id && a.outcome == b.outcome);
    FUZZ_CHECK(a.error.has_value() == (a.outcome == api::DeliveryOutcome::kRejected));
    FUZZ_CHECK(a.error.has_value() == b.error.has_value());
    if (a.error) FUZZ_CHECK(a.error->code == b.error->code && a.error->message == b.error->message);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  FuzzSubmit(text);
  FuzzDeliveryRequest(text);
  FuzzDeliveryResponse(text);
  return 0;
}
