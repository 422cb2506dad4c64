#pragma once
// Worker -> main server: POST /internal/v1/deliveries, one request per batch.
//
// Request:  {"deliveries":[{"message_id","attempts","payload":"<queue payload, as text>",
//                           "failure":"<reason>"?}]}
//   An item with "failure" reports a message the worker is dead-lettering: the main server
//   records it as failed (with the reason) instead of delivered.
// Response: 200 {"results":[{"message_id","outcome":"stored|duplicate|rejected",
//                            "error":{"code","message"}?}]}  — same order as the request.
//   stored/duplicate: committed (ack it); rejected: permanent, never retry (dead-letter it).
//   Any non-200 answer means nothing was committed: retry the whole batch later.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::api {

struct DeliveryItem {
  MessageId message_id;
  std::uint32_t attempts = 0;
  std::string payload;
  std::optional<std::string> failure;
};

enum class DeliveryOutcome { kStored, kDuplicate, kRejected };

struct DeliveryResult {
  MessageId message_id;
  DeliveryOutcome outcome = DeliveryOutcome::kStored;
  std::optional<Error> error;  // for kRejected
};

std::string EncodeDeliveryRequest(const std::vector<DeliveryItem>& items);
// INVALID_REQUEST (field names the item) on any defect; at most kMaxDeliveryBatch items.
Result<std::vector<DeliveryItem>> DecodeDeliveryRequest(std::string_view text);

std::string EncodeDeliveryResponse(const std::vector<DeliveryResult>& results);
Result<std::vector<DeliveryResult>> DecodeDeliveryResponse(std::string_view text);

}  // namespace msgbroker::api
