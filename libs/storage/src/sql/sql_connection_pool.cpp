#include "sql_connection_pool.hpp"

#include <algorithm>

namespace msgbroker::storage::sql {

SqlConnectionPool::SqlConnectionPool(SqlConnector connector, std::size_t size,
                                     std::chrono::milliseconds wait)
    : connector_(std::move(connector)), size_(std::max<std::size_t>(size, 1)), wait_(wait) {}

Result<SqlConnectionPool::Lease> SqlConnectionPool::Acquire() {
  {
    std::unique_lock lock(mutex_);
    const bool available =
        released_.wait_for(lock, wait_, [this] { return !idle_.empty() || open_ < size_; });
    if (!available) {
      return Fail(
          ErrorCode::kDatabaseUnavailable,
          "timed out waiting for a database connection (all " + std::to_string(size_) + " in use)");
    }
    if (!idle_.empty()) {
      std::unique_ptr<SqlConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(connection));
    }
    ++open_;  // reserve the slot, then connect without holding the lock
  }
  auto connection = connector_();
  if (!connection) {
    {
      std::lock_guard lock(mutex_);
      --open_;
    }
    released_.notify_one();
    return tl::unexpected(std::move(connection.error()));
  }
  return Lease(*this, std::move(*connection));
}

void SqlConnectionPool::Release(std::unique_ptr<SqlConnection> connection) {
  {
    std::lock_guard lock(mutex_);
    if (connection->Broken()) {
      --open_;
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  released_.notify_one();
  // A broken connection is closed here, outside the lock.
}

std::size_t SqlConnectionPool::open_connections() const {
  std::lock_guard lock(mutex_);
  return open_;
}

}  // namespace msgbroker::storage::sql
