#include "sqlite_migrations.hpp"

#include <string>

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::storage::sqlite {
namespace {

// Times are milliseconds since the Unix epoch (UTC). Tables are STRICT: a value of the wrong type
// is an error instead of being stored as something else.
constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE messages (
  id            TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
  client_id     TEXT    NOT NULL,
  status        TEXT    NOT NULL CHECK (status IN ('queued', 'delivered', 'failed')),
  sender_hmac   TEXT    NOT NULL,
  sender_masked TEXT    NOT NULL,
  key_id        TEXT    NOT NULL,
  nonce         BLOB    NOT NULL,
  content       BLOB    NOT NULL,
  attempts      INTEGER NOT NULL CHECK (attempts >= 0),
  last_error    TEXT    NOT NULL DEFAULT '',
  queued_at     INTEGER NOT NULL,
  delivered_at  INTEGER,
  failed_at     INTEGER,
  stored_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX messages_by_queued_at ON messages (queued_at DESC, id DESC);
CREATE INDEX messages_by_client ON messages (client_id, queued_at DESC, id DESC);
CREATE INDEX messages_by_status ON messages (status, queued_at DESC, id DESC);
CREATE INDEX messages_by_sender ON messages (sender_hmac, queued_at DESC, id DESC);

CREATE TABLE clients (
  id         TEXT    NOT NULL PRIMARY KEY,
  domain     TEXT    NOT NULL,
  status     TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE client_certificates (
  fingerprint_sha256 TEXT    NOT NULL PRIMARY KEY,
  client_id          TEXT    NOT NULL REFERENCES clients (id),
  serial_hex         TEXT    NOT NULL,
  not_before         INTEGER NOT NULL,
  not_after          INTEGER NOT NULL,
  status             TEXT    NOT NULL CHECK (status IN ('active', 'revoked')),
  created_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX client_certificates_by_client ON client_certificates (client_id, created_at);
)sql";

// Version 2: certificate lifecycle (docs/adr/0009): revocation time and reason and a renewal's
// overlap end on client certificates; recorded service certificates.
constexpr std::string_view kVersion2 = R"sql(
ALTER TABLE client_certificates ADD COLUMN revoked_at INTEGER;
ALTER TABLE client_certificates ADD COLUMN revocation_reason TEXT;
ALTER TABLE client_certificates ADD COLUMN revoke_after INTEGER;
CREATE INDEX client_certificates_by_serial ON client_certificates (serial_hex);
CREATE INDEX client_certificates_by_not_after ON client_certificates (not_after);

CREATE TABLE service_certificates (
  fingerprint_sha256 TEXT    NOT NULL PRIMARY KEY,
  serial_hex         TEXT    NOT NULL,
  role               TEXT    NOT NULL,
  dns_names          TEXT    NOT NULL,
  not_before         INTEGER NOT NULL,
  not_after          INTEGER NOT NULL,
  status             TEXT    NOT NULL CHECK (status IN ('active', 'revoked')),
  revoked_at         INTEGER,
  revocation_reason  TEXT,
  revoke_after       INTEGER,
  created_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX service_certificates_by_serial ON service_certificates (serial_hex);
CREATE INDEX service_certificates_by_not_after ON service_certificates (not_after);
)sql";

// Version 3: a client's own rate limit (messages per second, burst); NULL = the configured
// default, 0 and 0 = unlimited (storage::ClientRateLimit).
constexpr std::string_view kVersion3 = R"sql(
ALTER TABLE clients ADD COLUMN rate_per_second INTEGER CHECK (rate_per_second >= 0);
ALTER TABLE clients ADD COLUMN rate_burst INTEGER CHECK (rate_burst >= 0);
)sql";

// Version 4: API keys (docs/adr/0012). The key itself is never stored, only its SHA-256.
// allowed_cidrs: comma-separated, '' for any address.
constexpr std::string_view kVersion4 = R"sql(
CREATE TABLE api_keys (
  key_id         TEXT    NOT NULL PRIMARY KEY,
  client_id      TEXT    NOT NULL REFERENCES clients (id),
  secret_hash    TEXT    NOT NULL,
  label          TEXT    NOT NULL,
  allowed_cidrs  TEXT    NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER,
  revoked_at     INTEGER,
  revoked_reason TEXT    NOT NULL
) STRICT;
CREATE INDEX api_keys_by_client ON api_keys (client_id, created_at);
)sql";

constexpr Migration kMigrations[] = {
    {1, kVersion1},
    {2, kVersion2},
    {3, kVersion3},
    {4, kVersion4},
};

constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)";

Result<bool> HasMigrationsTable(Connection& connection) {
  auto stmt = connection.Prepare(
      "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'");
  if (!stmt) return tl::unexpected(std::move(stmt.error()));
  auto row = stmt->Step();
  if (!row) return tl::unexpected(std::move(row.error()));
  return *row && stmt->Int64(0) > 0;
}

Result<int> MaxAppliedVersion(Connection& connection) {
  auto stmt = connection.Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!stmt) return tl::unexpected(std::move(stmt.error()));
  auto row = stmt->Step();
  if (!row) return tl::unexpected(std::move(row.error()));
  return *row ? static_cast<int>(stmt->Int64(0)) : 0;
}

// Applies `migration` unless another process got there first (checked under the write lock).
Status Apply(Connection& connection, const Migration& migration, const Clock& clock) {
  Transaction transaction(connection);
  if (auto begun = transaction.Begin(TransactionKind::kWrite); !begun) return begun;
  if (auto created = connection.Execute(kCreateMigrationsTable); !created) return created;
  auto current = MaxAppliedVersion(connection);
  if (!current) return tl::unexpected(std::move(current.error()));
  if (*current >= migration.version) return transaction.Commit();

  const std::string script(migration.sql);
  if (auto applied = connection.Execute(script.c_str()); !applied) {
    Error error = std::move(applied.error());
    error.message = "migration " + std::to_string(migration.version) + " failed: " + error.message;
    return tl::unexpected(std::move(error));
  }
  {
    auto record =
        connection.Prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)");
    if (!record) return tl::unexpected(std::move(record.error()));
    record->Bind(1, migration.version);
    record->Bind(2, ToUnixMillis(clock.Now()));
    if (auto inserted = record->Run(); !inserted) return inserted;
  }
  return transaction.Commit();
}

}  // namespace

std::span<const Migration> Migrations() noexcept { return kMigrations; }

int LatestMigrationVersion() noexcept { return std::span(kMigrations).back().version; }

Result<int> ReadSchemaVersion(Connection& connection) {
  auto exists = HasMigrationsTable(connection);
  if (!exists) return tl::unexpected(std::move(exists.error()));
  if (!*exists) return 0;
  return MaxAppliedVersion(connection);
}

Result<int> ApplyMigrations(Connection& connection, const Clock& clock) {
  auto current = ReadSchemaVersion(connection);
  if (!current) return current;
  for (const Migration& migration : Migrations()) {
    if (migration.version <= *current) continue;
    if (auto applied = Apply(connection, migration, clock); !applied) {
      return tl::unexpected(std::move(applied.error()));
    }
  }
  return ReadSchemaVersion(connection);
}

}  // namespace msgbroker::storage::sqlite
