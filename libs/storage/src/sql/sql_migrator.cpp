#include "sql_migrator.hpp"

#include <string>

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::storage::sql {

int SqlMigrator::LatestVersion() const noexcept {
  return dialect_.migrations.empty() ? 0 : dialect_.migrations.back().version;
}

Result<int> SqlMigrator::CurrentVersion(SqlConnection& connection) const {
  auto exists = connection.TableExists("schema_migrations");
  if (!exists) return tl::unexpected(std::move(exists.error()));
  if (!*exists) return 0;
  auto rows = connection.Query("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!rows) return tl::unexpected(std::move(rows.error()));
  const auto version = rows->Int64(0, 0);
  if (!version) return Fail(ErrorCode::kDataCorrupted, "schema_migrations holds no valid version");
  return static_cast<int>(*version);
}

Status SqlMigrator::Apply(SqlConnection& connection, const SqlMigration& migration) const {
  SqlTransaction transaction(connection);
  if (auto begun = transaction.Begin(); !begun) return begun;
  if (auto applied = connection.ExecuteScript(migration.sql); !applied) {
    Error error = std::move(applied.error());
    error.message = "migration " + std::to_string(migration.version) + " failed: " + error.message;
    return tl::unexpected(std::move(error));
  }
  const SqlValue params[] = {SqlValue(static_cast<std::int64_t>(migration.version)),
                             SqlValue(ToUnixMillis(clock_.Now()))};
  auto recorded = connection.Execute(
      "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", params);
  if (!recorded) return tl::unexpected(std::move(recorded.error()));
  return transaction.Commit();
}

Result<int> SqlMigrator::Run(SqlConnection& connection, bool migrate,
                             std::string_view where) const {
  const int latest = LatestVersion();
  auto check = [&](int version) -> Status {
    if (version > latest) {
      return Fail(ErrorCode::kDataCorrupted,
                  std::string(where) + ": database schema version " + std::to_string(version) +
                      " is newer than this program supports (" + std::to_string(latest) + ")");
    }
    if (version < latest && !migrate) {
      return Fail(ErrorCode::kDatabaseUnavailable,
                  std::string(where) + ": database schema version " + std::to_string(version) +
                      " needs migrations up to " + std::to_string(latest) +
                      ", and migrations are disabled");
    }
    return Ok();
  };
  auto version = CurrentVersion(connection);
  if (!version) return version;
  if (auto checked = check(*version); !checked) return tl::unexpected(std::move(checked.error()));
  if (*version == latest) return version;

  if (auto locked = connection.AcquireMigrationLock(); !locked) {
    return tl::unexpected(std::move(locked.error()));
  }
  auto migrated = [&]() -> Result<int> {
    // Another starter may have migrated while we waited for the lock.
    if (auto created = connection.ExecuteScript(dialect_.create_migrations_table); !created) {
      return tl::unexpected(std::move(created.error()));
    }
    auto current = CurrentVersion(connection);
    if (!current) return current;
    if (auto checked = check(*current); !checked) {
      return tl::unexpected(std::move(checked.error()));
    }
    for (const SqlMigration& migration : dialect_.migrations) {
      if (migration.version <= *current) continue;
      if (auto applied = Apply(connection, migration); !applied) {
        return tl::unexpected(std::move(applied.error()));
      }
    }
    return CurrentVersion(connection);
  }();
  auto unlocked = connection.ReleaseMigrationLock();
  if (!migrated) return migrated;
  if (!unlocked) return tl::unexpected(std::move(unlocked.error()));
  return migrated;
}

}  // namespace msgbroker::storage::sql
