#include "sqlite_api_key_store.hpp"

#include <string>
#include <utility>

#include "api_key_validation.hpp"
#include "msgbroker/core/time_format.hpp"
#include "sqlite_client_registry.hpp"

namespace msgbroker::storage::sqlite {
namespace {

constexpr std::string_view kKeyColumns =
    "k.key_id, k.client_id, k.secret_hash, k.label, k.allowed_cidrs, k.created_at, k.expires_at,"
    " k.revoked_at, k.revoked_reason";
constexpr int kKeyColumnCount = 9;

constexpr std::string_view kInsert =
    "INSERT INTO api_keys (key_id, client_id, secret_hash, label, allowed_cidrs, created_at,"
    " expires_at, revoked_at, revoked_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, '')"
    " ON CONFLICT (key_id) DO NOTHING";
constexpr std::string_view kRevoke =
    "UPDATE api_keys SET revoked_at = ?2, revoked_reason = ?3"
    " WHERE key_id = ?1 AND revoked_at IS NULL";
constexpr std::string_view kExists = "SELECT count(*) FROM api_keys WHERE key_id = ?1";

std::string Select(std::string_view rest) {
  return "SELECT " + std::string(kKeyColumns) + " FROM api_keys AS k " + std::string(rest);
}

std::optional<SystemTime> OptionalTime(const Statement& row, int column) {
  if (row.IsNull(column)) return std::nullopt;
  return FromUnixMillis(row.Int64(column));
}

Result<ApiKey> ReadKey(const Statement& row) {
  ApiKey key;
  key.key_id = row.Text(0);
  auto client_id = ClientId::Parse(row.Text(1));
  if (!client_id) {
    return Fail(ErrorCode::kDataCorrupted, "API key " + key.key_id + " has an invalid client id");
  }
  key.client_id = std::move(*client_id);
  key.secret_hash = row.Text(2);
  key.label = row.Text(3);
  key.allowed_cidrs = SplitCidrs(row.Text(4));
  key.created_at = FromUnixMillis(row.Int64(5));
  key.expires_at = OptionalTime(row, 6);
  key.revoked_at = OptionalTime(row, 7);
  key.revoked_reason = row.Text(8);
  return key;
}

Result<ApiKeyIdentity> ReadIdentity(const Statement& row) {
  auto key = ReadKey(row);
  if (!key) return tl::unexpected(std::move(key.error()));
  ApiKeyIdentity identity;
  identity.key = std::move(*key);
  auto client = ReadClientColumns(row, kKeyColumnCount);
  if (!client) return tl::unexpected(std::move(client.error()));
  identity.client = std::move(*client);
  return identity;
}

}  // namespace

Status SqliteApiKeyStore::Create(const ApiKey& key) {
  if (auto valid = detail::ValidateNewApiKey(key); !valid) return valid;
  return pool_->WithWriter([&key](Connection& connection) -> Status {
    auto stmt = connection.Prepare(kInsert);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    stmt->BindText(1, key.key_id);
    stmt->BindText(2, key.client_id.str());
    stmt->BindText(3, key.secret_hash);
    stmt->BindText(4, key.label);
    const std::string cidrs = JoinCidrs(key.allowed_cidrs);
    stmt->BindText(5, cidrs);
    stmt->Bind(6, ToUnixMillis(key.created_at));
    if (key.expires_at) {
      stmt->Bind(7, ToUnixMillis(*key.expires_at));
    } else {
      stmt->BindNull(7);
    }
    if (auto ran = stmt->Run(); !ran) {
      if (stmt->last_result() == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return NoSuchClient(key.client_id, "client_id");
      }
      return ran;
    }
    if (connection.changes() == 0) {
      return Fail(ErrorCode::kAlreadyExists, "API key " + key.key_id + " already exists", "key_id");
    }
    return Ok();
  });
}

Result<std::optional<ApiKey>> SqliteApiKeyStore::Get(std::string_view key_id) {
  return pool_->WithReader([key_id](Connection& connection) -> Result<std::optional<ApiKey>> {
    auto stmt = connection.Prepare(Select("WHERE k.key_id = ?1"));
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    stmt->BindText(1, key_id);
    auto row = stmt->Step();
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row) return std::optional<ApiKey>();
    auto key = ReadKey(*stmt);
    if (!key) return tl::unexpected(std::move(key.error()));
    return std::optional<ApiKey>(std::move(*key));
  });
}

Result<std::vector<ApiKey>> SqliteApiKeyStore::List(const std::optional<ClientId>& client_id) {
  return pool_->WithReader([&client_id](Connection& connection) -> Result<std::vector<ApiKey>> {
    auto stmt = connection.Prepare(
        Select(client_id ? "WHERE k.client_id = ?1 ORDER BY k.client_id, k.created_at, k.key_id"
                         : "ORDER BY k.client_id, k.created_at, k.key_id"));
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    if (client_id) stmt->BindText(1, client_id->str());
    return ReadAll<ApiKey>(*stmt, ReadKey);
  });
}

Result<std::vector<ApiKeyIdentity>> SqliteApiKeyStore::ListActive() {
  return pool_->WithReader([](Connection& connection) -> Result<std::vector<ApiKeyIdentity>> {
    auto stmt = connection.Prepare(
        "SELECT " + std::string(kKeyColumns) +
        ", c.id, c.domain, c.status, c.created_at, c.rate_per_second, c.rate_burst"
        " FROM api_keys AS k"
        " JOIN clients AS c ON c.id = k.client_id WHERE k.revoked_at IS NULL"
        " ORDER BY k.client_id, k.created_at, k.key_id");
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    return ReadAll<ApiKeyIdentity>(*stmt, ReadIdentity);
  });
}

Status SqliteApiKeyStore::Revoke(std::string_view key_id, SystemTime at, std::string_view reason) {
  return pool_->WithWriter([&](Connection& connection) -> Status {
    auto stmt = connection.Prepare(kRevoke);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    stmt->BindText(1, key_id);
    stmt->Bind(2, ToUnixMillis(at));
    stmt->BindText(3, reason);
    if (auto ran = stmt->Run(); !ran) return ran;
    if (connection.changes() == 1) return Ok();
    auto exists = connection.Prepare(kExists);
    if (!exists) return tl::unexpected(std::move(exists.error()));
    exists->BindText(1, key_id);
    auto row = exists->Step();
    if (!row) return tl::unexpected(std::move(row.error()));
    if (*row && exists->Int64(0) > 0) {
      return Fail(ErrorCode::kAlreadyExists,
                  "API key " + std::string(key_id) + " is revoked already", "key_id");
    }
    return Fail(ErrorCode::kNotFound, "no API key " + std::string(key_id), "key_id");
  });
}

}  // namespace msgbroker::storage::sqlite
