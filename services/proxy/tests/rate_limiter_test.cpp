#include "msgbroker/proxy/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace msgbroker::proxy {
namespace {

using namespace std::chrono_literals;
using TimePoint = RateLimiter::TimePoint;

const TimePoint t0{};

TEST(RateLimiterTest, BurstThenRefillAtTheRate) {
  RateLimiter limiter;
  const RateLimit limit{10, 5};  // 10/s, bucket of 5
  for (int i = 0; i < 5; ++i) {
    const auto d = limiter.Take("c", limit, 1, t0);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 4 - i);
  }
  const auto refused = limiter.Take("c", limit, 1, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 100ms);  // one token at 10/s
  EXPECT_EQ(refused.until_full, 500ms);
  EXPECT_FALSE(limiter.Take("c", limit, 1, t0 + 99ms).allowed);
  EXPECT_TRUE(limiter.Take("c", limit, 1, t0 + 100ms).allowed);
  // A long pause refills to the burst, not beyond.
  const auto later = limiter.Take("c", limit, 1, t0 + 1h);
  ASSERT_TRUE(later.allowed);
  EXPECT_EQ(later.remaining, 4);
}

TEST(RateLimiterTest, AClientsOwnLimitReplacesTheDefault) {
  const RateLimit fallback{10, 5};
  const auto none = EffectiveRateLimit(fallback, std::nullopt);
  EXPECT_EQ(none.per_second, 10);
  EXPECT_EQ(none.burst, 5);
  const auto own = EffectiveRateLimit(fallback, storage::ClientRateLimit{2, 40});
  EXPECT_EQ(own.per_second, 2);
  EXPECT_EQ(own.burst, 40);
  EXPECT_TRUE(EffectiveRateLimit(fallback, storage::ClientRateLimit{0, 0}).unlimited());
  // Even when nothing is configured, a client's own limit applies.
  EXPECT_FALSE(EffectiveRateLimit(RateLimit{}, storage::ClientRateLimit{1, 1}).unlimited());
}

TEST(RateLimiterTest, ClientsHaveTheirOwnBuckets) {
  RateLimiter limiter;
  const RateLimit limit{1, 1};
  EXPECT_TRUE(limiter.Take("a", limit, 1, t0).allowed);
  EXPECT_FALSE(limiter.Take("a", limit, 1, t0).allowed);
  EXPECT_TRUE(limiter.Take("b", limit, 1, t0).allowed);
}

// A batch above the burst is admitted from a full bucket and leaves a debt that later requests
// wait out: 100 messages at 10/s with a burst of 20 -> the next message waits 8 s + 0.1 s.
TEST(RateLimiterTest, LargeBatchGoesIntoDebtSoTheLongRunRateHolds) {
  RateLimiter limiter;
  const RateLimit limit{10, 20};
  const auto batch = limiter.Take("c", limit, 100, t0);
  ASSERT_TRUE(batch.allowed);
  EXPECT_EQ(batch.remaining, 0);
  EXPECT_EQ(batch.until_full, 10'000ms);
  const auto next = limiter.Take("c", limit, 1, t0);
  EXPECT_FALSE(next.allowed);
  EXPECT_EQ(next.retry_after, 8'100ms);
  EXPECT_TRUE(limiter.Take("c", limit, 1, t0 + 8'100ms).allowed);
  // A second big batch needs a full bucket (the burst), not its whole cost.
  EXPECT_FALSE(limiter.Take("c", limit, 100, t0 + 9s).allowed);
  EXPECT_TRUE(limiter.Take("c", limit, 100, t0 + 10'100ms).allowed);
}

TEST(RateLimiterTest, NoLimitAdmitsEverything) {
  RateLimiter limiter;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.Take("c", {}, 500, t0).allowed);
}

TEST(RateLimiterTest, HeadersFollowTheDraft) {
  const RateLimit limit{50, 100};
  EXPECT_EQ(RateLimitPolicyHeader(limit), "\"messages\";q=100;w=2");
  RateDecision d;
  d.remaining = 7;
  d.until_full = 1'860ms;
  EXPECT_EQ(RateLimitHeader(d), "\"messages\";r=7;t=2");
  EXPECT_EQ(RetryAfterSeconds(100ms), "1");
  EXPECT_EQ(RetryAfterSeconds(0ms), "1");
  EXPECT_EQ(RetryAfterSeconds(8'100ms), "9");
}

}  // namespace
}  // namespace msgbroker::proxy
