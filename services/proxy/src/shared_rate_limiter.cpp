#include "msgbroker/proxy/shared_rate_limiter.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace msgbroker::proxy {

namespace {

std::chrono::milliseconds SecondsToMillis(double seconds) {
  return std::chrono::milliseconds{static_cast<std::int64_t>(std::ceil(seconds * 1000.0))};
}

}  // namespace

struct SharedRateLimiter::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : decisions(prometheus::BuildCounter()
                      .Name("proxy_rate_limit_decisions_total")
                      .Help("Rate limit decisions by where the bucket was (redis: shared; local: "
                            "this process, while Redis is unreachable) and result")
                      .Register(registry)),
        redis_admitted(decisions.Add({{"store", "redis"}, {"result", "admitted"}})),
        redis_limited(decisions.Add({{"store", "redis"}, {"result", "limited"}})),
        local_admitted(decisions.Add({{"store", "local"}, {"result", "admitted"}})),
        local_limited(decisions.Add({{"store", "local"}, {"result", "limited"}})),
        shared_up(prometheus::BuildGauge()
                      .Name("proxy_rate_limit_shared_up")
                      .Help("1 while rate limits use the shared buckets in Redis, 0 while they "
                            "fall back to this process's own buckets")
                      .Register(registry)
                      .Add({})),
        round_trips(prometheus::BuildCounter()
                        .Name("proxy_rate_limit_redis_round_trips_total")
                        .Help("Round trips to Redis for rate limit leases, by outcome")
                        .Register(registry)),
        round_trips_ok(round_trips.Add({{"outcome", "ok"}})),
        round_trips_failed(round_trips.Add({{"outcome", "failed"}})) {}
  prometheus::Family<prometheus::Counter>& decisions;
  prometheus::Counter& redis_admitted;
  prometheus::Counter& redis_limited;
  prometheus::Counter& local_admitted;
  prometheus::Counter& local_limited;
  prometheus::Gauge& shared_up;
  prometheus::Family<prometheus::Counter>& round_trips;
  prometheus::Counter& round_trips_ok;
  prometheus::Counter& round_trips_failed;
};

SharedRateLimiter::SharedRateLimiter(std::unique_ptr<queue::RedisRateBuckets> buckets,
                                     SharedRateLimiterOptions options,
                                     prometheus::Registry& metrics)
    : buckets_(std::move(buckets)),
      options_(options),
      metrics_(std::make_unique<Metrics>(metrics)) {}

SharedRateLimiter::~SharedRateLimiter() { Stop(); }

void SharedRateLimiter::Start() {
  if (thread_.joinable()) return;
  // One bounded probe before serving (not on an I/O thread), so the first requests already share.
  const bool up = static_cast<bool>(buckets_->Ping());
  shared_.store(up);
  metrics_->shared_up.Set(up ? 1 : 0);
  if (!up) spdlog::warn("event=rate_limit_fallback reason=\"redis unreachable at start\"");
  thread_ = std::thread([this] { Run(); });
}

void SharedRateLimiter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

double SharedRateLimiter::Chunk(const RateLimit& limit) {
  const double burst = std::max(1.0, limit.burst);
  return std::clamp(std::ceil(burst / 4.0), 1.0, burst);
}

double SharedRateLimiter::LeasedTokens(std::string_view client) const {
  std::lock_guard lock(mu_);
  auto it = leases_.find(std::string(client));
  return it == leases_.end() ? 0 : it->second.tokens;
}

