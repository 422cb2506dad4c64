#pragma once
// The schema as an ordered list of migrations compiled into the program. Version N is applied in
// its own transaction together with its row in schema_migrations, so a crash leaves the database
// at N-1 or N, never in between.

#include <span>
#include <string_view>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"
#include "sqlite_connection.hpp"

namespace msgbroker::storage::sqlite {

struct Migration {
  int version;           // 1, 2, 3, ... in order, never reused
  std::string_view sql;  // one or more statements that bind nothing
};

std::span<const Migration> Migrations() noexcept;
int LatestMigrationVersion() noexcept;

// The highest applied version; 0 for a database without schema_migrations (a new file).
Result<int> ReadSchemaVersion(Connection& connection);

// Applies every migration above the current version and returns the version reached.
Result<int> ApplyMigrations(Connection& connection, const Clock& clock);

}  // namespace msgbroker::storage::sqlite
