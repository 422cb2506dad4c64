#pragma once
// One database behind both stores, whatever the backend: SQLite (a file), PostgreSQL or
// MySQL/MariaDB (a server). `OpenDatabase` picks the backend from the URL's scheme; the
// composition root holds a `Database` and hands its stores to the services.
//
//   sqlite:///var/lib/msgbroker/broker.db   absolute path (three slashes)
//   sqlite:broker.db                        relative path
//   postgresql://user:pass@host:5432/db?sslmode=require   (also postgres://)
//   mysql://user:pass@host:3306/db                          (also mariadb://)
//
// User, password, database and query parameters are percent-decoded. Error messages name the
// backend, host and port, never the password.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/storage/api_key_store.hpp"
#include "msgbroker/storage/certificate_store.hpp"
#include "msgbroker/storage/client_registry.hpp"
#include "msgbroker/storage/message_store.hpp"

namespace msgbroker::storage {

class Database {
 public:
  virtual ~Database() = default;
  // Stores sharing this database's connections; they keep them alive after the Database is gone.
  virtual std::shared_ptr<MessageStore> messages() = 0;
  virtual std::shared_ptr<ClientRegistry> clients() = 0;
  // API keys (schema version 4; docs/adr/0012).
  virtual std::shared_ptr<ApiKeyStore> api_keys() = 0;
  // Certificate lifecycle (revocation, listing) on the same tables; schema version 2.
  virtual std::shared_ptr<CertificateStore> certificates() = 0;
  // The schema version reached at open.
  virtual int schema_version() const = 0;
  // Cheap liveness probe (through the message store).
  Status Ping() { return messages()->Ping(); }
};

struct DatabaseOptions {
  std::string url;
  // Server backends: at most this many connections. SQLite: reader connections (0 means 1).
  std::size_t pool_size = 8;
  // Server backends: connecting (rounded up to whole seconds, at least 2, for libpq).
  // SQLite: busy timeout.
  std::chrono::milliseconds connect_timeout{5'000};
  // How long a call waits for a free connection before kDatabaseUnavailable.
  std::chrono::milliseconds pool_wait{2'000};
  bool migrate = true;  // apply pending migrations at open
};

// Opens the database named by `options.url` and migrates it. Errors: kInvalidRequest for a URL
// that does not parse or names an unknown scheme; kDatabaseUnavailable when the database cannot
// be reached or used; kDataCorrupted when its schema is newer than this program knows.
Result<std::shared_ptr<Database>> OpenDatabase(const DatabaseOptions& options, const Clock& clock);

struct DatabaseUrl {
  std::string scheme;      // normalised: "sqlite", "postgresql" or "mysql"
  std::string user;        // decoded; empty when absent
  std::string password;    // decoded; empty when absent
  std::string host;        // empty when absent; an IPv6 literal without its brackets
  std::uint16_t port = 0;  // 0 when absent (the backend's default)
  std::string database;    // decoded; for sqlite, the file path
  std::map<std::string, std::string> params;  // decoded query parameters
};

// Parses a database URL (see above). Errors are kInvalidRequest with field "url" and never repeat
// the password.
Result<DatabaseUrl> ParseDatabaseUrl(std::string_view url);

// "postgresql://user@host:5432/db": the URL without password or parameters, for logs and errors.
std::string DescribeDatabaseUrl(const DatabaseUrl& url);

}  // namespace msgbroker::storage
