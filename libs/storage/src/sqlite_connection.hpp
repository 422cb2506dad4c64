#pragma once
// RAII over SQLite's C API: a connection that keeps its prepared statements, a handle to one of
// them that resets it when done, and a transaction that rolls back unless committed. A connection
// is used by one thread at a time (ConnectionPool hands it out).

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/result.hpp"

namespace msgbroker::storage::sqlite {

struct ConnectionOptions {
  // The writer may create the file; readers are opened query_only.
  bool writer = false;
  std::chrono::milliseconds busy_timeout{5'000};
};

class Connection;

// One cached prepared statement in use. Bind errors surface at Step. The destructor resets the
// statement so the next user starts clean.
class Statement {
 public:
  Statement(Connection& connection, sqlite3_stmt* stmt) noexcept
      : connection_(&connection), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Parameter indexes are 1-based, as in SQLite. Text and blobs must outlive the Step calls.
  void Bind(int index, std::int64_t value) noexcept;
  void BindText(int index, std::string_view value) noexcept;
  void BindBlob(int index, std::string_view value) noexcept;
  void BindNull(int index) noexcept;

  // Advances: true when a row is available, false when the statement is done.
  Result<bool> Step();
  // Steps once, for a statement whose rows (if any) are not wanted.
  Status Run();
  // Makes the statement ready to be bound and run again.
  void Reset() noexcept;
  // SQLite's extended result code of the last Step (e.g. SQLITE_CONSTRAINT_FOREIGNKEY).
  int last_result() const noexcept { return last_result_; }

  // Column indexes are 0-based, as in SQLite.
  bool IsNull(int column) const noexcept;
  std::int64_t Int64(int column) const noexcept;
  std::string Text(int column) const;
  std::string Blob(int column) const;

 private:
  Connection* connection_;
  sqlite3_stmt* stmt_;
  int bind_result_ = SQLITE_OK;
  int last_result_ = SQLITE_OK;
};

// Steps `stmt` to the end, reading each row with `read` (Result<T>(const Statement&)).
template <typename T, typename Read>
Result<std::vector<T>> ReadAll(Statement& stmt, Read read) {
  std::vector<T> out;
  for (;;) {
    auto row = stmt.Step();
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row) return out;
    auto item = read(stmt);
    if (!item) return tl::unexpected(std::move(item.error()));
    out.push_back(std::move(*item));
  }
}

class Connection {
 public:
  // Errors name the file: kDatabaseUnavailable, or kDataCorrupted when it is not a database.
  static Result<std::unique_ptr<Connection>> Open(const std::filesystem::path& path,
                                                  const ConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The statement for `sql`, prepared at its first use on this connection and kept.
  Result<Statement> Prepare(std::string_view sql);
  // Runs statements that bind nothing: pragmas, migration scripts.
  Status Execute(const char* sql);
  // Rows changed by the last INSERT, UPDATE or DELETE.
  std::int64_t changes() const noexcept;
  bool in_transaction() const noexcept;
  // The last failure as an Error: the file name and SQLite's message (which names tables and
  // columns, never values).
  Error LastError() const;

 private:
  struct StatementDeleter {
    void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
  };
  Connection(sqlite3* db, std::string path) noexcept : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  std::map<std::string, std::unique_ptr<sqlite3_stmt, StatementDeleter>, std::less<>> statements_;
};

enum class TransactionKind {
  kRead,   // BEGIN: one consistent snapshot for several SELECTs
  kWrite,  // BEGIN IMMEDIATE: takes the write lock up front (waiting up to busy_timeout)
};

// Rolls back in the destructor unless Commit succeeded.
class Transaction {
 public:
  explicit Transaction(Connection& connection) noexcept : connection_(connection) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status Begin(TransactionKind kind);
  Status Commit();

 private:
  Connection& connection_;
  bool open_ = false;
};

}  // namespace msgbroker::storage::sqlite
