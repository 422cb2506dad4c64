#include "pg_database.hpp"

#include <utility>

#include "pg_connection.hpp"
#include "sql_database.hpp"

namespace msgbroker::storage::sql {
namespace {

// Schema version 1, as SQLite's (docs/adr/0002) in PostgreSQL types. Times are BIGINT
// milliseconds since the Unix epoch (UTC). Keys and filter columns compare bytewise (COLLATE "C"),
// so the order of ids matches SQLite's whatever the database's locale.
constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE messages (
  id            TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(id) = 36),
  client_id     TEXT COLLATE "C" NOT NULL,
  status        TEXT COLLATE "C" NOT NULL CHECK (status IN ('queued', 'delivered', 'failed')),
  sender_hmac   TEXT COLLATE "C" NOT NULL,
  sender_masked TEXT   NOT NULL,
  key_id        TEXT   NOT NULL,
  nonce         BYTEA  NOT NULL,
  content       BYTEA  NOT NULL,
  attempts      BIGINT NOT NULL CHECK (attempts >= 0 AND attempts <= 4294967295),
  last_error    TEXT   NOT NULL DEFAULT '',
  queued_at     BIGINT NOT NULL,
  delivered_at  BIGINT,
  failed_at     BIGINT,
  stored_at     BIGINT NOT NULL
);
CREATE INDEX messages_by_queued_at ON messages (queued_at DESC, id DESC);
CREATE INDEX messages_by_client ON messages (client_id, queued_at DESC, id DESC);
CREATE INDEX messages_by_status ON messages (status, queued_at DESC, id DESC);
CREATE INDEX messages_by_sender ON messages (sender_hmac, queued_at DESC, id DESC);

CREATE TABLE clients (
  id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  domain     TEXT   NOT NULL,
  status     TEXT   NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
  created_at BIGINT NOT NULL
);

CREATE TABLE client_certificates (
  fingerprint_sha256 TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  client_id          TEXT COLLATE "C" NOT NULL REFERENCES clients (id),
  serial_hex         TEXT   NOT NULL,
  not_before         BIGINT NOT NULL,
  not_after          BIGINT NOT NULL,
  status             TEXT   NOT NULL CHECK (status IN ('active', 'revoked')),
  created_at         BIGINT NOT NULL
);
CREATE INDEX client_certificates_by_client ON client_certificates (client_id, created_at);
)sql";

// Version 2: certificate lifecycle (docs/adr/0009), as SQLite's.
constexpr std::string_view kVersion2 = R"sql(
ALTER TABLE client_certificates ADD COLUMN revoked_at BIGINT,
  ADD COLUMN revocation_reason TEXT, ADD COLUMN revoke_after BIGINT;
CREATE INDEX client_certificates_by_serial ON client_certificates (serial_hex);
CREATE INDEX client_certificates_by_not_after ON client_certificates (not_after);

CREATE TABLE service_certificates (
  fingerprint_sha256 TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  serial_hex         TEXT   NOT NULL,
  role               TEXT   NOT NULL,
  dns_names          TEXT   NOT NULL,
  not_before         BIGINT NOT NULL,
  not_after          BIGINT NOT NULL,
  status             TEXT   NOT NULL CHECK (status IN ('active', 'revoked')),
  revoked_at         BIGINT,
  revocation_reason  TEXT,
  revoke_after       BIGINT,
  created_at         BIGINT NOT NULL
);
CREATE INDEX service_certificates_by_serial ON service_certificates (serial_hex);
CREATE INDEX service_certificates_by_not_after ON service_certificates (not_after);
)sql";

// Version 3: a client's own rate limit; NULL = the configured default, 0 and 0 = unlimited.
constexpr std::string_view kVersion3 = R"sql(
ALTER TABLE clients ADD COLUMN rate_per_second BIGINT CHECK (rate_per_second >= 0);
ALTER TABLE clients ADD COLUMN rate_burst BIGINT CHECK (rate_burst >= 0);
)sql";

// Version 4: API keys (docs/adr/0012), as SQLite's.
constexpr std::string_view kVersion4 = R"sql(
CREATE TABLE api_keys (
  key_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  client_id      TEXT COLLATE "C" NOT NULL REFERENCES clients (id),
  secret_hash    TEXT   NOT NULL,
  label          TEXT   NOT NULL,
  allowed_cidrs  TEXT   NOT NULL,
  created_at     BIGINT NOT NULL,
  expires_at     BIGINT,
  revoked_at     BIGINT,
  revoked_reason TEXT   NOT NULL
);
CREATE INDEX api_keys_by_client ON api_keys (client_id, created_at);
)sql";

constexpr SqlMigration kMigrations[] = {
    {1, kVersion1},
    {2, kVersion2},
    {3, kVersion3},
    {4, kVersion4},
};

}  // namespace

const SqlDialect& PostgresDialect() {
  static const SqlDialect dialect{
      .name = "postgresql",
      .migrations = kMigrations,
      .create_migrations_table =
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
  };
  return dialect;
}

Result<std::shared_ptr<Database>> OpenPostgresDatabase(const DatabaseUrl& url,
                                                       const DatabaseOptions& options,
                                                       const Clock& clock) {
  SqlConnector connector = [url, timeout = options.connect_timeout] {
    return PgConnection::Open(url, timeout);
  };
  return OpenSqlDatabase(PostgresDialect(), std::move(connector), options, clock,
                         DescribeDatabaseUrl(url));
}

}  // namespace msgbroker::storage::sql
