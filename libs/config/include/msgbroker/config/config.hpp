#pragma once
// Typed configuration of the four services, one struct per service. Every field has a default,
// so a file only names what differs. docs/CONFIGURATION.md describes the keys, the `${ENV}`
// expansion and the environment variables that override the file.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace msgbroker::config {

enum class TlsVersion { kTls12, kTls13 };
enum class QueueType { kEmbedded, kRedis };

struct ListenConfig {
  std::string host = "0.0.0.0";
  std::uint16_t port = 0;
  std::size_t io_threads = 2;
};

// Server side: the service's certificate and the CA its peers must chain to. Worker: its client
// certificate for the main server and the CA the main server must chain to.
struct TlsConfig {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;  // secret: must not be readable by group or others
  std::filesystem::path ca_file;
  TlsVersion min_version = TlsVersion::kTls12;
  // Narrow the built-in policy (ECDHE + AEAD only; see msgbroker/net/tls.hpp); empty = default.
  std::string ciphers;        // TLS 1.2 suites, ':'-separated OpenSSL names
  std::string cipher_suites;  // TLS 1.3 suites
  std::string groups;         // key exchange groups, e.g. "X25519:P-256"
};

// Per-client intake limit of a proxy (token bucket): every client may send `messages_per_second`
// on average and `burst` at once; each message of a batch counts. 0 = no limit.
struct RateLimitConfig {
  std::uint32_t messages_per_second = 0;
  std::uint32_t burst = 0;  // 0 = twice messages_per_second
};

// API keys at the proxy for senders without a client certificate (docs/adr/0012). Off by
// default: then a request without a certificate is refused as before.
struct ApiKeysConfig {
  bool enabled = false;
};

// Idempotency-Key (docs/adr/0010-idempotency-keys.md): how long an answer is replayed, and how
// long an unfinished request blocks its key (a crashed proxy's claim ends after it).
struct IdempotencyConfig {
  std::chrono::milliseconds ttl{std::chrono::hours{24}};
  std::chrono::milliseconds lease{std::chrono::seconds{60}};
};

struct LimitsConfig {
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_connections = 4096;
  std::chrono::milliseconds handshake_timeout{5'000};
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
};

struct EmbeddedQueueConfig {
  std::filesystem::path directory = "/var/lib/msgbroker/queue";
  bool fsync = true;
};

struct RedisConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::filesystem::path password_file;  // preferred over the REDIS_PASSWORD variable
  std::string password;                 // filled by ResolveSecrets (file) or REDIS_PASSWORD
  std::uint32_t db = 0;
  std::string key_prefix = "msgbroker:";
};

struct QueueConfig {
  QueueType type = QueueType::kEmbedded;
  // Messages the queue holds at most (ready + delayed + in flight); beyond, enqueues are refused
  // with 503 QUEUE_UNAVAILABLE and nothing of the request is stored.
  std::size_t max_messages = 1'000'000;
  EmbeddedQueueConfig embedded;
  RedisConfig redis;
};

struct DatabaseConfig {
  // sqlite://PATH, postgresql://…, mysql://…. A URL that carries a password belongs in url_file.
  std::string url = "sqlite:///var/lib/msgbroker/msgbroker.db";
  std::filesystem::path url_file;  // when set, ResolveSecrets replaces `url` with its content
  std::size_t pool_size = 4;
  bool migrate = true;  // apply pending migrations at start
};

struct WorkerSettings {
  std::size_t concurrency = 1;
  std::size_t batch_size = 500;
  std::uint32_t max_attempts = 10;
  std::chrono::milliseconds max_age{std::chrono::hours{24}};
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{60'000};
  std::chrono::milliseconds visibility_timeout{30'000};
};

struct SecretsConfig {
  std::filesystem::path key_ring_file;             // main server (secret)
  std::filesystem::path sender_hmac_key_file;      // main server (secret)
  std::filesystem::path envelope_public_key_file;  // proxy seals to it; main server checks it
  std::filesystem::path envelope_secret_key_file;  // main server (secret)
  // Optional, main server: the CA that signs the CRL it publishes at GET /api/v1/crl. Both or
  // neither; the key is a secret file.
  std::filesystem::path ca_cert_file;
  std::filesystem::path ca_key_file;
};

struct ProxyConfig {
  static constexpr std::string_view kSection = "proxy";
  ListenConfig listen{.port = 8001};
  TlsConfig tls;
  // Batch submissions (api::kMaxBatchBodyBytes); the single-message route checks its own limit.
  LimitsConfig limits{.max_body_bytes = 4 * 1024 * 1024};
  QueueConfig queue;
  DatabaseConfig database;  // the client registry
  SecretsConfig secrets;    // only envelope_public_key_file
  std::chrono::milliseconds registry_refresh_interval{2'000};
  RateLimitConfig rate_limit;
  IdempotencyConfig idempotency;  // keys live in the queue's Redis, under its key_prefix
  std::string log_level = "info";
  ApiKeysConfig api_keys;  // refreshed every registry_refresh_interval
};

struct MainServerConfig {
  static constexpr std::string_view kSection = "main_server";
  ListenConfig listen{.port = 8000};
  TlsConfig tls;
  LimitsConfig limits{.max_body_bytes = 16 * 1024 * 1024};  // whole delivery batches
  DatabaseConfig database;
  SecretsConfig secrets;
  std::string log_level = "info";
  // Optional: the audit log of the admin certificate API (/api/v1/admin/certificates), which
  // answers 503 without it.
  std::filesystem::path audit_log_file;
};

struct WorkerConfig {
  static constexpr std::string_view kSection = "worker";
  ListenConfig metrics{.port = 9100, .io_threads = 1};  // plain HTTP: /metrics and health
  TlsConfig tls;                                        // client certificate (role worker)
  QueueConfig queue;
  std::string main_server_url = "https://127.0.0.1:8000";
  WorkerSettings worker;
  std::string log_level = "info";
};

struct PortalConfig {
  static constexpr std::string_view kSection = "portal";
  ListenConfig listen{.port = 8080};
  TlsConfig tls;
  LimitsConfig limits;
  std::string main_server_url = "https://127.0.0.1:8000";
  std::string proxy_url = "https://127.0.0.1:8001";
  std::string worker_metrics_url = "http://127.0.0.1:9100/metrics";
  std::string log_level = "info";
};

}  // namespace msgbroker::config
