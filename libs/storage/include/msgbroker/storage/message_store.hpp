#pragma once
// Where delivered messages live. Implementations: SqliteMessageStore now; PostgreSQL and
// MySQL/MariaDB next. All calls block: run them on a blocking pool, never on an I/O thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::storage {

enum class MessageStatus { kQueued, kDelivered, kFailed };
std::string_view StatusName(MessageStatus s) noexcept;  // "queued", "delivered", "failed"
std::optional<MessageStatus> ParseStatus(std::string_view name) noexcept;

struct StoredMessage {
  MessageId id;
  ClientId client_id;
  MessageStatus status = MessageStatus::kQueued;
  std::string sender_hmac;    // hex HMAC-SHA256 of the E.164 number
  std::string sender_masked;  // "+4915****5678"
  std::string key_id;         // key-ring key that encrypted `content`
  std::string nonce;          // 12 bytes
  std::string content;        // AES-256-GCM(JSON {"message_body","metadata"}), AD = message id
  std::uint32_t attempts = 0;
  std::string last_error;
  SystemTime queued_at{};
  std::optional<SystemTime> delivered_at;
  std::optional<SystemTime> failed_at;
  SystemTime stored_at{};  // when the main server wrote the row
};

struct MessageQuery {
  std::optional<MessageStatus> status;
  std::optional<ClientId> client_id;
  std::optional<SystemTime> from;  // queued_at >= from
  std::optional<SystemTime> to;    // queued_at <  to
  std::optional<std::string> sender_hmac;
  std::size_t page = 1;        // 1-based
  std::size_t page_size = 50;  // 1..500
};

struct MessagePage {
  std::vector<StoredMessage> items;  // newest first (queued_at desc, id desc)
  std::uint64_t total = 0;           // rows matching the filter
  std::size_t page = 1;
  std::size_t page_size = 50;
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;

  // Inserts the rows in one transaction. Idempotent by id: a row whose id exists is left as it
  // is. Returns, per input row, whether it was newly inserted. All or nothing on error.
  virtual Result<std::vector<bool>> InsertBatch(std::span<const StoredMessage> messages) = 0;
  virtual Result<std::optional<StoredMessage>> Get(const MessageId& id) = 0;
  virtual Result<MessagePage> List(const MessageQuery& query) = 0;
  // Cheap liveness probe for /health.
  virtual Status Ping() = 0;
};

}  // namespace msgbroker::storage
