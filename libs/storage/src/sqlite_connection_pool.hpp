#pragma once
// The connections of one database file: a single writer behind a mutex (SQLite allows one writer
// at a time anyway, and a mutex queues them without busy-waiting) and a few readers handed out
// one caller at a time. With WAL, readers see the last commit and never block the writer.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "sqlite_connection.hpp"

namespace msgbroker::storage::sqlite {

class ConnectionPool {
 public:
  // `readers` must not be empty.
  ConnectionPool(std::unique_ptr<Connection> writer,
                 std::vector<std::unique_ptr<Connection>> readers);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Runs f(Connection&) on the writer, holding it for the whole call.
  template <typename F>
  auto WithWriter(F&& f) {
    std::lock_guard lock(writer_mutex_);
    return std::forward<F>(f)(*writer_);
  }

  // Runs f(Connection&) on an idle reader, waiting for one if all are busy.
  template <typename F>
  auto WithReader(F&& f) {
    Lease lease(*this);
    return std::forward<F>(f)(lease.connection());
  }

 private:
  class Lease {
   public:
    explicit Lease(ConnectionPool& pool) : pool_(pool), connection_(pool.AcquireReader()) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_.ReleaseReader(connection_); }
    Connection& connection() const noexcept { return connection_; }

   private:
    ConnectionPool& pool_;
    Connection& connection_;
  };

  Connection& AcquireReader();
  void ReleaseReader(Connection& connection);

  // Declared first so it is closed last: the last connection to close checkpoints the WAL.
  std::unique_ptr<Connection> writer_;
  std::mutex writer_mutex_;
  std::vector<std::unique_ptr<Connection>> readers_;
  std::mutex readers_mutex_;
  std::condition_variable reader_released_;
  std::vector<Connection*> idle_readers_;
};

}  // namespace msgbroker::storage::sqlite
