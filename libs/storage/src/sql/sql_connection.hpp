#pragma once
// The dialect-neutral layer the server backends (PostgreSQL, MySQL/MariaDB) share. The generic
// stores (sql_stores.hpp), the migrator (sql_migrator.hpp) and the pool (sql_connection_pool.hpp)
// run on the `SqlConnection` interface below; a backend is a connection class, a `SqlDialect`
// (its migration scripts) and an Open function. PostgreSQL: pg_connection.{hpp,cpp},
// pg_database.cpp.
//
// ---- What a MySQL/MariaDB backend implements (mysql_database.{hpp,cpp}, mysql_*.cpp) ----------
// 1. `class MysqlConnection final : public SqlConnection` on the MariaDB C client:
//    - Execute / Query with `?` placeholders as written by the generic layer (the PostgreSQL
//      adapter rewrites them to $n; MySQL takes them as they are). Values: SqlValue (NULL,
//      BIGINT, text, binary blob). Query cells go into SqlRows as SqlValue; SqlRows::Int64 also
//      parses a text cell, so the text protocol's strings work for integer columns.
//    - Execute returns the affected rows. Open the connection with CLIENT_FOUND_ROWS so an
//      UPDATE that matches a row without changing it still reports 1 (SetClientStatus relies on
//      "0 rows" meaning "no such row").
//    - ExecuteScript: several ;-separated statements without parameters (migrations); e.g.
//      CLIENT_MULTI_STATEMENTS and draining every result.
//    - Begin: "START TRANSACTION"; BeginReadSnapshot: "START TRANSACTION WITH CONSISTENT SNAPSHOT,
//      READ ONLY" (REPEATABLE READ, InnoDB's default); Commit/Rollback.
//    - LastErrorKind after a failed call: 1062 (ER_DUP_ENTRY) → kUniqueViolation, 1452
//      (ER_NO_REFERENCED_ROW_2) → kForeignKeyViolation, 2006/2013 (gone away / lost) →
//      kConnectionLost (and Broken() → true from then on).
//    - InsertMessagesIgnoringDuplicates: inside the caller's transaction, insert the rows into
//      `messages` (columns kMessageColumns, values from MessageParams() in sql_stores.hpp), leaving
//      rows whose id exists, and return per input row whether it was newly inserted (the first of
//      two equal ids in one batch counts as new, the second not). Your choice how: e.g. per-row
//      `INSERT IGNORE` in a pipeline with affected rows, or SELECT the existing ids FOR UPDATE then
//      one multi-row INSERT. Beware: INSERT IGNORE also turns other errors (CHECK, NOT NULL) into
//      warnings; the generic stores never use it.
//    - TableExists(name): in the connection's current database (information_schema.tables WHERE
//      table_schema = DATABASE()).
//    - AcquireMigrationLock / ReleaseMigrationLock: GET_LOCK('msgbroker_migrations', timeout) /
//      RELEASE_LOCK(...); a session lock that serialises starters applying migrations.
//    - Every error: kDatabaseUnavailable with the server's message, never row values nor the
//      password; an unreachable server names host:port.
// 2. A `SqlDialect` with name "mysql" and the migration scripts (schema of docs/adr/0002 with
//    MySQL types: VARCHAR(36)/VARBINARY/BLOB/BIGINT, InnoDB, utf8mb4, CHECK constraints, the same
//    indexes). Note MySQL DDL commits implicitly: the migration lock is what keeps concurrent
//    starters apart, and a crash in the middle of a script is repaired by hand.
// 3. `OpenMysqlDatabase(options, clock)` (mysql_database.hpp): ParseDatabaseUrl, build a
//    SqlConnector that opens one MysqlConnection, then return OpenSqlDatabase(dialect, connector,
//    options, clock) from sql_database.hpp: it builds the pool, runs the migrator and serves the
//    generic stores. The generic tests take a MySQL backend with one INSTANTIATE line
//    (libs/storage/tests/sql_store_test.cpp).
// ---------------------------------------------------------------------------------------------
//
// Every SQL text the generic layer passes uses `?` placeholders, each value bound, never spliced.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "msgbroker/core/result.hpp"
#include "msgbroker/storage/message_store.hpp"

namespace msgbroker::storage::sql {

// Binary data (BYTEA, BLOB): bytes that may hold NULs and need not be text.
struct SqlBlob {
  std::string bytes;
  bool operator==(const SqlBlob&) const = default;
};

// A bound parameter or a result cell.
using SqlValue = std::variant<std::nullptr_t, std::int64_t, std::string, SqlBlob>;

// A query's result, row-major. Getters take (row, column), both 0-based.
class SqlRows {
 public:
  using Row = std::vector<SqlValue>;

