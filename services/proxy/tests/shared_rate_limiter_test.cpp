// SharedRateLimiter and RedisRateBuckets against the real redis-server of the `redis` CTest
// fixture: two limiters (two proxies) share one client's bucket, the TTL, the fallback to local
// buckets while Redis is unreachable, and the way back.

#include "msgbroker/proxy/shared_rate_limiter.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <prometheus/registry.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/testing/test_servers.hpp"
#include "msgbroker/testing/wait_for.hpp"

namespace msgbroker::proxy {
namespace {

namespace mt = msgbroker::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string UniquePrefix() {
  return "msgbroker-test:" + MessageId::Generate(SystemClock::Instance().Now()).str() + ":";
}

queue::RedisRateBucketsOptions FixtureOptions(const std::string& prefix) {
  queue::RedisRateBucketsOptions options;
  auto port = mt::TestServerSetting("redis", "REDIS_PORT");
  auto password = mt::TestServerSetting("redis", "REDIS_PASSWORD");
  EXPECT_TRUE(port && password) << "the redis test server is not available";
  if (port) options.port = std::stoi(*port);
  if (password) options.password = *password;
  options.key_prefix = prefix;
  return options;
}

// A raw hiredis connection for looking at keys behind the limiter's back.
class RawRedis {
 public:
  explicit RawRedis(const queue::RedisRateBucketsOptions& o)
      : c_(redisConnect(o.host.c_str(), o.port)) {
    if (c_ != nullptr && !o.password.empty()) {
      freeReplyObject(redisCommand(c_, "AUTH %s", o.password.c_str()));
    }
  }
  ~RawRedis() {
    if (c_ != nullptr) redisFree(c_);
  }
  long long Integer(const std::string& command, const std::string& key) {
    auto* reply =
        static_cast<redisReply*>(redisCommand(c_, (command + " %s").c_str(), key.c_str()));
    if (reply == nullptr) return -100;
    const long long value = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -99;
    freeReplyObject(reply);
    return value;
  }

 private:
  redisContext* c_;
};

// A port nothing listens on: every connect is refused at once.
queue::RedisRateBucketsOptions UnreachableOptions() {
  queue::RedisRateBucketsOptions options;
  options.port = 1;  // privileged, unused on the test machines
  options.connect_timeout = 200ms;
  options.command_timeout = 200ms;
  return options;
}

TEST(RedisRateBucketsTest, GrantsWholeTokensChargesDebtAndSetsATtl) {
  const auto options = FixtureOptions(UniquePrefix());
  queue::RedisRateBuckets buckets(options);
  // A fresh bucket is full: 10 tokens at 1/s. Take 4, then ask for 20: only the 6 left come.
  std::vector<queue::BucketRequest> first = {{"acme", 1, 10, 0, 4}};
  auto g1 = buckets.Exchange(first);
  ASSERT_TRUE(g1) << g1.error().message;
  EXPECT_EQ((*g1)[0].granted, 4);
  EXPECT_NEAR((*g1)[0].level, 6, 0.1);
  std::vector<queue::BucketRequest> second = {{"acme", 1, 10, 0, 20}, {"globex", 1, 10, 0, 3}};
  auto g2 = buckets.Exchange(second);
  ASSERT_TRUE(g2) << g2.error().message;
  EXPECT_EQ((*g2)[0].granted, 6);
  EXPECT_EQ((*g2)[1].granted, 3);  // its own bucket
  // Debt is charged even when nothing can be granted: the bucket goes below zero.
  std::vector<queue::BucketRequest> debt = {{"acme", 1, 10, 5, 1}};
  auto g3 = buckets.Exchange(debt);
  ASSERT_TRUE(g3);
  EXPECT_EQ((*g3)[0].granted, 0);
  EXPECT_NEAR((*g3)[0].level, -5, 0.1);
  // Unused tokens given back (negative debt) never fill it beyond the burst.
  std::vector<queue::BucketRequest> back = {{"globex", 1, 10, -100, 0}};
  auto g4 = buckets.Exchange(back);
  ASSERT_TRUE(g4);
  EXPECT_EQ((*g4)[0].level, 10);

  // TTL: the time to refill the whole bucket (10 s at 1/s) plus a second.
  RawRedis raw(options);
  const auto ttl = raw.Integer("PTTL", buckets.KeyFor("acme"));
  EXPECT_GT(ttl, 9'000);
  EXPECT_LE(ttl, 11'000);
  EXPECT_EQ(raw.Integer("EXISTS", options.key_prefix + "ratelimit:acme"), 1);
}

TEST(RedisRateBucketsTest, KeysOfIdleClientsExpire) {
  const auto options = FixtureOptions(UniquePrefix());
  queue::RedisRateBuckets buckets(options);
  // 1000/s with a burst of 10: full again after 10 ms, so the key lives 1.01 s.
  std::vector<queue::BucketRequest> take = {{"acme", 1000, 10, 0, 10}};
  ASSERT_TRUE(buckets.Exchange(take));
  RawRedis raw(options);
  EXPECT_EQ(raw.Integer("EXISTS", buckets.KeyFor("acme")), 1);
  EXPECT_TRUE(
      mt::WaitFor([&] { return raw.Integer("EXISTS", buckets.KeyFor("acme")) == 0; }, 5s, 50ms));
}

TEST(RedisRateBucketsTest, UnreachableRedisIsAnError) {
  queue::RedisRateBuckets buckets(UnreachableOptions());
  std::vector<queue::BucketRequest> take = {{"acme", 1, 10, 0, 1}};
  auto grants = buckets.Exchange(take);
  ASSERT_FALSE(grants);
  EXPECT_EQ(grants.error().code, ErrorCode::kQueueUnavailable);
  EXPECT_FALSE(buckets.Ping());
}

// The sum of a counter family's series that carry every label in `labels`.
double CounterSum(prometheus::Registry& registry, const std::string& name,
                  const std::vector<std::pair<std::string, std::string>>& labels) {
  double sum = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      bool match = true;
      for (const auto& [key, value] : labels) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == key && l.value == value);
        match = match && found;
      }
      if (match) sum += m.counter.value;
    }
  }
  return sum;
}

