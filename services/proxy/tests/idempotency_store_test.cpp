// The idempotency stores: the same behaviour from the SQLite file of `msgbroker up` and from the
// real Redis of the `redis` CTest fixture, driven by a FakeClock; plus reopening (restart
// survival) and failures.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <future>

#include "msgbroker/core/ids.hpp"
#include "msgbroker/proxy/idempotency.hpp"
#include "msgbroker/testing/temp_dir.hpp"
#include "msgbroker/testing/test_servers.hpp"

namespace msgbroker::proxy {
namespace {

namespace mt = msgbroker::testing;
using std::chrono::milliseconds;

constexpr milliseconds kTtl{60'000};
constexpr milliseconds kLease{5'000};

// Blocking helpers over the asynchronous calls.
Result<ClaimResult> Claim(IdempotencyStore& store, const IdempotencyScope& scope,
                          const std::string& fingerprint, const std::string& token) {
  std::promise<Result<ClaimResult>> done;
  store.ClaimAsync(scope, fingerprint, token, [&](Result<ClaimResult> r) { done.set_value(r); });
  return done.get_future().get();
}
Status Complete(IdempotencyStore& store, const IdempotencyScope& scope, const std::string& token,
                StoredAnswer answer) {
  std::promise<Status> done;
  store.CompleteAsync(scope, token, std::move(answer), [&](Status s) { done.set_value(s); });
  return done.get_future().get();
}
Status Release(IdempotencyStore& store, const IdempotencyScope& scope, const std::string& token) {
  std::promise<Status> done;
  store.ReleaseAsync(scope, token, [&](Status s) { done.set_value(s); });
  return done.get_future().get();
}

enum class Kind { kSqlite, kRedis };

class IdempotencyStoreTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    prefix_ = "msgbroker-test:" + MessageId::Generate(SystemClock::Instance().Now()).str() + ":";
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  std::unique_ptr<IdempotencyStore> Open() {
    IdempotencyOptions options{kTtl, kLease};
    if (GetParam() == Kind::kSqlite) {
      auto opened = OpenSqliteIdempotencyStore(dir_.path() / "idempotency.sqlite", options, clock_);
      EXPECT_TRUE(opened) << opened.error().message;
      return opened ? std::move(*opened) : nullptr;
    }
    auto port = mt::TestServerSetting("redis", "REDIS_PORT");
    EXPECT_TRUE(port) << port.error().message;
    auto password = mt::TestServerSetting("redis", "REDIS_PASSWORD");
    EXPECT_TRUE(password) << password.error().message;
    if (!port || !password) return nullptr;
    RedisIdempotencyOptions redis;
    redis.port = std::stoi(*port);
    redis.password = *password;
    redis.key_prefix = prefix_;
    auto opened = OpenRedisIdempotencyStore(redis, options, clock_);
    EXPECT_TRUE(opened) << opened.error().message;
    return opened ? std::move(*opened) : nullptr;
  }

  static IdempotencyScope Scope(std::string client, std::string_view key) {
    return {std::move(client), IdempotencyKeyHash(key)};
  }

  mt::TempDir dir_;
  FakeClock clock_;
  std::string prefix_;
  std::unique_ptr<IdempotencyStore> store_;
  const StoredAnswer answer_{202, "application/json", R"({"message_id":"x"})"};
};

TEST_P(IdempotencyStoreTest, FirstClaimWinsThenInFlightThenCompletedAnswerIsReturned) {
  const auto scope = Scope("client-a", "k1");
  auto first = Claim(*store_, scope, "fp1", "t1");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->state, ClaimState::kClaimed);

  auto second = Claim(*store_, scope, "fp1", "t2");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->state, ClaimState::kInFlight);
  EXPECT_EQ(second->fingerprint, "fp1");

  ASSERT_TRUE(Complete(*store_, scope, "t1", answer_));
  auto third = Claim(*store_, scope, "fp2", "t3");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->state, ClaimState::kCompleted);
  EXPECT_EQ(third->fingerprint, "fp1");  // the caller compares and answers 422
  EXPECT_EQ(third->answer.status, 202u);
  EXPECT_EQ(third->answer.content_type, "application/json");
  EXPECT_EQ(third->answer.body, answer_.body);
}

TEST_P(IdempotencyStoreTest, BinaryBodyRoundTrips) {
  const auto scope = Scope("client-a", "binary");
  ASSERT_EQ(Claim(*store_, scope, "fp", "t")->state, ClaimState::kClaimed);
  StoredAnswer answer{207, "application/json", std::string("a\0b\xff\n", 5)};
  ASSERT_TRUE(Complete(*store_, scope, "t", answer));
  EXPECT_EQ(Claim(*store_, scope, "fp", "u")->answer.body, answer.body);
}

