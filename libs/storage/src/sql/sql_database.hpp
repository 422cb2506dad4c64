#pragma once
// The Database of a server backend: a connection pool, migrations at open, the generic stores.

#include <memory>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/storage/database.hpp"
#include "sql_connection.hpp"

namespace msgbroker::storage::sql {

// Opens one connection through `connector` to check and migrate the schema (SqlMigrator), keeps
// it in a pool of `options.pool_size` connections (`options.pool_wait`) and returns a Database
// serving SqlMessageStore and SqlClientRegistry on that pool. `dialect` must outlive the result
// (a static). `where` names the database in errors and logs, without the password.
Result<std::shared_ptr<Database>> OpenSqlDatabase(const SqlDialect& dialect, SqlConnector connector,
                                                  const DatabaseOptions& options,
                                                  const Clock& clock, std::string where);

}  // namespace msgbroker::storage::sql
