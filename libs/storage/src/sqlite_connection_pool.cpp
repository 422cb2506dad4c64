#include "sqlite_connection_pool.hpp"

namespace msgbroker::storage::sqlite {

ConnectionPool::ConnectionPool(std::unique_ptr<Connection> writer,
                               std::vector<std::unique_ptr<Connection>> readers)
    : writer_(std::move(writer)), readers_(std::move(readers)) {
  idle_readers_.reserve(readers_.size());
  for (const auto& reader : readers_) idle_readers_.push_back(reader.get());
}

Connection& ConnectionPool::AcquireReader() {
  std::unique_lock lock(readers_mutex_);
  reader_released_.wait(lock, [this] { return !idle_readers_.empty(); });
  Connection* reader = idle_readers_.back();
  idle_readers_.pop_back();
  return *reader;
}

void ConnectionPool::ReleaseReader(Connection& connection) {
  {
    std::lock_guard lock(readers_mutex_);
    idle_readers_.push_back(&connection);
  }
  reader_released_.notify_one();
}

}  // namespace msgbroker::storage::sqlite
