#pragma once

#include <memory>

#include "msgbroker/storage/api_key_store.hpp"
#include "sqlite_connection_pool.hpp"

namespace msgbroker::storage::sqlite {

// ApiKeyStore on the `api_keys` table (migration 4).
class SqliteApiKeyStore final : public ApiKeyStore {
 public:
  explicit SqliteApiKeyStore(std::shared_ptr<ConnectionPool> pool) noexcept
      : pool_(std::move(pool)) {}

  Status Create(const ApiKey& key) override;
  Result<std::optional<ApiKey>> Get(std::string_view key_id) override;
  Result<std::vector<ApiKey>> List(const std::optional<ClientId>& client_id) override;
  Result<std::vector<ApiKeyIdentity>> ListActive() override;
  Status Revoke(std::string_view key_id, SystemTime at, std::string_view reason) override;

 private:
  std::shared_ptr<ConnectionPool> pool_;
};

}  // namespace msgbroker::storage::sqlite
