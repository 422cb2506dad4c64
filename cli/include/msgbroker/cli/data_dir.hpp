#pragma once
// The embedded data directory that `msgbroker up` creates on its first run and reuses after:
//
//   <root>/msgbroker.json          marker: format version and creation time (written last)
//   <root>/pki/ca.crt, ca.key      the CA (key 0600)
//   <root>/pki/<role>.crt/.key     service certificates: main-server, proxy, worker, portal, admin
//   <root>/clients/demo/           demo client: client.crt, client.key, ca.crt
//   <root>/secrets/keyring.json    AES-256-GCM key ring (0600)
//   <root>/secrets/sender-hmac.key HMAC key for sender numbers (0600)
//   <root>/secrets/envelope.pub    X25519 public key the proxy seals queue content to
//   <root>/secrets/envelope.key    its secret key, for the main server (0600)
//   <root>/db/msgbroker.db         SQLite database
//   <root>/queue/                  embedded durable queue
//   <root>/db/idempotency.db       Idempotency-Key records of the proxy (SQLite)
// The directory itself is 0700.

#include <filesystem>
#include <string>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/pki/certificate_info.hpp"

namespace msgbroker::cli {

inline constexpr std::string_view kDemoClientId = "demo";

struct DataDirLayout {
  std::filesystem::path root;
  std::filesystem::path marker() const { return root / "msgbroker.json"; }
  std::filesystem::path pki_dir() const { return root / "pki"; }
  std::filesystem::path ca_cert() const { return pki_dir() / "ca.crt"; }
  std::filesystem::path ca_key() const { return pki_dir() / "ca.key"; }
  // Certificate and client actions (msgbroker/audit/audit_log.hpp), next to the CA key they need.
  std::filesystem::path audit_log() const { return pki_dir() / "audit.log"; }
  std::filesystem::path service_cert(pki::ServiceRole role) const;
  std::filesystem::path service_key(pki::ServiceRole role) const;
  std::filesystem::path client_dir(std::string_view client_id) const {
    return root / "clients" / std::string(client_id);
  }
  std::filesystem::path secrets_dir() const { return root / "secrets"; }
  std::filesystem::path key_ring() const { return secrets_dir() / "keyring.json"; }
  std::filesystem::path sender_key() const { return secrets_dir() / "sender-hmac.key"; }
  std::filesystem::path envelope_public_key() const { return secrets_dir() / "envelope.pub"; }
  std::filesystem::path envelope_secret_key() const { return secrets_dir() / "envelope.key"; }
  std::filesystem::path database() const { return root / "db" / "msgbroker.db"; }
  std::filesystem::path idempotency_db() const { return root / "db" / "idempotency.db"; }
  std::filesystem::path queue_dir() const { return root / "queue"; }
};

struct DataDirStatus {
  DataDirLayout layout;
  bool created = false;  // true when this call bootstrapped it
};

// Reuses an initialised data directory, or bootstraps a missing or empty one (CA, service
// certificates, demo client registered in the database, keys, database). Errors: the path exists
// but is not a directory, is not readable/writable, or is a non-empty directory that is not a
// msgbroker data directory (or a bootstrap that was interrupted: remove it and run again).
Result<DataDirStatus> OpenOrCreateDataDir(const std::filesystem::path& root, const Clock& clock);

// An existing, initialised data directory (admin commands never create one).
Result<DataDirLayout> OpenDataDir(const std::filesystem::path& root);

}  // namespace msgbroker::cli
