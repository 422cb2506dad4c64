#pragma once

#include <memory>

#include "msgbroker/storage/message_store.hpp"
#include "sqlite_connection_pool.hpp"

namespace msgbroker::storage::sqlite {

// MessageStore on the `messages` table: writes on the writer, reads on the reader pool.
class SqliteMessageStore final : public MessageStore {
 public:
  explicit SqliteMessageStore(std::shared_ptr<ConnectionPool> pool) noexcept
      : pool_(std::move(pool)) {}

  Result<std::vector<bool>> InsertBatch(std::span<const StoredMessage> messages) override;
  Result<std::optional<StoredMessage>> Get(const MessageId& id) override;
  Result<MessagePage> List(const MessageQuery& query) override;
  Status Ping() override;

 private:
  std::shared_ptr<ConnectionPool> pool_;
};

}  // namespace msgbroker::storage::sqlite
