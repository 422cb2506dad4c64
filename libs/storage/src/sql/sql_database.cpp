#include "sql_database.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "certificate_store_impl.hpp"
#include "sql_api_key_store.hpp"
#include "sql_connection_pool.hpp"
#include "sql_migrator.hpp"
#include "sql_stores.hpp"

namespace msgbroker::storage::sql {
namespace {

class SqlDatabase final : public Database {
 public:
  SqlDatabase(std::shared_ptr<SqlConnectionPool> pool, int schema_version)
      : pool_(std::move(pool)), schema_version_(schema_version) {}

  std::shared_ptr<MessageStore> messages() override {
    return std::make_shared<SqlMessageStore>(pool_);
  }
  std::shared_ptr<ClientRegistry> clients() override {
    return std::make_shared<SqlClientRegistry>(pool_);
  }
  std::shared_ptr<ApiKeyStore> api_keys() override {
    return std::make_shared<SqlApiKeyStore>(pool_);
  }
  std::shared_ptr<CertificateStore> certificates() override {
    return MakeSqlCertificateStore(pool_);
  }
  int schema_version() const override { return schema_version_; }

 private:
  std::shared_ptr<SqlConnectionPool> pool_;
  int schema_version_;
};

}  // namespace

Result<std::shared_ptr<Database>> OpenSqlDatabase(const SqlDialect& dialect, SqlConnector connector,
                                                  const DatabaseOptions& options,
                                                  const Clock& clock, std::string where) {
  auto pool = std::make_shared<SqlConnectionPool>(std::move(connector), options.pool_size,
                                                  options.pool_wait);
  auto lease = pool->Acquire();
  if (!lease) return tl::unexpected(std::move(lease.error()));
  const SqlMigrator migrator(dialect, clock);
  auto version = migrator.Run(**lease, options.migrate, where);
  if (!version) return tl::unexpected(std::move(version.error()));
  spdlog::info("event=database_open backend={} database={} schema_version={} pool_size={}",
               dialect.name, where, *version, pool->size());
  return std::shared_ptr<Database>(std::make_shared<SqlDatabase>(std::move(pool), *version));
}

}  // namespace msgbroker::storage::sql
