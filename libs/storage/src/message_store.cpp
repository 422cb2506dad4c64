#include "msgbroker/storage/message_store.hpp"

namespace msgbroker::storage {

std::string_view StatusName(MessageStatus s) noexcept {
  switch (s) {
    case MessageStatus::kQueued:
      return "queued";
    case MessageStatus::kDelivered:
      return "delivered";
    case MessageStatus::kFailed:
      return "failed";
  }
  return "unknown";  // not an enumerator; the CHECK constraint refuses it
}

std::optional<MessageStatus> ParseStatus(std::string_view name) noexcept {
  for (auto s : {MessageStatus::kQueued, MessageStatus::kDelivered, MessageStatus::kFailed}) {
    if (StatusName(s) == name) return s;
  }
  return std::nullopt;
}

}  // namespace msgbroker::storage