// Runs `limiter.Take` for one message every `gap` until `until`; returns how many were admitted.
int Hammer(SharedRateLimiter& limiter, const std::string& client, const RateLimit& limit,
           Clock::time_point until, std::chrono::microseconds gap) {
  int admitted = 0;
  while (Clock::now() < until) {
    if (limiter.Take(client, limit, 1, Clock::now()).allowed) ++admitted;
    std::this_thread::sleep_for(gap);
  }
  return admitted;
}

TEST(SharedRateLimiterTest, TwoProxiesTogetherAdmitAboutBurstPlusRateTimesTime) {
  const auto options = FixtureOptions(UniquePrefix());
  prometheus::Registry metrics_a;
  prometheus::Registry metrics_b;
  SharedRateLimiter a(std::make_unique<queue::RedisRateBuckets>(options), {}, metrics_a);
  SharedRateLimiter b(std::make_unique<queue::RedisRateBuckets>(options), {}, metrics_b);
  a.Start();
  b.Start();
  ASSERT_TRUE(a.shared());
  ASSERT_TRUE(b.shared());
  const RateLimit limit{20, 20};  // 20/s, bucket of 20
  const auto start = Clock::now();
  const auto until = start + 2s;
  int from_b = 0;
  std::thread other([&] { from_b = Hammer(b, "acme", limit, until, 1ms); });
  const int from_a = Hammer(a, "acme", limit, until, 1ms);
  other.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double expected = limit.burst + limit.per_second * seconds;  // about 60
  const int total = from_a + from_b;
  // Each proxy may admit one request on credit; what a proxy still holds was not admitted.
  EXPECT_LE(total, expected + 2) << from_a << " + " << from_b;
  EXPECT_GE(total, expected - 2 * 5 - 3) << from_a << " + " << from_b;  // at most a chunk each
  // Both proxies admitted some: the bucket is shared, not owned by whoever came first.
  EXPECT_GT(from_a, 0);
  EXPECT_GT(from_b, 0);
  // Without sharing, each would have admitted about `expected` on its own.
  EXPECT_LT(total, 1.5 * expected);
  // The measurement behind docs/adr/0011: decisions made vs. round trips to Redis.
  const double decisions = CounterSum(metrics_a, "proxy_rate_limit_decisions_total", {}) +
                           CounterSum(metrics_b, "proxy_rate_limit_decisions_total", {});
  const double round_trips =
      CounterSum(metrics_a, "proxy_rate_limit_redis_round_trips_total", {{"outcome", "ok"}}) +
      CounterSum(metrics_b, "proxy_rate_limit_redis_round_trips_total", {{"outcome", "ok"}});
  std::cout << "decisions=" << decisions << " admitted=" << total << " expected~" << expected
            << " redis_round_trips=" << round_trips << std::endl;
  EXPECT_EQ(CounterSum(metrics_a, "proxy_rate_limit_decisions_total", {{"store", "local"}}), 0);
  EXPECT_LT(round_trips, decisions / 4);
}

