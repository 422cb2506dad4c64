#pragma once
// PostgreSQL backend (libpq): OpenDatabase calls this for postgresql:// and postgres:// URLs.

#include <memory>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/storage/database.hpp"
#include "sql_connection.hpp"

namespace msgbroker::storage::sql {

// The PostgreSQL dialect: its migration scripts (schema version 1 as in docs/adr/0002).
const SqlDialect& PostgresDialect();

// Connects (libpq, connect_timeout from the options), migrates, and serves the generic stores on
// a pool of `options.pool_size` connections. Query parameters of the URL are passed to libpq as
// connection keywords (sslmode, options, application_name, ...).
Result<std::shared_ptr<Database>> OpenPostgresDatabase(const DatabaseUrl& url,
                                                       const DatabaseOptions& options,
                                                       const Clock& clock);

}  // namespace msgbroker::storage::sql
