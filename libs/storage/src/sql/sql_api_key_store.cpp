#include "sql_api_key_store.hpp"

#include <string>
#include <utility>

#include "api_key_validation.hpp"
#include "msgbroker/core/time_format.hpp"
#include "sql_stores.hpp"

namespace msgbroker::storage::sql {
namespace {

constexpr std::string_view kKeyColumns =
    "k.key_id, k.client_id, k.secret_hash, k.label, k.allowed_cidrs, k.created_at, k.expires_at,"
    " k.revoked_at, k.revoked_reason";
constexpr std::size_t kKeyColumnCount = 9;

constexpr std::string_view kInsert =
    "INSERT INTO api_keys (key_id, client_id, secret_hash, label, allowed_cidrs, created_at,"
    " expires_at, revoked_at, revoked_reason) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '')";
constexpr std::string_view kRevoke =
    "UPDATE api_keys SET revoked_at = ?, revoked_reason = ? WHERE key_id = ? AND revoked_at IS "
    "NULL";
constexpr std::string_view kExists = "SELECT count(*) FROM api_keys WHERE key_id = ?";
constexpr std::string_view kOrder = " ORDER BY k.client_id, k.created_at, k.key_id";

std::string Select(std::string_view rest) {
  return "SELECT " + std::string(kKeyColumns) + " FROM api_keys k" + std::string(rest);
}

SqlValue Text(std::string_view text) { return SqlValue(std::string(text)); }

Error Corrupted(std::string what) { return Error(ErrorCode::kDataCorrupted, std::move(what)); }

Result<SystemTime> RequiredTime(const SqlRows& rows, std::size_t row, std::size_t column,
                                const std::string& what) {
  auto ms = rows.Int64(row, column);
  if (!ms) return tl::unexpected(Corrupted(what + " has an invalid time"));
  return FromUnixMillis(*ms);
}

Result<std::optional<SystemTime>> OptionalTime(const SqlRows& rows, std::size_t row,
                                               std::size_t column, const std::string& what) {
  if (rows.IsNull(row, column)) return std::optional<SystemTime>();
  auto t = RequiredTime(rows, row, column, what);
  if (!t) return tl::unexpected(std::move(t.error()));
  return std::optional<SystemTime>(*t);
}

Result<ApiKey> ReadKey(const SqlRows& rows, std::size_t row) {
  ApiKey key;
  key.key_id = std::string(rows.Text(row, 0));
  const std::string what = "API key " + key.key_id;
  auto client_id = ClientId::Parse(rows.Text(row, 1));
  if (!client_id) return tl::unexpected(Corrupted(what + " has an invalid client id"));
  key.client_id = std::move(*client_id);
  key.secret_hash = std::string(rows.Text(row, 2));
  key.label = std::string(rows.Text(row, 3));
  key.allowed_cidrs = SplitCidrs(rows.Text(row, 4));
  auto created = RequiredTime(rows, row, 5, what);
  if (!created) return tl::unexpected(std::move(created.error()));
  key.created_at = *created;
  auto expires = OptionalTime(rows, row, 6, what);
  if (!expires) return tl::unexpected(std::move(expires.error()));
  key.expires_at = *expires;
  auto revoked = OptionalTime(rows, row, 7, what);
  if (!revoked) return tl::unexpected(std::move(revoked.error()));
  key.revoked_at = *revoked;
  key.revoked_reason = std::string(rows.Text(row, 8));
  return key;
}

Result<ApiKeyIdentity> ReadIdentity(const SqlRows& rows, std::size_t row) {
  auto key = ReadKey(rows, row);
  if (!key) return tl::unexpected(std::move(key.error()));
  ApiKeyIdentity identity;
  identity.key = std::move(*key);
  auto client = ReadClientColumns(rows, row, kKeyColumnCount);
  if (!client) return tl::unexpected(std::move(client.error()));
  identity.client = std::move(*client);
  return identity;
}

}  // namespace

Status SqlApiKeyStore::Create(const ApiKey& key) {
  if (auto valid = detail::ValidateNewApiKey(key); !valid) return valid;
  return pool_->With([&key](SqlConnection& connection) -> Status {
    const SqlValue params[] = {
        Text(key.key_id),
        Text(key.client_id.str()),
        Text(key.secret_hash),
        Text(key.label),
        Text(JoinCidrs(key.allowed_cidrs)),
        SqlValue(ToUnixMillis(key.created_at)),
        key.expires_at ? SqlValue(ToUnixMillis(*key.expires_at)) : SqlValue(nullptr)};
    auto ran = connection.Execute(kInsert, params);
    if (!ran) {
      switch (connection.LastErrorKind()) {
        case SqlErrorKind::kForeignKeyViolation:
          return NoSuchClient(key.client_id, "client_id");
        case SqlErrorKind::kUniqueViolation:
          return Fail(ErrorCode::kAlreadyExists, "API key " + key.key_id + " already exists",
                      "key_id");
        default:
          return tl::unexpected(std::move(ran.error()));
      }
    }
    return Ok();
  });
}

Result<std::optional<ApiKey>> SqlApiKeyStore::Get(std::string_view key_id) {
  return pool_->With([key_id](SqlConnection& connection) -> Result<std::optional<ApiKey>> {
    const SqlValue params[] = {Text(key_id)};
    auto rows = connection.Query(Select(" WHERE k.key_id = ?"), params);
    if (!rows) return tl::unexpected(std::move(rows.error()));
    if (rows->empty()) return std::optional<ApiKey>();
    auto key = ReadKey(*rows, 0);
    if (!key) return tl::unexpected(std::move(key.error()));
    return std::optional<ApiKey>(std::move(*key));
  });
}

Result<std::vector<ApiKey>> SqlApiKeyStore::List(const std::optional<ClientId>& client_id) {
  return pool_->With([&client_id](SqlConnection& connection) -> Result<std::vector<ApiKey>> {
    std::vector<SqlValue> params;
    std::string sql;
    if (client_id) {
      sql = Select(" WHERE k.client_id = ?") + std::string(kOrder);
      params.push_back(Text(client_id->str()));
    } else {
      sql = Select("") + std::string(kOrder);
    }
    auto rows = connection.Query(sql, params);
    if (!rows) return tl::unexpected(std::move(rows.error()));
    return ReadAll<ApiKey>(*rows, ReadKey);
  });
}

Result<std::vector<ApiKeyIdentity>> SqlApiKeyStore::ListActive() {
  return pool_->With([](SqlConnection& connection) -> Result<std::vector<ApiKeyIdentity>> {
    auto rows =
        connection.Query("SELECT " + std::string(kKeyColumns) +
                         ", c.id, c.domain, c.status, c.created_at, c.rate_per_second, c.rate_burst"
                         " FROM api_keys k"
                         " JOIN clients c ON c.id = k.client_id"
                         " WHERE k.revoked_at IS NULL" +
                         std::string(kOrder));
    if (!rows) return tl::unexpected(std::move(rows.error()));
    return ReadAll<ApiKeyIdentity>(*rows, ReadIdentity);
  });
}

Status SqlApiKeyStore::Revoke(std::string_view key_id, SystemTime at, std::string_view reason) {
  return pool_->With([&](SqlConnection& connection) -> Status {
    const SqlValue params[] = {SqlValue(ToUnixMillis(at)), Text(reason), Text(key_id)};
    auto ran = connection.Execute(kRevoke, params);
    if (!ran) return tl::unexpected(std::move(ran.error()));
    if (*ran == 1) return Ok();
    const SqlValue id[] = {Text(key_id)};
    auto rows = connection.Query(kExists, id);
    if (!rows) return tl::unexpected(std::move(rows.error()));
    if (rows->Int64(0, 0).value_or(0) > 0) {
      return Fail(ErrorCode::kAlreadyExists,
                  "API key " + std::string(key_id) + " is revoked already", "key_id");
    }
    return Fail(ErrorCode::kNotFound, "no API key " + std::string(key_id), "key_id");
  });
}

}  // namespace msgbroker::storage::sql
