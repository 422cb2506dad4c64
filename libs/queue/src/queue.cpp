#include "msgbroker/queue/queue.hpp"

#include <string>

namespace msgbroker::queue {

Status ValidateNewMessages(std::span<const NewMessage> messages, std::size_t max_payload_bytes) {
  for (const auto& m : messages) {
    if (m.id.empty()) return Fail(ErrorCode::kInvalidRequest, "message id is empty", "id");
    if (m.payload.size() > max_payload_bytes) {
      return Fail(ErrorCode::kPayloadTooLarge,
                  "queue payload of " + std::to_string(m.payload.size()) + " bytes exceeds " +
                      std::to_string(max_payload_bytes));
    }
  }
  return Ok();
}

Error QueueClosedError() { return Error{ErrorCode::kQueueUnavailable, "queue is closed"}; }

}  // namespace msgbroker::queue