RateDecision SharedRateLimiter::Take(std::string_view client, const RateLimit& limit, double cost,
                                     TimePoint now) {
  if (limit.unlimited()) return {};
  if (!shared_.load()) {
    RateDecision d = local_.Take(client, limit, cost, now);
    (d.allowed ? metrics_->local_admitted : metrics_->local_limited).Increment(cost);
    return d;
  }
  const double burst = std::max(1.0, limit.burst);
  const double needed = std::min(cost, burst);
  RateDecision d;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    auto [it, fresh] = leases_.try_emplace(std::string(client));
    Lease& lease = it->second;
    const double before = lease.tokens;
    lease.limit = limit;
    lease.last_used = now;
    const bool enough = lease.tokens + 1e-9 >= needed;
    const bool on_credit = !enough && !lease.exchanged && !lease.credit_used;
    if (enough || on_credit) {
      if (on_credit) lease.credit_used = true;
      lease.tokens -= cost;
    } else {
      d.allowed = false;
      d.retry_after = SecondsToMillis((needed - lease.tokens) / limit.per_second);
    }
    const double available = std::max(0.0, lease.tokens) + std::max(0.0, lease.shared_level);
    d.remaining = std::max(0.0, std::floor(std::min(burst, available) + 1e-9));
    d.until_full = SecondsToMillis((burst - std::min(burst, available)) / limit.per_second);
    // Exchange at once when the lease is new or has just run low; a client that stays short is
    // topped up every refill_interval (not once per refused request).
    const double low = Chunk(limit) / 2;
    if ((fresh || (before >= low && lease.tokens < low)) && !wanted_) wanted_ = wake = true;
  }
  if (wake) wake_.notify_one();
  (d.allowed ? metrics_->redis_admitted : metrics_->redis_limited).Increment(cost);
  return d;
}

void SharedRateLimiter::Run() {
  auto next_probe = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.refill_interval, [this] { return stopping_ || wanted_; });
    if (stopping_) break;
    wanted_ = false;
    if (!shared_.load()) {
      const auto now = std::chrono::steady_clock::now();
      if (now < next_probe) continue;
      next_probe = now + options_.retry_interval;
      lock.unlock();
      const bool up = static_cast<bool>(buckets_->Ping());
      lock.lock();
      if (up) {
        leases_.clear();
        shared_.store(true);
        metrics_->shared_up.Set(1);
        spdlog::info("event=rate_limit_shared reason=\"redis reachable again\"");
      }
      continue;
    }
    lock.unlock();
    ExchangeOnce();
    lock.lock();
    if (!shared_.load()) next_probe = std::chrono::steady_clock::now() + options_.retry_interval;
  }
}

// One round trip for every lease that needs one: top up the short ones (charging their debt),
// give back what idle clients hold.
void SharedRateLimiter::ExchangeOnce() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<queue::BucketRequest> requests;
  std::vector<bool> returning;
  {
    std::lock_guard lock(mu_);
    for (auto it = leases_.begin(); it != leases_.end();) {
      Lease& lease = it->second;
      const bool idle = now - lease.last_used > options_.idle_return;
      const double chunk = Chunk(lease.limit);
      if (idle && lease.tokens == 0) {
        it = leases_.erase(it);  // nothing held, nothing owed
        continue;
      }
      if (!idle && lease.tokens >= chunk / 2) {
        ++it;
        continue;
      }
      queue::BucketRequest r;
      r.client = it->first;
      r.per_second = lease.limit.per_second;
      r.burst = std::max(1.0, lease.limit.burst);
      // What the lease owes (< 0: what it gives back) moves to the shared bucket now.
      r.debt = -lease.tokens;
      r.want = idle ? 0 : chunk;
      lease.tokens = 0;
      requests.push_back(std::move(r));
      returning.push_back(idle);
      ++it;
    }
  }
  if (requests.empty()) return;
  auto grants = buckets_->Exchange(requests);
  std::lock_guard lock(mu_);
  if (!grants) {
    metrics_->round_trips_failed.Increment();
    // Tokens held or owed are forgotten: the local buckets take over until Redis is back.
    leases_.clear();
    shared_.store(false);
    metrics_->shared_up.Set(0);
    spdlog::warn("event=rate_limit_fallback error=\"{}\"", grants.error().message);
    return;
  }
  metrics_->round_trips_ok.Increment();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto it = leases_.find(requests[i].client);
    if (it == leases_.end()) continue;
    Lease& lease = it->second;
    lease.tokens += (*grants)[i].granted;
    lease.shared_level = (*grants)[i].level;
    lease.exchanged = true;
    if (returning[i] && lease.tokens == 0 && now - lease.last_used > options_.idle_return) {
      leases_.erase(it);  // a later request starts afresh (with its one request of credit)
    }
  }
}

}  // namespace msgbroker::proxy
