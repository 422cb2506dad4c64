#pragma once
// MessageStore and ClientRegistry on any SqlConnection (PostgreSQL, MySQL/MariaDB), with the
// semantics of docs/adr/0002 (the SQLite stores): the same filters, order, limits and errors.

#include <array>
#include <memory>

#include "msgbroker/storage/client_registry.hpp"
#include "msgbroker/storage/message_store.hpp"
#include "sql_connection.hpp"
#include "sql_connection_pool.hpp"

namespace msgbroker::storage::sql {

// The columns of `messages` in the order of MessageParams and ReadMessageRow.
inline constexpr std::string_view kMessageColumns =
    "id, client_id, status, sender_hmac, sender_masked, key_id, nonce, content, attempts, "
    "last_error, queued_at, delivered_at, failed_at, stored_at";
inline constexpr std::size_t kMessageColumnCount = 14;

// The values of one row for kMessageColumns: text, blobs (nonce, content) and unix-ms integers.
std::array<SqlValue, kMessageColumnCount> MessageParams(const StoredMessage& m);

// Reads the message whose kMessageColumns start at `first` in `row`. kDataCorrupted (naming the
// row by id only) when a value does not decode.
// The columns of a client from `first`: id, domain, status, created_at, rate_per_second,
// rate_burst (what the client registry and the API-key store read with a client).
Result<Client> ReadClientColumns(const SqlRows& rows, std::size_t row, std::size_t first);

Result<StoredMessage> ReadMessageRow(const SqlRows& rows, std::size_t row, std::size_t first = 0);

class SqlMessageStore final : public MessageStore {
 public:
  explicit SqlMessageStore(std::shared_ptr<SqlConnectionPool> pool) : pool_(std::move(pool)) {}
  Result<std::vector<bool>> InsertBatch(std::span<const StoredMessage> messages) override;
  Result<std::optional<StoredMessage>> Get(const MessageId& id) override;
  Result<MessagePage> List(const MessageQuery& query) override;
  Status Ping() override;

 private:
  std::shared_ptr<SqlConnectionPool> pool_;
};

class SqlClientRegistry final : public ClientRegistry {
 public:
  explicit SqlClientRegistry(std::shared_ptr<SqlConnectionPool> pool) : pool_(std::move(pool)) {}
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
  std::shared_ptr<SqlConnectionPool> pool_;
};

}  // namespace msgbroker::storage::sql