  void AddRow(Row row) { rows_.push_back(std::move(row)); }
  void Reserve(std::size_t n) { rows_.reserve(n); }
  std::size_t size() const noexcept { return rows_.size(); }
  bool empty() const noexcept { return rows_.empty(); }
  const SqlValue& At(std::size_t row, std::size_t column) const;  // NULL when out of range

  bool IsNull(std::size_t row, std::size_t column) const;
  // An integer cell, or a text cell holding a decimal integer; nullopt for NULL or anything else.
  std::optional<std::int64_t> Int64(std::size_t row, std::size_t column) const;
  // A text or blob cell's bytes; empty for NULL or an integer.
  std::string_view Text(std::size_t row, std::size_t column) const;
  std::string Blob(std::size_t row, std::size_t column) const {
    return std::string(Text(row, column));
  }

 private:
  std::vector<Row> rows_;
};

// Every row of `rows` read with `read` (Result<T>(const SqlRows&, std::size_t row)).
template <typename T, typename Read>
Result<std::vector<T>> ReadAll(const SqlRows& rows, Read read) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto item = read(rows, i);
    if (!item) return tl::unexpected(std::move(item.error()));
    out.push_back(std::move(*item));
  }
  return out;
}

// What went wrong in the last failed call, for the callers that map it to a product error.
enum class SqlErrorKind {
  kNone,
  kUniqueViolation,      // duplicate primary or unique key
  kForeignKeyViolation,  // a referenced row does not exist
  kConnectionLost,       // the connection is unusable (Broken() is true)
  kOther,
};

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;

  // Runs one statement; returns the number of rows it affected.
  virtual Result<std::uint64_t> Execute(std::string_view sql,
                                        std::span<const SqlValue> params = {}) = 0;
  // Runs one statement that returns rows.
  virtual Result<SqlRows> Query(std::string_view sql, std::span<const SqlValue> params = {}) = 0;
  // Runs a script of statements that bind nothing (migrations).
  virtual Status ExecuteScript(std::string_view sql) = 0;

  virtual Status Begin() = 0;              // a read-write transaction
  virtual Status BeginReadSnapshot() = 0;  // a read-only transaction on one snapshot
  virtual Status Commit() = 0;
  virtual Status Rollback() = 0;

  // Inserts `rows` into messages within the caller's transaction, keeping existing ids as they
  // are; per input row, whether it was newly inserted. See the comment at the top.
  virtual Result<std::vector<bool>> InsertMessagesIgnoringDuplicates(
      std::span<const StoredMessage> rows) = 0;

  virtual Result<bool> TableExists(std::string_view table) = 0;
  // A session-level lock that serialises migrations across processes.
  virtual Status AcquireMigrationLock() = 0;
  virtual Status ReleaseMigrationLock() = 0;

  // The kind of the last failure (kNone after a success).
  virtual SqlErrorKind LastErrorKind() const noexcept = 0;
  // True when the connection can no longer be used; the pool drops it.
  virtual bool Broken() const noexcept = 0;
};

// Opens one connection. Called by the pool, from any thread.
using SqlConnector = std::function<Result<std::unique_ptr<SqlConnection>>()>;

struct SqlMigration {
  int version;           // 1, 2, 3, ... in order, never reused; a released script is never edited
  std::string_view sql;  // statements that bind nothing, run with ExecuteScript
};

// What differs between the server backends beyond the connection itself.
struct SqlDialect {
  std::string_view name;  // "postgresql", "mysql": used in error messages and logs
  std::span<const SqlMigration> migrations;
  // Creates schema_migrations(version, applied_at) if it does not exist.
  std::string_view create_migrations_table;
};

// Rolls back unless committed. Begin/BeginReadSnapshot report their own failure.
class SqlTransaction {
 public:
  explicit SqlTransaction(SqlConnection& connection) : connection_(connection) {}
  SqlTransaction(const SqlTransaction&) = delete;
  SqlTransaction& operator=(const SqlTransaction&) = delete;
  ~SqlTransaction() {
    if (active_) (void)connection_.Rollback();
  }
  Status Begin() { return Started(connection_.Begin()); }
  Status BeginReadSnapshot() { return Started(connection_.BeginReadSnapshot()); }
  Status Commit() {
    active_ = false;
    return connection_.Commit();
  }

 private:
  Status Started(Status begun) {
    active_ = begun.has_value();
    return begun;
  }
  SqlConnection& connection_;
  bool active_ = false;
};

// Rewrites `?` placeholders to $1, $2, ... (PostgreSQL), leaving quoted text and identifiers
// alone.
std::string NumberPlaceholders(std::string_view sql);

}  // namespace msgbroker::storage::sql