TEST(SharedRateLimiterTest, RefusalsCarryRetryAfterAndBatchesGoIntoDebt) {
  const auto options = FixtureOptions(UniquePrefix());
  prometheus::Registry metrics;
  SharedRateLimiter limiter(std::make_unique<queue::RedisRateBuckets>(options), {}, metrics);
  limiter.Start();
  ASSERT_TRUE(limiter.shared());
  const RateLimit limit{2, 8};
  // The first request is admitted on credit, even a batch of the whole burst; the debt is charged
  // to the shared bucket, which then has nothing to lease.
  EXPECT_TRUE(limiter.Take("acme", limit, 8, Clock::now()).allowed);
  ASSERT_TRUE(mt::WaitFor([&] { return limiter.LeasedTokens("acme") == 0; }, 2s, 5ms));
  std::this_thread::sleep_for(100ms);  // a few exchanges
  const auto refused = limiter.Take("acme", limit, 1, Clock::now());
  EXPECT_FALSE(refused.allowed);
  EXPECT_GT(refused.retry_after, 0ms);
  EXPECT_LE(refused.retry_after, 500ms);
  // At 2/s whole tokens come back within about half a second.
  EXPECT_TRUE(
      mt::WaitFor([&] { return limiter.Take("acme", limit, 1, Clock::now()).allowed; }, 3s, 20ms));
}

TEST(SharedRateLimiterTest, UnreachableRedisFallsBackToTheLocalLimitNotToNone) {
  prometheus::Registry metrics;
  SharedRateLimiter limiter(std::make_unique<queue::RedisRateBuckets>(UnreachableOptions()), {},
                            metrics);
  limiter.Start();
  EXPECT_FALSE(limiter.shared());
  const RateLimit limit{1, 5};
  const auto now = Clock::now();
  int admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += limiter.Take("acme", limit, 1, now).allowed ? 1 : 0;
  EXPECT_EQ(admitted, 5);  // the local bucket: the burst, then refusals
  EXPECT_EQ(CounterSum(metrics, "proxy_rate_limit_decisions_total",
                       {{"store", "local"}, {"result", "limited"}}),
            15);
  EXPECT_EQ(CounterSum(metrics, "proxy_rate_limit_decisions_total", {{"store", "redis"}}), 0);
  // Unlimited clients stay unlimited.
  EXPECT_TRUE(limiter.Take("acme", RateLimit{0, 0}, 1000, now).allowed);
}

// Redis failing midway (here: a script error, as a wrong-type key gives) switches decisions to the
// local buckets; once Redis answers again they go back to the shared ones.
TEST(SharedRateLimiterTest, RedisFailingMidwaySwitchesToLocalBucketsAndBack) {
  const auto options = FixtureOptions(UniquePrefix());
  prometheus::Registry metrics;
  SharedRateLimiter limiter(std::make_unique<queue::RedisRateBuckets>(options),
                            {.refill_interval = 10ms, .retry_interval = 300ms}, metrics);
  limiter.Start();
  ASSERT_TRUE(limiter.shared());
  const RateLimit limit{1, 3};
  EXPECT_TRUE(limiter.Take("acme", limit, 1, Clock::now()).allowed);
  ASSERT_TRUE(mt::WaitFor([&] { return limiter.LeasedTokens("acme") > 0; }, 2s, 5ms));
  // Break the bucket: a string where the script expects a hash makes every call fail.
  auto* c = redisConnect(options.host.c_str(), options.port);
  ASSERT_NE(c, nullptr);
  freeReplyObject(redisCommand(c, "AUTH %s", options.password.c_str()));
  const std::string key = options.key_prefix + "ratelimit:acme";
  freeReplyObject(redisCommand(c, "SET %s broken", key.c_str()));
  // Spend what is leased so that the limiter must go back to Redis.
  for (int i = 0; i < 5; ++i) (void)limiter.Take("acme", limit, 1, Clock::now());
  EXPECT_TRUE(mt::WaitFor([&] { return !limiter.shared(); }, 3s, 10ms));
  // Meanwhile the local bucket decides: a fresh one holds the burst.
  int admitted = 0;
  const auto now = Clock::now();
  for (int i = 0; i < 10; ++i) admitted += limiter.Take("acme", limit, 1, now).allowed ? 1 : 0;
  EXPECT_EQ(admitted, 3);
  // Redis answers PING again: back to the shared buckets (the broken key is repaired by deleting).
  freeReplyObject(redisCommand(c, "DEL %s", key.c_str()));
  redisFree(c);
  EXPECT_TRUE(mt::WaitFor([&] { return limiter.shared(); }, 3s, 10ms));
}

}  // namespace
}  // namespace msgbroker::proxy
