#pragma once
// SQLite: one database file, WAL mode, versioned migrations, a writer connection and a small
// pool of reader connections. Both stores share one SqliteDatabase.

#include <filesystem>
#include <memory>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/storage/client_registry.hpp"
#include "msgbroker/storage/database.hpp"
#include "msgbroker/storage/message_store.hpp"

namespace msgbroker::storage {

struct SqliteOptions {
  std::filesystem::path path;  // ":memory:" is not supported (readers need the file)
  std::size_t reader_connections = 4;
  std::chrono::milliseconds busy_timeout{5'000};
  bool migrate = true;  // apply pending migrations at open
};

class SqliteDatabase : public Database {
 public:
  // Opens (creating if needed) and migrates. Errors: kDatabaseUnavailable naming the file;
  // kDataCorrupted when the schema version is newer than this program knows.
  static Result<std::shared_ptr<SqliteDatabase>> Open(const SqliteOptions& options,
                                                      const Clock& clock);
  ~SqliteDatabase() override;

  int schema_version() const override;
  static int LatestSchemaVersion();

  std::shared_ptr<MessageStore> messages() override;
  std::shared_ptr<ClientRegistry> clients() override;
  std::shared_ptr<ApiKeyStore> api_keys() override;
  std::shared_ptr<CertificateStore> certificates() override;

 private:
  struct Impl;
  explicit SqliteDatabase(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace msgbroker::storage