TEST_P(IdempotencyStoreTest, ScopeIsPerClient) {
  ASSERT_EQ(Claim(*store_, Scope("client-a", "shared"), "fp", "t1")->state, ClaimState::kClaimed);
  ASSERT_EQ(Claim(*store_, Scope("client-b", "shared"), "fp", "t2")->state, ClaimState::kClaimed);
  ASSERT_TRUE(Complete(*store_, Scope("client-a", "shared"), "t1", answer_));
  EXPECT_EQ(Claim(*store_, Scope("client-b", "shared"), "fp", "t3")->state, ClaimState::kInFlight);
  EXPECT_EQ(Claim(*store_, Scope("client-a", "shared"), "fp", "t4")->state, ClaimState::kCompleted);
}

TEST_P(IdempotencyStoreTest, ReleaseFreesTheKeyOnlyForItsOwnToken) {
  const auto scope = Scope("client-a", "k");
  ASSERT_EQ(Claim(*store_, scope, "fp", "owner")->state, ClaimState::kClaimed);
  ASSERT_TRUE(Release(*store_, scope, "someone-else"));
  EXPECT_EQ(Claim(*store_, scope, "fp", "x")->state, ClaimState::kInFlight);
  ASSERT_TRUE(Complete(*store_, scope, "someone-else", answer_));  // no effect
  EXPECT_EQ(Claim(*store_, scope, "fp", "x")->state, ClaimState::kInFlight);
  ASSERT_TRUE(Release(*store_, scope, "owner"));
  EXPECT_EQ(Claim(*store_, scope, "fp", "again")->state, ClaimState::kClaimed);
}

TEST_P(IdempotencyStoreTest, ReleaseDoesNotDropACompletedAnswer) {
  const auto scope = Scope("client-a", "k");
  ASSERT_EQ(Claim(*store_, scope, "fp", "owner")->state, ClaimState::kClaimed);
  ASSERT_TRUE(Complete(*store_, scope, "owner", answer_));
  ASSERT_TRUE(Release(*store_, scope, "owner"));
  EXPECT_EQ(Claim(*store_, scope, "fp", "x")->state, ClaimState::kCompleted);
}

TEST_P(IdempotencyStoreTest, AnExpiredLeaseCanBeClaimedAgainAndTheOldOwnerCannotComplete) {
  const auto scope = Scope("client-a", "k");
  ASSERT_EQ(Claim(*store_, scope, "fp", "crashed")->state, ClaimState::kClaimed);
  clock_.Advance(kLease - milliseconds{1});
  EXPECT_EQ(Claim(*store_, scope, "fp", "x")->state, ClaimState::kInFlight);
  clock_.Advance(milliseconds{1});
  EXPECT_EQ(Claim(*store_, scope, "fp", "retry")->state, ClaimState::kClaimed);
  ASSERT_TRUE(Complete(*store_, scope, "crashed", StoredAnswer{202, "text/plain", "late"}));
  ASSERT_TRUE(Complete(*store_, scope, "retry", answer_));
  EXPECT_EQ(Claim(*store_, scope, "fp", "y")->answer.body, answer_.body);
}

TEST_P(IdempotencyStoreTest, CompletedAnswerExpiresAfterTheTtl) {
  const auto scope = Scope("client-a", "k");
  ASSERT_EQ(Claim(*store_, scope, "fp", "t")->state, ClaimState::kClaimed);
  ASSERT_TRUE(Complete(*store_, scope, "t", answer_));
  clock_.Advance(kTtl - milliseconds{1});
  EXPECT_EQ(Claim(*store_, scope, "other-fp", "u")->state, ClaimState::kCompleted);
  clock_.Advance(milliseconds{1});
  auto fresh = Claim(*store_, scope, "other-fp", "v");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->state, ClaimState::kClaimed);
}

TEST_P(IdempotencyStoreTest, RecordsSurviveReopening) {
  const auto done = Scope("client-a", "done");
  const auto pending = Scope("client-a", "pending");
  ASSERT_EQ(Claim(*store_, done, "fp", "t")->state, ClaimState::kClaimed);
  ASSERT_TRUE(Complete(*store_, done, "t", answer_));
  ASSERT_EQ(Claim(*store_, pending, "fp", "t2")->state, ClaimState::kClaimed);
  store_->Close();
  store_.reset();

  store_ = Open();
  ASSERT_NE(store_, nullptr);
  auto replay = Claim(*store_, done, "fp", "u");
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->state, ClaimState::kCompleted);
  EXPECT_EQ(replay->answer.body, answer_.body);
  EXPECT_EQ(Claim(*store_, pending, "fp", "u")->state, ClaimState::kInFlight);
  clock_.Advance(kLease);
  EXPECT_EQ(Claim(*store_, pending, "fp", "u")->state, ClaimState::kClaimed);
}

TEST_P(IdempotencyStoreTest, ClosedStoreRefusesWithServiceUnavailable) {
  store_->Close();
  auto claim = Claim(*store_, Scope("client-a", "k"), "fp", "t");
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code, ErrorCode::kServiceUnavailable);
  auto complete = Complete(*store_, Scope("client-a", "k"), "t", answer_);
  ASSERT_FALSE(complete);
  auto release = Release(*store_, Scope("client-a", "k"), "t");
  ASSERT_FALSE(release);
}

