#include "sqlite_client_registry.hpp"

#include <string>
#include <utility>

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::storage::sqlite {
namespace {

constexpr std::string_view kInsertClient =
    "INSERT INTO clients (id, domain, status, created_at, rate_per_second, rate_burst)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (id) DO NOTHING";
constexpr std::string_view kInsertCertificate =
    "INSERT INTO client_certificates"
    " (fingerprint_sha256, client_id, serial_hex, not_before, not_after, status, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (fingerprint_sha256) DO NOTHING";
constexpr std::string_view kUpdateClientStatus = "UPDATE clients SET status = ?2 WHERE id = ?1";
constexpr std::string_view kUpdateClientRateLimit =
    "UPDATE clients SET rate_per_second = ?2, rate_burst = ?3 WHERE id = ?1";
constexpr std::string_view kSelectClient =
    "SELECT id, domain, status, created_at, rate_per_second, rate_burst FROM clients WHERE id = ?1";
constexpr std::string_view kSelectClients =
    "SELECT id, domain, status, created_at, rate_per_second, rate_burst FROM clients ORDER BY id";
constexpr std::string_view kSelectCertificates =
    "SELECT fingerprint_sha256, client_id, serial_hex, not_before, not_after, status, created_at"
    " FROM client_certificates WHERE client_id = ?1 ORDER BY created_at, fingerprint_sha256";
constexpr std::string_view kSelectIdentityByFingerprint =
    "SELECT c.id, c.domain, c.status, c.created_at, cc.fingerprint_sha256, cc.client_id,"
    " cc.serial_hex, cc.not_before, cc.not_after, cc.status, cc.created_at,"
    " c.rate_per_second, c.rate_burst"
    " FROM client_certificates AS cc JOIN clients AS c ON c.id = cc.client_id"
    " WHERE cc.fingerprint_sha256 = ?1";
constexpr std::string_view kSelectIdentities =
    "SELECT c.id, c.domain, c.status, c.created_at, cc.fingerprint_sha256, cc.client_id,"
    " cc.serial_hex, cc.not_before, cc.not_after, cc.status, cc.created_at,"
    " c.rate_per_second, c.rate_burst"
    " FROM client_certificates AS cc JOIN clients AS c ON c.id = cc.client_id"
    " ORDER BY c.id, cc.created_at, cc.fingerprint_sha256";

// The columns of a client start at `first`: id, domain, status, created_at.
Result<Client> ReadClient(const Statement& row, int first) {
  Client client;
  auto id = ClientId::Parse(row.Text(first));
  if (!id) return Fail(ErrorCode::kDataCorrupted, "a stored client has an invalid id");
  client.id = std::move(*id);
  client.domain = row.Text(first + 1);
  auto status = ParseClientStatus(row.Text(first + 2));
  if (!status) {
    return Fail(ErrorCode::kDataCorrupted,
                "stored client " + client.id.str() + " has an invalid status");
  }
  client.status = *status;
  client.created_at = FromUnixMillis(row.Int64(first + 3));
  return client;
}

// The client's rate limit columns at `first`: rate_per_second, rate_burst (NULL: the default).
Status ReadClientRateLimit(const Statement& row, int first, Client& client) {
  if (row.IsNull(first) && row.IsNull(first + 1)) return Ok();
  ClientRateLimit limit{row.Int64(first), row.Int64(first + 1)};
  if (row.IsNull(first) || row.IsNull(first + 1) || !ValidateClientRateLimit(limit)) {
    return Fail(ErrorCode::kDataCorrupted,
                "stored client " + client.id.str() + " has an invalid rate limit");
  }
  client.rate_limit = limit;
  return Ok();
}

std::optional<CertificateStatus> ParseCertificateStatus(std::string_view name) noexcept {
  for (auto s : {CertificateStatus::kActive, CertificateStatus::kRevoked}) {
    if (CertificateStatusName(s) == name) return s;
  }
  return std::nullopt;
}

// The columns of a certificate start at `first`, in the order of client_certificates.
Result<ClientCertificate> ReadCertificate(const Statement& row, int first) {
  ClientCertificate cert;
  cert.fingerprint_sha256 = row.Text(first);
  auto client_id = ClientId::Parse(row.Text(first + 1));
  if (!client_id) {
    return Fail(ErrorCode::kDataCorrupted,
                "certificate " + cert.fingerprint_sha256 + " has an invalid client id");
  }
  cert.client_id = std::move(*client_id);
  cert.serial_hex = row.Text(first + 2);
  cert.not_before = FromUnixMillis(row.Int64(first + 3));
  cert.not_after = FromUnixMillis(row.Int64(first + 4));
  auto status = ParseCertificateStatus(row.Text(first + 5));
  if (!status) {
    return Fail(ErrorCode::kDataCorrupted,
                "certificate " + cert.fingerprint_sha256 + " has an invalid status");
  }
  cert.status = *status;
  cert.created_at = FromUnixMillis(row.Int64(first + 6));
  return cert;
}

Result<ClientIdentity> ReadIdentity(const Statement& row) {
  auto client = ReadClient(row, 0);
  if (!client) return tl::unexpected(std::move(client.error()));
  auto cert = ReadCertificate(row, 4);
  if (!cert) return tl::unexpected(std::move(cert.error()));
  if (auto ok = ReadClientRateLimit(row, 11, *client); !ok) return tl::unexpected(ok.error());
  return ClientIdentity{std::move(*client), std::move(*cert)};
}

// Steps `stmt` once and reads the row if there is one.
template <typename T, typename Read>
Result<std::optional<T>> ReadOne(Statement& stmt, Read read) {
  auto row = stmt.Step();
  if (!row) return tl::unexpected(std::move(row.error()));
  if (!*row) return std::nullopt;
  auto item = read(stmt);
  if (!item) return tl::unexpected(std::move(item.error()));
  return std::optional<T>(std::move(*item));
}

}  // namespace

Result<Client> ReadClientColumns(const Statement& row, int first) {
  auto client = ReadClient(row, first);
  if (!client) return client;
  if (auto ok = ReadClientRateLimit(row, first + 4, *client); !ok) {
    return tl::unexpected(ok.error());
  }
  return client;
}

namespace {

Status InsertClient(Connection& connection, const Client& client) {
  auto stmt = connection.Prepare(kInsertClient);
  if (!stmt) return tl::unexpected(std::move(stmt.error()));
  stmt->BindText(1, client.id.str());
  stmt->BindText(2, client.domain);
  stmt->BindText(3, ClientStatusName(client.status));
  stmt->Bind(4, ToUnixMillis(client.created_at));
  if (client.rate_limit) {
    stmt->Bind(5, client.rate_limit->per_second);
    stmt->Bind(6, client.rate_limit->burst);
  } else {
    stmt->BindNull(5);
    stmt->BindNull(6);
  }
  if (auto ran = stmt->Run(); !ran) return ran;
  if (connection.changes() == 0) {
    return Fail(ErrorCode::kAlreadyExists, "client " + client.id.str() + " already exists", "id");
  }
  return Ok();
}

Status InsertCertificate(Connection& connection, const ClientCertificate& cert) {
  auto stmt = connection.Prepare(kInsertCertificate);
  if (!stmt) return tl::unexpected(std::move(stmt.error()));
  stmt->BindText(1, cert.fingerprint_sha256);
  stmt->BindText(2, cert.client_id.str());
  stmt->BindText(3, cert.serial_hex);
  stmt->Bind(4, ToUnixMillis(cert.not_before));
  stmt->Bind(5, ToUnixMillis(cert.not_after));
  stmt->BindText(6, CertificateStatusName(cert.status));
  stmt->Bind(7, ToUnixMillis(cert.created_at));
  if (auto ran = stmt->Run(); !ran) {
    if (stmt->last_result() == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return NoSuchClient(cert.client_id, "client_id");
    }
    return ran;
  }
  if (connection.changes() == 0) {
    return CertificateAlreadyRegistered(cert.fingerprint_sha256);
  }
  return Ok();
}

}  // namespace

Status SqliteClientRegistry::CreateClient(const Client& client) {
  if (auto valid = ValidateNewClient(client); !valid) return valid;
  return pool_->WithWriter(
      [&client](Connection& connection) { return InsertClient(connection, client); });
}

Status SqliteClientRegistry::AddCertificate(const ClientCertificate& cert) {
  if (auto valid = ValidateNewCertificate(cert); !valid) return valid;
  return pool_->WithWriter(
      [&cert](Connection& connection) { return InsertCertificate(connection, cert); });
}

Status SqliteClientRegistry::CreateClientWithCertificate(const Client& client,
                                                         const ClientCertificate& cert) {
  if (auto valid = ValidateNewClient(client); !valid) return valid;
  if (auto valid = ValidateNewCertificate(cert); !valid) return valid;
  return pool_->WithWriter([&client, &cert](Connection& connection) -> Status {
    Transaction transaction(connection);
    if (auto begun = transaction.Begin(TransactionKind::kWrite); !begun) return begun;
    if (auto ok = InsertClient(connection, client); !ok) return ok;
    if (auto ok = InsertCertificate(connection, cert); !ok) return ok;
    return transaction.Commit();
  });
}

Result<std::optional<Client>> SqliteClientRegistry::GetClient(const ClientId& id) {
  return pool_->WithReader([&id](Connection& connection) -> Result<std::optional<Client>> {
    auto stmt = connection.Prepare(kSelectClient);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    stmt->BindText(1, id.str());
    return ReadOne<Client>(*stmt, [](const Statement& row) { return ReadClientColumns(row, 0); });
  });
}

Result<std::optional<ClientIdentity>> SqliteClientRegistry::FindByFingerprint(std::string_view fp) {
  return pool_->WithReader([fp](Connection& connection) -> Result<std::optional<ClientIdentity>> {
    auto stmt = connection.Prepare(kSelectIdentityByFingerprint);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    stmt->BindText(1, fp);
    return ReadOne<ClientIdentity>(*stmt, ReadIdentity);
  });
}

Result<std::vector<Client>> SqliteClientRegistry::ListClients() {
  return pool_->WithReader([](Connection& connection) -> Result<std::vector<Client>> {
    auto stmt = connection.Prepare(kSelectClients);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    return ReadAll<Client>(*stmt, [](const Statement& row) { return ReadClientColumns(row, 0); });
  });
}

Result<std::vector<ClientCertificate>> SqliteClientRegistry::ListCertificates(const ClientId& id) {
  return pool_->WithReader([&id](Connection& connection) -> Result<std::vector<ClientCertificate>> {
    auto stmt = connection.Prepare(kSelectCertificates);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    stmt->BindText(1, id.str());
    return ReadAll<ClientCertificate>(*stmt,
                                      [](const Statement& row) { return ReadCertificate(row, 0); });
  });
}

Result<std::vector<ClientIdentity>> SqliteClientRegistry::ListIdentities() {
  return pool_->WithReader([](Connection& connection) -> Result<std::vector<ClientIdentity>> {
    auto stmt = connection.Prepare(kSelectIdentities);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    return ReadAll<ClientIdentity>(*stmt, ReadIdentity);
  });
}

Status SqliteClientRegistry::SetClientStatus(const ClientId& id, ClientStatus status) {
  return pool_->WithWriter([&id, status](Connection& connection) -> Status {
    auto stmt = connection.Prepare(kUpdateClientStatus);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    stmt->BindText(1, id.str());
    stmt->BindText(2, ClientStatusName(status));
    if (auto ran = stmt->Run(); !ran) return ran;
    if (connection.changes() == 0) {
      return NoSuchClient(id, "id");
    }
    return Ok();
  });
}

Status SqliteClientRegistry::SetClientRateLimit(const ClientId& id,
                                                const std::optional<ClientRateLimit>& limit) {
  if (limit) {
    if (auto valid = ValidateClientRateLimit(*limit); !valid) return valid;
  }
  return pool_->WithWriter([&id, &limit](Connection& connection) -> Status {
    auto stmt = connection.Prepare(kUpdateClientRateLimit);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    stmt->BindText(1, id.str());
    if (limit) {
      stmt->Bind(2, limit->per_second);
      stmt->Bind(3, limit->burst);
    } else {
      stmt->BindNull(2);
      stmt->BindNull(3);
    }
    if (auto ran = stmt->Run(); !ran) return ran;
    if (connection.changes() == 0) {
      return NoSuchClient(id, "id");
    }
    return Ok();
  });
}

}  // namespace msgbroker::storage::sqlite
