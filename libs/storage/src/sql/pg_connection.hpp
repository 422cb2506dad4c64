#pragma once
// One libpq connection as a SqlConnection. Statements with parameters are prepared once per
// connection (PQprepare, cached by SQL text) and run with binary parameters and binary results:
// BIGINT as 8 bytes, BYTEA as raw bytes, TEXT as its bytes. Errors carry the server's primary
// message only (never DETAIL, which can quote row values).

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

#include "msgbroker/storage/database.hpp"
#include "sql_connection.hpp"

namespace msgbroker::storage::sql {

class PgConnection final : public SqlConnection {
 public:
  // Connects to the database named by `url` (scheme postgresql).
  static Result<std::unique_ptr<SqlConnection>> Open(const DatabaseUrl& url,
                                                     std::chrono::milliseconds connect_timeout);
  ~PgConnection() override;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  Result<std::uint64_t> Execute(std::string_view sql, std::span<const SqlValue> params) override;
  Result<SqlRows> Query(std::string_view sql, std::span<const SqlValue> params) override;
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
  SqlErrorKind LastErrorKind() const noexcept override { return last_error_; }
  bool Broken() const noexcept override;

 private:
  struct ResultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
  };
  using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

  PgConnection(PGconn* connection, std::string where)
      : conn_(connection), where_(std::move(where)) {}

  // Runs `sql` (`?` placeholders) with `params`; a prepared statement when `prepare` and the cache
  // has room, else an unnamed statement planned for these values.
  Result<PgResult> Run(std::string_view sql, std::span<const SqlValue> params, bool prepare = true);
  Result<PgResult> RunSimple(const char* sql);  // no parameters, text protocol
  Result<PgResult> Check(PgResult result);
  Error Failure(const PGresult* result);

  PGconn* conn_;
  std::string where_;                                      // host:port, for messages
  std::unordered_map<std::string, std::string> prepared_;  // SQL text → statement name
  std::size_t prepared_inserts_ = 0;                       // multi-row message inserts among them
  SqlErrorKind last_error_ = SqlErrorKind::kNone;
};

}  // namespace msgbroker::storage::sql
