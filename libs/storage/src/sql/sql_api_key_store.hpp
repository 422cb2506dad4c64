#pragma once
// ApiKeyStore on any SqlConnection (PostgreSQL, MySQL/MariaDB), with the semantics of the SQLite
// store (sqlite_api_key_store.cpp).

#include <memory>

#include "msgbroker/storage/api_key_store.hpp"
#include "sql_connection_pool.hpp"

namespace msgbroker::storage::sql {

class SqlApiKeyStore final : public ApiKeyStore {
 public:
  explicit SqlApiKeyStore(std::shared_ptr<SqlConnectionPool> pool) : pool_(std::move(pool)) {}
  Status Create(const ApiKey& key) override;
  Result<std::optional<ApiKey>> Get(std::string_view key_id) override;
  Result<std::vector<ApiKey>> List(const std::optional<ClientId>& client_id) override;
  Result<std::vector<ApiKeyIdentity>> ListActive() override;
  Status Revoke(std::string_view key_id, SystemTime at, std::string_view reason) override;

 private:
  std::shared_ptr<SqlConnectionPool> pool_;
};

}  // namespace msgbroker::storage::sql
