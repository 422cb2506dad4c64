#pragma once
// Per-client rate limits shared by several proxies through Redis (docs/adr/0011).
//
// Decisions stay on the I/O thread and never wait for Redis: each proxy spends tokens it LEASED
// from the client's shared bucket (queue::RedisRateBuckets), in chunks of about a quarter of the
// burst. A background thread tops leases up when they run low (at once, and every
// refill_interval while a client is short), charges any debt a batch ran up, and gives unused
// tokens back once a client has been idle for idle_return. Together the proxies admit about
// burst + rate * t; what a proxy holds unused is at most one chunk per active client.
//
// A client new to this proxy gets its first request admitted on credit (charged to the shared
// bucket at the next exchange) instead of waiting for its first lease; so the proxies together
// can exceed the burst by one request per proxy when a client starts or comes back after being
// idle.
//
// Redis unreachable: decisions fall back to this process's own RateLimiter (fail open to the
// LOCAL limit, never to no limit), counted in proxy_rate_limit_decisions_total{store="local"}
// and shown by proxy_rate_limit_shared_up 0; the thread probes Redis every retry_interval and
// goes back to the shared buckets when it answers.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "msgbroker/proxy/rate_limiter.hpp"
#include "msgbroker/queue/redis_rate_buckets.hpp"

namespace prometheus {
class Registry;
}

namespace msgbroker::proxy {

struct SharedRateLimiterOptions {
  std::chrono::milliseconds refill_interval{20};
  std::chrono::milliseconds idle_return{1000};
  std::chrono::milliseconds retry_interval{1000};
};

class SharedRateLimiter {
 public:
  using TimePoint = RateLimiter::TimePoint;

  SharedRateLimiter(std::unique_ptr<queue::RedisRateBuckets> buckets,
                    SharedRateLimiterOptions options, prometheus::Registry& metrics);
  ~SharedRateLimiter();
  SharedRateLimiter(const SharedRateLimiter&) = delete;
  SharedRateLimiter& operator=(const SharedRateLimiter&) = delete;

  // Starts the background thread (Redis is first tried there, never here).
  void Start();
  void Stop();

  // Never blocks on Redis. Same semantics as RateLimiter::Take.
  RateDecision Take(std::string_view client, const RateLimit& limit, double cost, TimePoint now);
  // True while decisions use the shared buckets; false while Redis is unreachable.
  bool shared() const noexcept { return shared_.load(); }
  // Tokens this proxy holds for `client` (tests).
  double LeasedTokens(std::string_view client) const;

 private:
  struct Lease {
    RateLimit limit;
    double tokens = 0;  // leased and unspent; negative: spent on credit, to be charged
    double shared_level = 0;
    TimePoint last_used{};
    bool exchanged = false;  // has been through one exchange with Redis
    bool credit_used = false;
  };
  struct Metrics;
  static double Chunk(const RateLimit& limit);
  void Run();
  void ExchangeOnce();

  std::unique_ptr<queue::RedisRateBuckets> buckets_;
  const SharedRateLimiterOptions options_;
  std::unique_ptr<Metrics> metrics_;
  RateLimiter local_;  // the fallback while Redis is unreachable
  std::atomic<bool> shared_{false};

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool wanted_ = false;  // a lease ran low: exchange now
  std::unordered_map<std::string, Lease> leases_;
  std::thread thread_;
};

}  // namespace msgbroker::proxy
