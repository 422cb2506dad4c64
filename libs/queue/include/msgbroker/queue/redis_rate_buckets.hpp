#pragma once
// Token buckets that several proxies share, in the Redis of the queue (docs/adr/0011): one hash
// `<key_prefix>ratelimit:<client>` per client holding its tokens and when they were counted.
//
//  * Each request is one atomic Lua script (EVALSHA): refill by the time passed, charge the debt
//    the caller ran up on its own, then grant up to `want` WHOLE tokens the bucket holds. The
//    clock is Redis's (TIME inside the script): every proxy sees the same time, so clock skew
//    between proxy hosts does not matter.
//  * Every write sets a TTL of the time to refill the whole bucket (+1 s): a key that expired is
//    exactly a full bucket, so idle clients leave nothing behind.
//  * Blocking, not thread-safe: used by one background thread (SharedRateLimiter); an I/O thread
//    never calls it. Reconnects by itself on the next call after a failure.

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/result.hpp"

namespace msgbroker::queue {

struct RedisRateBucketsOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // AUTH when not empty
  int db = 0;
  std::string key_prefix = "msgbroker:";
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds command_timeout{500};
};

struct BucketRequest {
  std::string client;
  double per_second = 0;  // > 0
  double burst = 1;       // >= 1
  double debt = 0;        // tokens spent beyond what was granted (< 0: unused tokens given back)
  double want = 0;        // whole tokens to take, if the bucket has them
};

struct BucketGrant {
  double granted = 0;  // whole tokens taken from the shared bucket
  double level = 0;    // tokens left in it afterwards (negative: in debt)
};

class RedisRateBuckets {
 public:
  explicit RedisRateBuckets(RedisRateBucketsOptions options);
  ~RedisRateBuckets();
  RedisRateBuckets(const RedisRateBuckets&) = delete;
  RedisRateBuckets& operator=(const RedisRateBuckets&) = delete;

  // All requests in one round trip (a pipeline of one script call each); the grants in order.
  // kQueueUnavailable when Redis cannot be reached or answers with an error.
  Result<std::vector<BucketGrant>> Exchange(std::span<const BucketRequest> requests);
  // One PING: whether Redis is back.
  Status Ping();
  std::string KeyFor(std::string_view client) const;
  const RedisRateBucketsOptions& options() const noexcept { return options_; }

 private:
  struct Impl;
  RedisRateBucketsOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace msgbroker::queue
