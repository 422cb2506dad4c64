#pragma once
// Versioned migrations for the server backends, with the rules of the SQLite migrations
// (docs/adr/0002): schema_migrations(version, applied_at) records what was applied; a schema
// newer than the program is refused (kDataCorrupted) without writing; pending migrations with
// `migrate = false` are kDatabaseUnavailable; each migration runs in its own transaction with its
// schema_migrations row. Starters that migrate take the dialect's migration lock (PostgreSQL
// pg_advisory_lock, MySQL GET_LOCK) and re-read the version under it, so each migration is applied
// once however many processes open the database at the same time.

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"
#include "sql_connection.hpp"

namespace msgbroker::storage::sql {

class SqlMigrator {
 public:
  SqlMigrator(const SqlDialect& dialect, const Clock& clock) : dialect_(dialect), clock_(clock) {}

  int LatestVersion() const noexcept;
  // The highest applied version; 0 when schema_migrations does not exist.
  Result<int> CurrentVersion(SqlConnection& connection) const;
  // Checks the version and applies what is pending (when `migrate`); returns the version reached.
  // `where` names the database in messages ("postgresql://app@db:5432/broker").
  Result<int> Run(SqlConnection& connection, bool migrate, std::string_view where) const;

 private:
  Status Apply(SqlConnection& connection, const SqlMigration& migration) const;

  const SqlDialect& dialect_;
  const Clock& clock_;
};

}  // namespace msgbroker::storage::sql
