#pragma once
// A bounded pool of server connections. Connections are opened on demand up to `size`; a caller
// that finds them all busy waits up to `wait` and then gets kDatabaseUnavailable ("timed out
// waiting for a database connection"). A connection that reports Broken() when handed back is
// closed and its slot freed, so the next caller opens a fresh one.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "sql_connection.hpp"

namespace msgbroker::storage::sql {

class SqlConnectionPool {
 public:
  // `size` 0 is treated as 1.
  SqlConnectionPool(SqlConnector connector, std::size_t size, std::chrono::milliseconds wait);
  SqlConnectionPool(const SqlConnectionPool&) = delete;
  SqlConnectionPool& operator=(const SqlConnectionPool&) = delete;

  // Hands a connection back to the pool when destroyed.
  class Lease {
   public:
    Lease(SqlConnectionPool& pool, std::unique_ptr<SqlConnection> connection)
        : pool_(&pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), connection_(std::move(other.connection_)) {}
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (connection_) pool_->Release(std::move(connection_));
    }
    SqlConnection& operator*() const noexcept { return *connection_; }
    SqlConnection* operator->() const noexcept { return connection_.get(); }

   private:
    SqlConnectionPool* pool_;
    std::unique_ptr<SqlConnection> connection_;
  };

  Result<Lease> Acquire();

  // Runs f(SqlConnection&) on a pooled connection; f returns a Result or Status.
  template <typename F>
  auto With(F&& f) -> decltype(std::forward<F>(f)(std::declval<SqlConnection&>())) {
    auto lease = Acquire();
    if (!lease) return tl::unexpected(std::move(lease.error()));
    return std::forward<F>(f)(**lease);
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t open_connections() const;  // open now, idle or leased

 private:
  void Release(std::unique_ptr<SqlConnection> connection);

  SqlConnector connector_;
  const std::size_t size_;
  const std::chrono::milliseconds wait_;
  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<SqlConnection>> idle_;
  std::size_t open_ = 0;  // idle + leased + being opened
};

}  // namespace msgbroker::storage::sql
