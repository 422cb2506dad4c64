#pragma once
// MySQL/MariaDB backend entry point, called by OpenDatabase for mysql:// and mariadb:// URLs.
// See the comment at the top of sql_connection.hpp for what the backend implements, and
// docs/adr/0008-sql-backends.md for its decisions.

#include <memory>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/storage/database.hpp"
#include "mysql_connection.hpp"
#include "sql_connection.hpp"

namespace msgbroker::storage::sql {

Result<std::shared_ptr<Database>> OpenMysqlDatabase(const DatabaseOptions& options,
                                                    const Clock& clock);

// The migration scripts and migrations table of MySQL/MariaDB.
const SqlDialect& MysqlDialect();

// Connection settings from a parsed mysql:// URL: host (default 127.0.0.1), port (3306), user,
// password, database (required) and the parameters ssl-mode and ssl-ca; kInvalidRequest (field
// "url") for anything else.
Result<MysqlConnectOptions> MysqlConnectOptionsFromUrl(const DatabaseUrl& url,
                                                       const DatabaseOptions& options);

}  // namespace msgbroker::storage::sql
