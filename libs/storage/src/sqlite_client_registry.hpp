#pragma once

#include <memory>

#include "msgbroker/storage/client_registry.hpp"
#include "sqlite_connection_pool.hpp"

namespace msgbroker::storage::sqlite {

// The columns of a client from `first`: id, domain, status, created_at, rate_per_second,
// rate_burst (what the client registry and the API-key store read with a client).
Result<Client> ReadClientColumns(const Statement& row, int first);

// ClientRegistry on the `clients` and `client_certificates` tables.
class SqliteClientRegistry final : public ClientRegistry {
 public:
  explicit SqliteClientRegistry(std::shared_ptr<ConnectionPool> pool) noexcept
      : pool_(std::move(pool)) {}

  Status CreateClient(const Client& client) override;
  Status AddCertificate(const ClientCertificate& cert) override;
  Status CreateClientWithCertificate(const Client& client, const ClientCertificate& cert) override;
  Result<std::optional<Client>> GetClient(const ClientId& id) override;
  Result<std::optional<ClientIdentity>> FindByFingerprint(std::string_view fp) override;
  Result<std::vector<Client>> ListClients() override;
  Result<std::vector<ClientCertificate>> ListCertificates(const ClientId& id) override;
  Result<std::vector<ClientIdentity>> ListIdentities() override;
  Status SetClientStatus(const ClientId& id, ClientStatus status) override;
  Status SetClientRateLimit(const ClientId& id,
                            const std::optional<ClientRateLimit>& limit) override;

 private:
  std::shared_ptr<ConnectionPool> pool_;
};

}  // namespace msgbroker::storage::sqlite
