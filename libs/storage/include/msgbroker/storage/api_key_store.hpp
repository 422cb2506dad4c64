#pragma once
// API keys: an optional way in for senders that cannot hold a client certificate (docs/SECURITY.md,
// "API keys"; docs/adr/0012). A key is `mbk_<key id>_<secret>`; the store keeps the public key
// id, the client it belongs to and a SHA-256 hash of the whole key, never the key itself. Keys are
// created and revoked by the CLI (`msgbroker admin apikey ...`); the proxy keeps a snapshot of
// the keys that are not revoked (ListActive), refreshed in the background.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/storage/client_registry.hpp"

namespace msgbroker::storage {

struct ApiKey {
  std::string key_id;  // primary key: 16 lowercase hex digits, public (part of the key)
  ClientId client_id;
  std::string secret_hash;  // lowercase hex SHA-256 of the whole key
  std::string label;        // the operator's note, for display; may be empty
  // CIDRs ("192.0.2.0/24", "2001:db8::/32") the key may be used from; empty: from anywhere.
  std::vector<std::string> allowed_cidrs;
  SystemTime created_at{};
  std::optional<SystemTime> expires_at;  // none: does not expire
  std::optional<SystemTime> revoked_at;  // set once, by Revoke
  std::string revoked_reason;
};

// A key that is not revoked, with its client: what the proxy needs to decide.
struct ApiKeyIdentity {
  ApiKey key;
  Client client;
};

class ApiKeyStore {
 public:
  virtual ~ApiKeyStore() = default;
  // kAlreadyExists when the key id is taken; kNotFound when the client does not exist;
  // kInvalidRequest for an empty key id or hash, or a CIDR list entry holding a comma.
  virtual Status Create(const ApiKey& key) = 0;
  virtual Result<std::optional<ApiKey>> Get(std::string_view key_id) = 0;
  // Every key (revoked ones too), of one client or of all, ordered by client, creation, id.
  virtual Result<std::vector<ApiKey>> List(const std::optional<ClientId>& client_id) = 0;
  // Keys not revoked, joined with their client (whatever its status).
  virtual Result<std::vector<ApiKeyIdentity>> ListActive() = 0;
  // kNotFound when there is no such key; kAlreadyExists when it is revoked already (the first
  // revocation's time and reason stay).
  virtual Status Revoke(std::string_view key_id, SystemTime at, std::string_view reason) = 0;
};

// The allowed CIDRs as stored: joined with ',' ("" for none), and back.
std::string JoinCidrs(const std::vector<std::string>& cidrs);
std::vector<std::string> SplitCidrs(std::string_view joined);

}  // namespace msgbroker::storage
