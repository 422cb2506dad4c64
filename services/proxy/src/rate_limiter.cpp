#include "msgbroker/proxy/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace msgbroker::proxy {

namespace {

std::chrono::milliseconds SecondsToMillis(double seconds) {
  return std::chrono::milliseconds{static_cast<std::int64_t>(std::ceil(seconds * 1000.0))};
}

}  // namespace

RateDecision RateLimiter::Take(std::string_view client, const RateLimit& limit, double cost,
                               TimePoint now) {
  if (limit.unlimited()) return {};
  const double burst = std::max(1.0, limit.burst);
  Shard& shard = shards_[std::hash<std::string_view>{}(client) % shards_.size()];
  std::lock_guard lock(shard.mu);
  auto [it, fresh] = shard.buckets.try_emplace(std::string(client), Bucket{burst, now});
  Bucket& b = it->second;
  if (!fresh && now > b.updated) {
    const double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(burst, b.tokens + elapsed * limit.per_second);
    b.updated = now;
  }
  b.tokens = std::min(b.tokens, burst);  // the limit may have been lowered since
  const double needed = std::min(cost, burst);
  RateDecision d;
  if (b.tokens + 1e-9 < needed) {
    d.allowed = false;
    d.retry_after = SecondsToMillis((needed - b.tokens) / limit.per_second);
  } else {
    b.tokens -= cost;
  }
  d.remaining = std::max(0.0, std::floor(b.tokens + 1e-9));
  d.until_full = SecondsToMillis((burst - b.tokens) / limit.per_second);
  return d;
}

RateLimit EffectiveRateLimit(const RateLimit& fallback,
                             const std::optional<storage::ClientRateLimit>& own) {
  if (!own) return fallback;
  return RateLimit{static_cast<double>(own->per_second), static_cast<double>(own->burst)};
}

std::string RateLimitPolicyHeader(const RateLimit& limit) {
  const double burst = std::max(1.0, limit.burst);
  const auto window = static_cast<std::int64_t>(std::ceil(burst / limit.per_second));
  return "\"messages\";q=" + std::to_string(static_cast<std::int64_t>(burst)) +
         ";w=" + std::to_string(std::max<std::int64_t>(1, window));
}

std::string RateLimitHeader(const RateDecision& decision) {
  const auto seconds = (decision.until_full.count() + 999) / 1000;
  return "\"messages\";r=" + std::to_string(static_cast<std::int64_t>(decision.remaining)) +
         ";t=" + std::to_string(seconds);
}

std::string RetryAfterSeconds(std::chrono::milliseconds delay) {
  return std::to_string(std::max<std::int64_t>(1, (delay.count() + 999) / 1000));
}

}  // namespace msgbroker::proxy
