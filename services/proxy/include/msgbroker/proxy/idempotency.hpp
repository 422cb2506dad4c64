#pragma once
// Idempotency-Key on the proxy's intake (IETF draft-ietf-httpapi-idempotency-key-header; design
// in docs/adr/0010-idempotency-keys.md).
//
//  * The key is an sf-string (RFC 8941 String: "..." of printable ASCII, only \" and \\ escaped),
//    1..kMaxIdempotencyKeyLength characters, no parameters, one header field. Anything else: 400.
//  * Scope is (client id, key); the client id comes only from the verified certificate.
//  * The fingerprint is SHA-256 over method, target and the body bytes exactly as sent (no JSON
//    canonicalisation: a retry sends the same bytes).
//  * The message ids of a keyed request are derived from (client id, key, fingerprint, item
//    index): a retry after a lost answer re-enqueues the same ids, and the main server stores each
//    id once; the same key reused for another request after expiry gets other ids.
//  * A store keeps, per scope, either a claim (in flight, with a lease so that a crashed proxy does
//    not block the key forever) or the completed answer (status, content type, body) until it
//    expires. Claims are atomic (one Lua script in Redis, one transaction in SQLite).
//  * Store calls never block the caller: they run on the store's own thread and call back there.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::proxy {

inline constexpr std::string_view kIdempotencyKeyHeader = "Idempotency-Key";
inline constexpr std::string_view kIdempotentReplayedHeader = "Idempotent-Replayed";
inline constexpr std::size_t kMaxIdempotencyKeyLength = 255;

// The key from the Idempotency-Key field value (an sf-string); kInvalidRequest naming the header
// when it is not one, is empty or is longer than kMaxIdempotencyKeyLength.
Result<std::string> ParseIdempotencyKey(std::string_view field_value);

// Lowercase hex SHA-256 over method, target and body (length-prefixed, so no two requests share
// an encoding).
std::string RequestFingerprint(std::string_view method, std::string_view target,
                               std::string_view body);

// Lowercase hex SHA-256 of the key: stores keep this, never the key itself.
std::string IdempotencyKeyHash(std::string_view key);

// The message id of item `index` of a keyed request: SHA-256 over a domain label, the client id,
// the key, the request fingerprint and the index, shaped as an RFC 9562 UUID version 8 (custom)
// with the RFC variant.
MessageId DerivedMessageId(const ClientId& client, std::string_view key,
                           std::string_view fingerprint, std::size_t index);

// A request that carried a valid key: whose it is, and the ids its messages get.
struct IdempotentRequest {
  ClientId client;
  std::string key;
  std::string fingerprint;
  MessageId IdFor(std::size_t index) const {
    return DerivedMessageId(client, key, fingerprint, index);
  }
};

struct IdempotencyOptions {
  std::chrono::milliseconds ttl{std::chrono::hours{24}};  // a completed answer is kept this long
  std::chrono::milliseconds lease{
      std::chrono::seconds{60}};  // an unfinished claim blocks this long
};

// What is replayed: the first answer's status, Content-Type and body.
struct StoredAnswer {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

struct IdempotencyScope {
  std::string client_id;
  std::string key_hash;  // IdempotencyKeyHash(key)
};

enum class ClaimState {
  kClaimed,    // the caller now holds the key: process the request, then Complete or Release
  kInFlight,   // another request holds an unexpired claim
  kCompleted,  // answered before and not expired: `answer`
};

struct ClaimResult {
  ClaimState state = ClaimState::kClaimed;
  std::string fingerprint;  // of the request that claimed or completed (kInFlight, kCompleted)
  StoredAnswer answer;      // kCompleted
};

class IdempotencyStore {
 public:
  using ClaimCallback = std::function<void(Result<ClaimResult>)>;
  using DoneCallback = std::function<void(Status)>;

  virtual ~IdempotencyStore() = default;

  // Atomically: when the scope has no live record (none, an expired answer, or a claim whose
  // lease ran out) it becomes a claim by `token` (lease from the injected clock) and the result
  // is kClaimed; otherwise the live record is returned unchanged.
  virtual void ClaimAsync(IdempotencyScope scope, std::string fingerprint, std::string token,
                          ClaimCallback done) = 0;
  // The claim held by `token` becomes the completed answer, kept for the ttl. Ok and nothing
  // changes when the token no longer holds the claim (its lease ran out and another took it).
  virtual void CompleteAsync(IdempotencyScope scope, std::string token, StoredAnswer answer,
                             DoneCallback done) = 0;
  // The claim held by `token` is dropped (the request was not answered with a success).
  virtual void ReleaseAsync(IdempotencyScope scope, std::string token, DoneCallback done) = 0;
  // Runs what is pending, then refuses new calls (their callbacks get kServiceUnavailable).
  virtual void Close() = 0;
};

// The local store of `msgbroker up`: a SQLite file (WAL), expired rows purged as it goes.
Result<std::unique_ptr<IdempotencyStore>> OpenSqliteIdempotencyStore(
    const std::filesystem::path& file, IdempotencyOptions options, const Clock& clock);

struct RedisIdempotencyOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
  std::string key_prefix = "msgbroker:";  // keys are <prefix>idem:<client id>:<key hash>
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
};

// The store of separate proxy processes sharing one Redis: one hash per scope, with a Redis TTL
// as well (expiry itself is decided by the injected clock, the TTL only collects garbage).
// Connects lazily; an unreachable Redis fails the call with kServiceUnavailable.
Result<std::unique_ptr<IdempotencyStore>> OpenRedisIdempotencyStore(RedisIdempotencyOptions redis,
                                                                    IdempotencyOptions options,
                                                                    const Clock& clock);

}  // namespace msgbroker::proxy
