#include "mysql_database.hpp"

#include <utility>

#include "mysql_connection.hpp"
#include "sql_database.hpp"

namespace msgbroker::storage::sql {
namespace {

// Schema version 1, as SQLite's (docs/adr/0002) in MySQL/MariaDB types: InnoDB, utf8mb4 with the
// binary collation (keys and filters compare bytewise, so the order of ids matches SQLite's),
// BIGINT milliseconds since the Unix epoch (UTC), BLOB/LONGBLOB for the ciphertext. No TEXT
// column has a default (MySQL before 8.0.13 refuses one); the stores always write every column.
// MySQL commits each DDL statement implicitly: the migration lock (GET_LOCK) keeps concurrent
// starters apart, and a crash halfway through a script is repaired by hand.
constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE messages (
  id            VARCHAR(36)  NOT NULL,
  client_id     VARCHAR(255) NOT NULL,
  status        VARCHAR(16)  NOT NULL,
  sender_hmac   VARCHAR(255) NOT NULL,
  sender_masked VARCHAR(255) NOT NULL,
  key_id        VARCHAR(255) NOT NULL,
  nonce         BLOB         NOT NULL,
  content       LONGBLOB     NOT NULL,
  attempts      BIGINT       NOT NULL,
  last_error    TEXT         NOT NULL,
  queued_at     BIGINT       NOT NULL,
  delivered_at  BIGINT       NULL,
  failed_at     BIGINT       NULL,
  stored_at     BIGINT       NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT messages_id_length CHECK (CHAR_LENGTH(id) = 36),
  CONSTRAINT messages_status CHECK (status IN ('queued', 'delivered', 'failed')),
  CONSTRAINT messages_attempts CHECK (attempts >= 0 AND attempts <= 4294967295),
  INDEX messages_by_queued_at (queued_at DESC, id DESC),
  INDEX messages_by_client (client_id, queued_at DESC, id DESC),
  INDEX messages_by_status (status, queued_at DESC, id DESC),
  INDEX messages_by_sender (sender_hmac, queued_at DESC, id DESC)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE clients (
  id         VARCHAR(255)  NOT NULL,
  domain     VARCHAR(1024) NOT NULL,
  status     VARCHAR(16)   NOT NULL,
  created_at BIGINT        NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT clients_status CHECK (status IN ('active', 'suspended', 'revoked'))
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE client_certificates (
  fingerprint_sha256 VARCHAR(255) NOT NULL,
  client_id          VARCHAR(255) NOT NULL,
  serial_hex         VARCHAR(255) NOT NULL,
  not_before         BIGINT       NOT NULL,
  not_after          BIGINT       NOT NULL,
  status             VARCHAR(16)  NOT NULL,
  created_at         BIGINT       NOT NULL,
  PRIMARY KEY (fingerprint_sha256),
  CONSTRAINT client_certificates_client FOREIGN KEY (client_id) REFERENCES clients (id),
  CONSTRAINT client_certificates_status CHECK (status IN ('active', 'revoked')),
  INDEX client_certificates_by_client (client_id, created_at)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
)sql";

// Version 2: certificate lifecycle (docs/adr/0009), as SQLite's.
constexpr std::string_view kVersion2 = R"sql(
ALTER TABLE client_certificates
  ADD COLUMN revoked_at BIGINT NULL,
  ADD COLUMN revocation_reason VARCHAR(32) NULL,
  ADD COLUMN revoke_after BIGINT NULL,
  ADD INDEX client_certificates_by_serial (serial_hex),
  ADD INDEX client_certificates_by_not_after (not_after);

CREATE TABLE service_certificates (
  fingerprint_sha256 VARCHAR(255)  NOT NULL,
  serial_hex         VARCHAR(255)  NOT NULL,
  role               VARCHAR(32)   NOT NULL,
  dns_names          VARCHAR(2048) NOT NULL,
  not_before         BIGINT        NOT NULL,
  not_after          BIGINT        NOT NULL,
  status             VARCHAR(16)   NOT NULL,
  revoked_at         BIGINT        NULL,
  revocation_reason  VARCHAR(32)   NULL,
  revoke_after       BIGINT        NULL,
  created_at         BIGINT        NOT NULL,
  PRIMARY KEY (fingerprint_sha256),
  CONSTRAINT service_certificates_status CHECK (status IN ('active', 'revoked')),
  INDEX service_certificates_by_serial (serial_hex),
  INDEX service_certificates_by_not_after (not_after)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
)sql";

// Version 3: a client's own rate limit; NULL = the configured default, 0 and 0 = unlimited.
constexpr std::string_view kVersion3 = R"sql(
ALTER TABLE clients
  ADD COLUMN rate_per_second BIGINT NULL,
  ADD COLUMN rate_burst BIGINT NULL,
  ADD CONSTRAINT clients_rate CHECK (rate_per_second >= 0 AND rate_burst >= 0)
)sql";

// Version 4: API keys (docs/adr/0012), as SQLite's.
constexpr std::string_view kVersion4 = R"sql(
CREATE TABLE api_keys (
  key_id         VARCHAR(64)   NOT NULL,
  client_id      VARCHAR(255)  NOT NULL,
  secret_hash    VARCHAR(128)  NOT NULL,
  label          VARCHAR(1024) NOT NULL,
  allowed_cidrs  TEXT          NOT NULL,
  created_at     BIGINT        NOT NULL,
  expires_at     BIGINT        NULL,
  revoked_at     BIGINT        NULL,
  revoked_reason TEXT          NOT NULL,
  PRIMARY KEY (key_id),
  CONSTRAINT api_keys_client FOREIGN KEY (client_id) REFERENCES clients (id),
  INDEX api_keys_by_client (client_id, created_at)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
)sql";

constexpr SqlMigration kMigrations[] = {
    {1, kVersion1},
    {2, kVersion2},
    {3, kVersion3},
    {4, kVersion4},
};

// Query parameters of a mysql:// URL. TLS: ssl-mode=DISABLED|PREFERRED (nothing enforced),
// REQUIRED (TLS or fail), VERIFY_CA / VERIFY_IDENTITY (and verify the server's certificate and
// name); ssl-ca=<PEM file>. Anything else is refused, so a misspelt TLS setting cannot silently
// leave the connection in clear text.
Status ApplyUrlParams(const DatabaseUrl& url, MysqlConnectOptions& options) {
  for (const auto& [key, value] : url.params) {
    if (key == "ssl-mode" || key == "sslmode") {
      std::string mode;
      for (char c : value) mode += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      for (char& c : mode) c = c == '-' ? '_' : c;
      if (mode == "DISABLED" || mode == "DISABLE" || mode == "PREFERRED" || mode == "PREFER") {
        options.tls_required = false;
      } else if (mode == "REQUIRED" || mode == "REQUIRE") {
        options.tls_required = true;
      } else if (mode == "VERIFY_CA" || mode == "VERIFY_IDENTITY" || mode == "VERIFY_FULL") {
        options.tls_required = true;
        options.tls_verify_server = true;
      } else {
        return Fail(ErrorCode::kInvalidRequest,
                    "unknown ssl-mode '" + value +
                        "' (expected DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)",
                    "url");
      }
    } else if (key == "ssl-ca" || key == "sslrootcert") {
      options.tls_ca = value;
    } else {
      return Fail(ErrorCode::kInvalidRequest,
                  "unknown MySQL/MariaDB URL parameter '" + key + "' (expected ssl-mode, ssl-ca)",
                  "url");
    }
  }
  return Ok();
}

}  // namespace

const SqlDialect& MysqlDialect() {
  static const SqlDialect dialect{
      .name = "mysql",
      .migrations = kMigrations,
      .create_migrations_table =
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL"
          ") ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
  };
  return dialect;
}

Result<MysqlConnectOptions> MysqlConnectOptionsFromUrl(const DatabaseUrl& url,
                                                       const DatabaseOptions& options) {
  MysqlConnectOptions connect;
  connect.host = url.host.empty() ? "127.0.0.1" : url.host;
  connect.port = url.port == 0 ? 3306 : url.port;
  connect.user = url.user;
  connect.password = url.password;
  connect.database = url.database;
  connect.connect_timeout = options.connect_timeout;
  if (connect.database.empty()) {
    return Fail(ErrorCode::kInvalidRequest, "a MySQL/MariaDB URL must name the database", "url");
  }
  if (auto applied = ApplyUrlParams(url, connect); !applied) {
    return tl::unexpected(std::move(applied.error()));
  }
  return connect;
}

Result<std::shared_ptr<Database>> OpenMysqlDatabase(const DatabaseOptions& options,
                                                    const Clock& clock) {
  auto url = ParseDatabaseUrl(options.url);
  if (!url) return tl::unexpected(std::move(url.error()));
  auto connect = MysqlConnectOptionsFromUrl(*url, options);
  if (!connect) return tl::unexpected(std::move(connect.error()));
  SqlConnector connector = [connect =
                                std::move(*connect)]() -> Result<std::unique_ptr<SqlConnection>> {
    auto connection = MysqlConnection::Connect(connect);
    if (!connection) return tl::unexpected(std::move(connection.error()));
    return std::unique_ptr<SqlConnection>(std::move(*connection));
  };
  return OpenSqlDatabase(MysqlDialect(), std::move(connector), options, clock,
                         DescribeDatabaseUrl(*url));
}

}  // namespace msgbroker::storage::sql
