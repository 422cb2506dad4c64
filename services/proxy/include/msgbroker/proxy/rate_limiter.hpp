#pragma once
// Per-client rate limits for the intake (PRODUCT.md §3: 429 with Retry-After).
//
// A token bucket per client: it holds up to `burst` tokens and refills at `per_second`; a message
// costs one token. A request is admitted when the bucket holds at least min(cost, burst) tokens,
// and then takes its whole cost, possibly leaving the bucket in debt: a batch larger than the
// burst can still get through (once the bucket is full), and the requests after it wait the debt
// out, so the long-run rate holds for any mix of single messages and batches.
//
// The buckets live in this process: with several proxies a client gets the limit at each of them,
// unless they share buckets in Redis (SharedRateLimiter, which falls back to this one).
// Thread-safe; sharded by client so I/O threads rarely wait for each other.

#include <array>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "msgbroker/storage/client_registry.hpp"

namespace msgbroker::proxy {

struct RateLimit {
  double per_second = 0;  // 0: no limit
  double burst = 0;       // bucket size in messages; at least 1 when limited
  bool unlimited() const { return per_second <= 0; }
};

struct RateDecision {
  bool allowed = true;
  double remaining = 0;  // whole tokens left after this request (0 when in debt)
  // Refused: when a request of this cost would be admitted. Admitted: zero.
  std::chrono::milliseconds retry_after{0};
  std::chrono::milliseconds until_full{0};  // until the bucket is full again
  RateLimit limit;                          // the limit applied (for the header fields)
};

// The limit for a client: its own from the registry (0 per second: unlimited), else `fallback`
// (the configured proxy.rate_limit).
RateLimit EffectiveRateLimit(const RateLimit& fallback,
                             const std::optional<storage::ClientRateLimit>& own);

class RateLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  RateDecision Take(std::string_view client, const RateLimit& limit, double cost, TimePoint now);

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint updated{};
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;  // one per client seen; clients are few
  };
  std::array<Shard, 16> shards_;
};

// The draft IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers):
//   RateLimit-Policy: "messages";q=<burst>;w=<seconds to refill the burst>
//   RateLimit: "messages";r=<remaining>;t=<seconds until full>
std::string RateLimitPolicyHeader(const RateLimit& limit);
std::string RateLimitHeader(const RateDecision& decision);
// Whole seconds for Retry-After, at least 1.
std::string RetryAfterSeconds(std::chrono::milliseconds delay);

}  // namespace msgbroker::proxy
