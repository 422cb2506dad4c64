#pragma once
// One MySQL/MariaDB connection on MariaDB Connector/C, behind the generic SqlConnection. Used by
// one thread at a time (the pool hands it out). Statements with parameters run as server-side
// prepared statements, prepared at their first use and kept per connection; values travel in
// the binary protocol (blobs byte for byte, NULs included), never spliced into SQL text.
// A connection that lost its server (gone away, lost, killed, timed out) reports Broken() and
// is replaced by the pool; it never reconnects by itself (MYSQL_OPT_RECONNECT off), so a
// transaction can never silently continue on a new session.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "sql_connection.hpp"

struct st_mysql;
struct st_mysql_stmt;

namespace msgbroker::storage::sql {

struct MysqlConnectOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3306;
  std::string user;
  std::string password;
  std::string database;
  std::chrono::milliseconds connect_timeout{5'000};  // rounded up to whole seconds
  // Each read and write on the socket: a server that stops answering (a half-open connection)
  // fails the call instead of hanging it. Above InnoDB's lock wait (50 s), so a lock wait ends
  // as a server error first; a migration statement must finish within it.
  std::chrono::milliseconds io_timeout{60'000};
  // TLS: require it (the handshake fails without), and optionally verify the server's
  // certificate against `tls_ca` and its name against `host`.
  bool tls_required = false;
  bool tls_verify_server = false;
  std::string tls_ca;  // a PEM file; empty: the system's trust store
};

class MysqlConnection final : public SqlConnection {
 public:
  // Connects, selects utf8mb4, sets strict SQL mode, READ COMMITTED and UTC for the session.
  // Errors are kDatabaseUnavailable naming host:port (never the password).
  static Result<std::unique_ptr<MysqlConnection>> Connect(const MysqlConnectOptions& options);
  ~MysqlConnection() override;
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;

  Result<std::uint64_t> Execute(std::string_view sql,
                                std::span<const SqlValue> params = {}) override;
  Result<SqlRows> Query(std::string_view sql, std::span<const SqlValue> params = {}) override;
  Status ExecuteScript(std::string_view sql) override;

  Status Begin() override;
  Status BeginReadSnapshot() override;
  Status Commit() override;
  Status Rollback() override;

  Result<std::vector<bool>> InsertMessagesIgnoringDuplicates(
      std::span<const StoredMessage> rows) override;

  Result<bool> TableExists(std::string_view table) override;
  Status AcquireMigrationLock() override;
  Status ReleaseMigrationLock() override;

  SqlErrorKind LastErrorKind() const noexcept override { return last_error_kind_; }
  bool Broken() const noexcept override { return broken_; }

  // Prepared statements kept by this connection (for tests).
  std::size_t cached_statements() const noexcept { return statements_.size(); }
  // The server's version string, e.g. "10.11.6-MariaDB-0+deb12u1".
  std::string server_version() const;

 private:
  struct StatementCloser {
    void operator()(st_mysql_stmt* stmt) const noexcept;
  };
  using StatementPtr = std::unique_ptr<st_mysql_stmt, StatementCloser>;

  MysqlConnection(st_mysql* mysql, std::string endpoint) noexcept
      : mysql_(mysql), endpoint_(std::move(endpoint)) {}

  // The cached statement for `sql`, prepared now if new.
  Result<st_mysql_stmt*> Prepare(std::string_view sql);
  // Binds `params` and executes; the statement's result (if any) is left to the caller.
  Status Run(st_mysql_stmt* stmt, std::span<const SqlValue> params);
  Result<SqlRows> FetchAll(st_mysql_stmt* stmt);
  // A text-protocol statement (or several, `;`-separated) whose results are discarded.
  Status RunText(std::string_view sql);

  // Records the failure of the last call on the connection or on `stmt` and returns it.
  Error Failed(std::string_view what);
  Error FailedStatement(std::string_view what, st_mysql_stmt* stmt);
  Error Classify(std::string_view what, unsigned code, std::string_view message);
  void Succeeded() noexcept { last_error_kind_ = SqlErrorKind::kNone; }

  st_mysql* mysql_;
  std::string endpoint_;  // "host:port", for messages
  std::map<std::string, StatementPtr, std::less<>> statements_;
  SqlErrorKind last_error_kind_ = SqlErrorKind::kNone;
  bool broken_ = false;
};

}  // namespace msgbroker::storage::sql