TEST_P(IdempotencyStoreTest, ManyConcurrentClaimsOfOneKeyHaveExactlyOneWinner) {
  const auto scope = Scope("client-a", "race");
  constexpr int kCallers = 50;
  std::vector<std::promise<Result<ClaimResult>>> results(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    store_->ClaimAsync(scope, "fp", "t" + std::to_string(i),
                       [&results, i](Result<ClaimResult> r) { results[i].set_value(r); });
  }
  int claimed = 0, in_flight = 0;
  for (auto& r : results) {
    auto v = r.get_future().get();
    ASSERT_TRUE(v);
    claimed += v->state == ClaimState::kClaimed;
    in_flight += v->state == ClaimState::kInFlight;
  }
  EXPECT_EQ(claimed, 1);
  EXPECT_EQ(in_flight, kCallers - 1);
}

std::string KindName(const ::testing::TestParamInfo<Kind>& param) {
  return param.param == Kind::kSqlite ? "Sqlite" : "Redis";
}

INSTANTIATE_TEST_SUITE_P(Stores, IdempotencyStoreTest,
                         ::testing::Values(Kind::kSqlite, Kind::kRedis), KindName);

TEST(RedisIdempotencyStoreTest, TwoProxiesShareTheKeys) {
  auto port = mt::TestServerSetting("redis", "REDIS_PORT");
  ASSERT_TRUE(port) << port.error().message;
  auto password = mt::TestServerSetting("redis", "REDIS_PASSWORD");
  ASSERT_TRUE(password) << password.error().message;
  RedisIdempotencyOptions redis;
  redis.port = std::stoi(*port);
  redis.password = *password;
  redis.key_prefix =
      "msgbroker-test:" + MessageId::Generate(SystemClock::Instance().Now()).str() + ":";
  FakeClock clock;
  auto one = OpenRedisIdempotencyStore(redis, {}, clock);
  auto two = OpenRedisIdempotencyStore(redis, {}, clock);
  ASSERT_TRUE(one && two);
  const IdempotencyScope scope{"client-a", IdempotencyKeyHash("k")};
  ASSERT_EQ(Claim(**one, scope, "fp", "t1")->state, ClaimState::kClaimed);
  EXPECT_EQ(Claim(**two, scope, "fp", "t2")->state, ClaimState::kInFlight);
  ASSERT_TRUE(Complete(**one, scope, "t1", StoredAnswer{202, "application/json", "{}"}));
  EXPECT_EQ(Claim(**two, scope, "fp", "t2")->state, ClaimState::kCompleted);
}

TEST(RedisIdempotencyStoreTest, UnreachableRedisFailsTheCallWithServiceUnavailable) {
  RedisIdempotencyOptions redis;
  redis.port = 1;  // nothing listens on port 1 of the loopback
  redis.connect_timeout = milliseconds{200};
  FakeClock clock;
  auto store = OpenRedisIdempotencyStore(redis, {}, clock);
  ASSERT_TRUE(store);
  auto claim = Claim(**store, {"client-a", IdempotencyKeyHash("k")}, "fp", "t");
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code, ErrorCode::kServiceUnavailable);
}

TEST(SqliteIdempotencyStoreTest, UnopenableFileIsAnErrorNamingIt) {
  mt::TempDir dir;
  FakeClock clock;
  auto store = OpenSqliteIdempotencyStore(dir.path() / "missing" / "idempotency.sqlite", {}, clock);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("missing"), std::string::npos);
}

std::int64_t RowCount(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM idempotency_keys", -1, &stmt, nullptr) ==
            SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db);
  return n;
}

TEST(SqliteIdempotencyStoreTest, ExpiredRowsArePurgedOnOpen) {
  mt::TempDir dir;
  FakeClock clock;
  const auto file = dir.path() / "idempotency.sqlite";
  {
    auto store = OpenSqliteIdempotencyStore(file, {kTtl, kLease}, clock);
    ASSERT_TRUE(store);
    for (int i = 0; i < 20; ++i) {
      const IdempotencyScope scope{"client-a", IdempotencyKeyHash("k" + std::to_string(i))};
      ASSERT_EQ(Claim(**store, scope, "fp", "t")->state, ClaimState::kClaimed);
      if (i < 15) {
        ASSERT_TRUE(Complete(**store, scope, "t", StoredAnswer{202, "application/json", "{}"}));
      }
    }
    clock.Advance(kLease);  // the 5 claims expire now, the 15 answers after the ttl
  }
  EXPECT_EQ(RowCount(file), 20);
  {
    auto store = OpenSqliteIdempotencyStore(file, {kTtl, kLease}, clock);
    ASSERT_TRUE(store);
  }
  EXPECT_EQ(RowCount(file), 15);
  clock.Advance(kTtl);
  {
    auto store = OpenSqliteIdempotencyStore(file, {kTtl, kLease}, clock);
    ASSERT_TRUE(store);
  }
  EXPECT_EQ(RowCount(file), 0);
}

}  // namespace
}  // namespace msgbroker::proxy
