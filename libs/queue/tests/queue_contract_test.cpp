// Queue semantics every implementation must have (see queue.hpp). Parameterised over a factory;
// instantiated by each implementation's own test file.

#include "queue_contract.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <thread>

#include "msgbroker/core/time_format.hpp"

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(QueueContractTest);  // NOLINT

namespace msgbroker::queue::contract {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kNoWait{0};
constexpr milliseconds kLease{30'000};
constexpr auto kCallbackDeadline = seconds(30);

std::vector<std::string> Payloads(const std::vector<ClaimedMessage>& claimed) {
  std::vector<std::string> out;
  for (const auto& m : claimed) out.push_back(m.payload);
  return out;
}

std::vector<MessageId> Ids(const std::vector<ClaimedMessage>& claimed) {
  std::vector<MessageId> out;
  for (const auto& m : claimed) out.push_back(m.id);
  return out;
}

}  // namespace

Status QueueContractTest::Enqueue(std::vector<NewMessage> messages) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto result = promise->get_future();
  q().EnqueueAsync(std::move(messages), [promise](Status s) { promise->set_value(std::move(s)); });
  if (result.wait_for(kCallbackDeadline) != std::future_status::ready) {
    ADD_FAILURE() << "enqueue callback did not run within the deadline";
    return Fail(ErrorCode::kTimeout, "enqueue callback did not run");
  }
  return result.get();
}

MessageId QueueContractTest::EnqueueOne(const std::string& payload) {
  const MessageId id = NewId();
  const Status s = Enqueue({NewMessage{id, payload}});
  EXPECT_TRUE(s) << s.error().message;
  return id;
}

namespace {

TEST_P(QueueContractTest, EnqueueClaimAck) {
  const SystemTime enqueued = clock_.Now();
  const MessageId id = EnqueueOne("payload-1");
  auto claimed = q().Claim("worker-1", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, id);
  EXPECT_EQ((*claimed)[0].payload, "payload-1");
  EXPECT_EQ((*claimed)[0].attempts, 1u);
  EXPECT_EQ(ToUnixMillis((*claimed)[0].enqueued_at), ToUnixMillis(enqueued));
  EXPECT_EQ((*claimed)[0].last_error, "");

  const MessageId ids[] = {id};
  ASSERT_TRUE(q().Ack(ids));
  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready + stats->delayed + stats->in_flight + stats->dead, 0u);
  // Acked for good: not even an expired lease brings it back.
  clock_.Advance(kLease * 2);
  auto again = q().Claim("worker-1", 10, kLease, kNoWait);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
}

TEST_P(QueueContractTest, EmptyQueueClaimReturnsNothing) {
  auto claimed = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  EXPECT_TRUE(claimed->empty());
}

TEST_P(QueueContractTest, EmptyEnqueueSucceeds) { EXPECT_TRUE(Enqueue({})); }

TEST_P(QueueContractTest, ClaimsOldestFirst) {
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i) {
    expected.push_back("m" + std::to_string(i));
    EnqueueOne(expected.back());
    clock_.Advance(milliseconds(1));
  }
  // One call with several messages keeps their order too.
  std::vector<NewMessage> batch;
  for (int i = 5; i < 8; ++i) {
    expected.push_back("m" + std::to_string(i));
    batch.push_back(NewMessage{NewId(), expected.back()});
  }
  ASSERT_TRUE(Enqueue(std::move(batch)));
  auto claimed = q().Claim("w", 100, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(Payloads(*claimed), expected);
}

TEST_P(QueueContractTest, ClaimRespectsMaxBatchSize) {
  for (int i = 0; i < 10; ++i) EnqueueOne("m" + std::to_string(i));
  std::vector<std::string> all;
  for (std::size_t expected : {3u, 3u, 3u, 1u, 0u}) {
    auto claimed = q().Claim("w", 3, kLease, kNoWait);
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->size(), expected);
    for (auto& p : Payloads(*claimed)) all.push_back(p);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end()) << "a message was handed out twice";
  EXPECT_EQ(all.size(), 10u);
}

TEST_P(QueueContractTest, ConsumersNeverShareALease) {
  for (int i = 0; i < 4; ++i) EnqueueOne("m" + std::to_string(i));
  auto a = q().Claim("a", 2, kLease, kNoWait);
  auto b = q().Claim("b", 2, kLease, kNoWait);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), 2u);
  ASSERT_EQ(b->size(), 2u);
  for (const auto& x : *a) {
    for (const auto& y : *b) EXPECT_NE(x.id, y.id);
  }
}

TEST_P(QueueContractTest, ExpiredLeaseMakesMessageClaimableAgain) {
  const MessageId id = EnqueueOne("lease");
  auto first = q().Claim("crashing-worker", 10, seconds(30), kNoWait);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);

  clock_.Advance(seconds(29));
  auto during = q().Claim("other", 10, seconds(30), kNoWait);
  ASSERT_TRUE(during);
  EXPECT_TRUE(during->empty()) << "claimable while leased";
  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->in_flight, 1u);
  EXPECT_EQ(stats->ready, 0u);

  clock_.Advance(seconds(2));
  stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->in_flight, 0u);
  EXPECT_EQ(stats->ready, 1u);
  auto second = q().Claim("other", 10, seconds(30), kNoWait);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].id, id);
  EXPECT_EQ((*second)[0].payload, "lease");
  EXPECT_EQ((*second)[0].attempts, 2u);
}

TEST_P(QueueContractTest, RetryWaitsForNotBeforeAndCarriesError) {
  const MessageId id = EnqueueOne("retry-me");
  auto claimed = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  const RetryRequest retry[] = {{id, clock_.Now() + seconds(10), "main server said 503"}};
  ASSERT_TRUE(q().Retry(retry));

  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->delayed, 1u);
  EXPECT_EQ(stats->ready, 0u);
  EXPECT_EQ(stats->in_flight, 0u);

  clock_.Advance(seconds(9));
  auto early = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty()) << "claimable before not_before";

  clock_.Advance(seconds(1));
  auto due = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, id);
  EXPECT_EQ((*due)[0].attempts, 2u);
  EXPECT_EQ((*due)[0].last_error, "main server said 503");
  EXPECT_EQ((*due)[0].payload, "retry-me");
}

TEST_P(QueueContractTest, RetryWithPastNotBeforeIsReadyAtOnce) {
  const MessageId id = EnqueueOne("x");
  ASSERT_TRUE(q().Claim("w", 1, kLease, kNoWait));
  const RetryRequest retry[] = {{id, clock_.Now(), "transient"}};
  ASSERT_TRUE(q().Retry(retry));
  auto due = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].attempts, 2u);
}

// An attempt that never reached the main server is given back: the next claim counts the same
// attempt again, while an ordinary retry counts.
TEST_P(QueueContractTest, RefundedRetryDoesNotCountTheAttempt) {
  const MessageId id = EnqueueOne("outage");
  const MessageId other = EnqueueOne("counted");
  for (int round = 0; round < 3; ++round) {
    auto claimed = q().Claim("w", 10, kLease, kNoWait);
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->size(), 2u);
    for (const auto& m : *claimed) {
      EXPECT_EQ(m.attempts, m.id == id ? 1u : static_cast<std::uint32_t>(round + 1)) << round;
    }
    const RetryRequest retry[] = {{id, clock_.Now(), "unreachable", true},
                                  {other, clock_.Now(), "answered 500", false}};
    ASSERT_TRUE(q().Retry(retry));
  }
  auto last = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(last);
  ASSERT_EQ(last->size(), 2u);
  for (const auto& m : *last) {
    EXPECT_EQ(m.attempts, m.id == id ? 1u : 4u);
    if (m.id == id) {
      EXPECT_EQ(m.last_error, "unreachable");
    }
  }
}

TEST_P(QueueContractTest, DeadLetterKeepsPayloadReasonAndAttempts) {
  const SystemTime enqueued = clock_.Now();
  const MessageId id = EnqueueOne("poison");
  ASSERT_TRUE(q().Claim("w", 1, seconds(1), kNoWait));
  clock_.Advance(seconds(2));  // lease expires; second claim is attempt 2
  auto claimed = q().Claim("w", 1, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  clock_.Advance(seconds(1));
  const SystemTime dead_at = clock_.Now();
  const DeadLetterRequest dead[] = {{id, "invalid payload"}};
  ASSERT_TRUE(q().DeadLetter(dead));

  auto list = q().ListDeadLetters(0, 10);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  const auto& d = (*list)[0];
  EXPECT_EQ(d.id, id);
  EXPECT_EQ(d.payload, "poison");
  EXPECT_EQ(d.reason, "invalid payload");
  EXPECT_EQ(d.attempts, 2u);
  EXPECT_EQ(ToUnixMillis(d.enqueued_at), ToUnixMillis(enqueued));
  EXPECT_EQ(ToUnixMillis(d.dead_lettered_at), ToUnixMillis(dead_at));

  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->dead, 1u);
  EXPECT_EQ(stats->ready + stats->delayed + stats->in_flight, 0u);
  clock_.Advance(kLease * 2);
  auto none = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty()) << "a dead letter was claimable";
}

TEST_P(QueueContractTest, ListDeadLettersPaginates) {
  std::vector<MessageId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(EnqueueOne("d" + std::to_string(i)));
  auto claimed = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 5u);
  for (const auto& id : ids) {
    const DeadLetterRequest dead[] = {{id, "bad"}};
    ASSERT_TRUE(q().DeadLetter(dead));
    clock_.Advance(milliseconds(5));
  }
  auto page1 = q().ListDeadLetters(0, 2);
  auto page2 = q().ListDeadLetters(2, 2);
  auto page3 = q().ListDeadLetters(4, 2);
  auto past = q().ListDeadLetters(10, 2);
  ASSERT_TRUE(page1 && page2 && page3 && past);
  ASSERT_EQ(page1->size(), 2u);
  ASSERT_EQ(page2->size(), 2u);
  ASSERT_EQ(page3->size(), 1u);
  EXPECT_TRUE(past->empty());
  std::vector<MessageId> listed;
  for (const auto* page : {&*page1, &*page2, &*page3}) {
    for (const auto& d : *page) listed.push_back(d.id);
  }
  EXPECT_EQ(listed, ids) << "dead letters are listed in the order they died";
  auto none = q().ListDeadLetters(0, 0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(QueueContractTest, ReplayDeadLetterMakesItClaimableWithAttemptsReset) {
  const MessageId id = EnqueueOne("again");
  ASSERT_TRUE(q().Claim("w", 1, kLease, kNoWait));
  const DeadLetterRequest dead[] = {{id, "gave up"}};
  ASSERT_TRUE(q().DeadLetter(dead));
  ASSERT_TRUE(q().ReplayDeadLetter(id));

  auto list = q().ListDeadLetters(0, 10);
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
  auto claimed = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, id);
  EXPECT_EQ((*claimed)[0].payload, "again");
  EXPECT_EQ((*claimed)[0].attempts, 1u);

  // Replaying something that is not (or no longer) a dead letter is kNotFound.
  auto again = q().ReplayDeadLetter(id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
}

TEST_P(QueueContractTest, DiscardDeadLetterRemovesIt) {
  const MessageId id = EnqueueOne("bye");
  ASSERT_TRUE(q().Claim("w", 1, kLease, kNoWait));
  const DeadLetterRequest dead[] = {{id, "gave up"}};
  ASSERT_TRUE(q().DeadLetter(dead));
  ASSERT_TRUE(q().DiscardDeadLetter(id));
  auto list = q().ListDeadLetters(0, 10);
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->dead, 0u);

  auto twice = q().DiscardDeadLetter(id);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, ErrorCode::kNotFound);
  auto replay = q().ReplayDeadLetter(id);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kNotFound);
}

TEST_P(QueueContractTest, UnknownDeadLetterIsNotFound) {
  const MessageId unknown = NewId();
  auto replay = q().ReplayDeadLetter(unknown);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kNotFound);
  auto discard = q().DiscardDeadLetter(unknown);
  ASSERT_FALSE(discard);
  EXPECT_EQ(discard.error().code, ErrorCode::kNotFound);

  // A live (not dead) message is not a dead letter either.
  const MessageId live = EnqueueOne("live");
  auto live_replay = q().ReplayDeadLetter(live);
  ASSERT_FALSE(live_replay);
  EXPECT_EQ(live_replay.error().code, ErrorCode::kNotFound);
  auto live_discard = q().DiscardDeadLetter(live);
  ASSERT_FALSE(live_discard);
  EXPECT_EQ(live_discard.error().code, ErrorCode::kNotFound);
  auto claimed = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->size(), 1u) << "a failed discard must not remove a live message";
}

// A proxy retrying a request with Idempotency-Key enqueues the same (derived) ids again
// (docs/adr/0010-idempotency-keys.md): an id already in the queue, ready or leased, is skipped,
// the first copy wins, and the call still succeeds for the rest.
TEST_P(QueueContractTest, EnqueueSkipsIdsAlreadyInTheQueue) {
  const MessageId a = EnqueueOne("first");
  const MessageId b = NewId();
  ASSERT_TRUE(Enqueue({NewMessage{a, "second"}, NewMessage{b, "b"}}));
  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, 2u);
  auto claimed = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].id, a);
  EXPECT_EQ((*claimed)[0].payload, "first");
  EXPECT_EQ((*claimed)[1].id, b);
  // Leased: enqueued again, still one copy, still leased.
  ASSERT_TRUE(Enqueue({NewMessage{a, "third"}}));
  stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, 0u);
  EXPECT_EQ(stats->in_flight, 2u);
}

TEST_P(QueueContractTest, AckOfUnknownIdIsHarmless) {
  const MessageId unknown[] = {NewId()};
  EXPECT_TRUE(q().Ack(unknown));
  const MessageId id = EnqueueOne("x");
  ASSERT_TRUE(q().Claim("w", 1, kLease, kNoWait));
  const MessageId twice[] = {id, id};
  EXPECT_TRUE(q().Ack(twice));
  EXPECT_TRUE(q().Ack(twice));
  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->in_flight, 0u);
}

TEST_P(QueueContractTest, RetryAndDeadLetterSkipIdsNotInTheQueue) {
  const RetryRequest retry[] = {{NewId(), clock_.Now(), "e"}};
  EXPECT_TRUE(q().Retry(retry));
  const DeadLetterRequest unknown[] = {{NewId(), "r"}};
  EXPECT_TRUE(q().DeadLetter(unknown));

  const MessageId id = EnqueueOne("x");
  ASSERT_TRUE(q().Claim("w", 1, kLease, kNoWait));
  const DeadLetterRequest dead[] = {{id, "first reason"}};
  ASSERT_TRUE(q().DeadLetter(dead));
  const DeadLetterRequest again[] = {{id, "second reason"}};
  EXPECT_TRUE(q().DeadLetter(again));
  const RetryRequest late_retry[] = {{id, clock_.Now(), "late"}};
  EXPECT_TRUE(q().Retry(late_retry));
  const MessageId late_ack[] = {id};
  EXPECT_TRUE(q().Ack(late_ack));

  auto list = q().ListDeadLetters(0, 10);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u) << "a dead letter left the dead-letter store without a replay";
  EXPECT_EQ((*list)[0].reason, "first reason");
  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready + stats->delayed + stats->in_flight, 0u);
}

TEST_P(QueueContractTest, StatsCountEveryState) {
  const SystemTime t0 = clock_.Now();
  std::vector<MessageId> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(EnqueueOne("s" + std::to_string(i)));
    clock_.Advance(milliseconds(10));
  }
  auto claimed = q().Claim("w", 3, kLease, kNoWait);  // ids 0,1,2 in flight
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 3u);
  const RetryRequest retry[] = {{ids[0], clock_.Now() + seconds(60), "later"}};
  ASSERT_TRUE(q().Retry(retry));
  const DeadLetterRequest dead[] = {{ids[1], "bad"}};
  ASSERT_TRUE(q().DeadLetter(dead));

  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, 3u);
  EXPECT_EQ(stats->delayed, 1u);
  EXPECT_EQ(stats->in_flight, 1u);
  EXPECT_EQ(stats->dead, 1u);
  EXPECT_EQ(ToUnixMillis(stats->oldest_ready_enqueued_at),
            ToUnixMillis(t0 + milliseconds(30)));  // ids[3]

  auto rest = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->size(), 3u);
  stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, 0u);
  EXPECT_EQ(stats->oldest_ready_enqueued_at, SystemTime{});
}

// A new instance on the same storage sees the ready, delayed and dead messages with their
// payloads, times, attempts and errors, and nothing acknowledged. Leases survive where the
// implementation keeps them (see QueueContractParam); elsewhere in-flight messages are ready again.
TEST_P(QueueContractTest, StateSurvivesReopen) {
  const bool leases_kept = GetParam().leases_survive_reopen;
  const SystemTime t0 = clock_.Now();
  std::vector<MessageId> ids;
  for (const char* payload : {"acked", "retried", "dead", "in-flight", "ready"}) {
    ids.push_back(EnqueueOne(payload));
    clock_.Advance(milliseconds(1));
  }
  const SystemTime claimed_at = clock_.Now();
  auto claimed = q().Claim("w", 4, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 4u);
  const MessageId ack[] = {ids[0]};
  ASSERT_TRUE(q().Ack(ack));
  const RetryRequest retry[] = {{ids[1], t0 + seconds(60), "HTTP 503"}};
  ASSERT_TRUE(q().Retry(retry));
  const DeadLetterRequest dead[] = {{ids[2], "malformed envelope"}};
  ASSERT_TRUE(q().DeadLetter(dead));

  const Status reopened = Reopen();
  ASSERT_TRUE(reopened) << reopened.error().message;

  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, leases_kept ? 1u : 2u);
  EXPECT_EQ(stats->delayed, 1u);
  EXPECT_EQ(stats->in_flight, leases_kept ? 1u : 0u);
  EXPECT_EQ(stats->dead, 1u);
  EXPECT_EQ(ToUnixMillis(stats->oldest_ready_enqueued_at),
            ToUnixMillis(t0 + milliseconds(leases_kept ? 4 : 3)));

  auto ready = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(ready);
  const std::vector<MessageId> expected =
      leases_kept ? std::vector<MessageId>{ids[4]} : std::vector<MessageId>{ids[3], ids[4]};
  ASSERT_EQ(Ids(*ready), expected);
  EXPECT_EQ(ready->back().payload, "ready");
  EXPECT_EQ(ready->back().attempts, 1u);
  EXPECT_EQ(ToUnixMillis(ready->back().enqueued_at), ToUnixMillis(t0 + milliseconds(4)));
  ASSERT_TRUE(q().Ack(expected));

  auto dead_letters = q().ListDeadLetters(0, 10);
  ASSERT_TRUE(dead_letters);
  ASSERT_EQ(dead_letters->size(), 1u);
  const DeadLetter& d = (*dead_letters)[0];
  EXPECT_EQ(d.id, ids[2]);
  EXPECT_EQ(d.payload, "dead");
  EXPECT_EQ(d.reason, "malformed envelope");
  EXPECT_EQ(d.attempts, 1u);
  EXPECT_EQ(ToUnixMillis(d.enqueued_at), ToUnixMillis(t0 + milliseconds(2)));
  EXPECT_EQ(ToUnixMillis(d.dead_lettered_at), ToUnixMillis(claimed_at));

  if (leases_kept) {
    // The lease taken before the reopen runs out at its own deadline, not before.
    clock_.Set(claimed_at + kLease - milliseconds(1));
    auto early = q().Claim("w", 10, kLease, kNoWait);
    ASSERT_TRUE(early);
    EXPECT_TRUE(early->empty()) << "lease deadline not preserved";
    clock_.Set(claimed_at + kLease);
    auto expired = q().Claim("w", 10, kLease, kNoWait);
    ASSERT_TRUE(expired);
    ASSERT_EQ(Ids(*expired), std::vector<MessageId>{ids[3]});
    EXPECT_EQ((*expired)[0].payload, "in-flight");
    EXPECT_EQ((*expired)[0].attempts, 2u);
    ASSERT_TRUE(q().Ack(Ids(*expired)));
  }
  clock_.Set(t0 + seconds(60) - milliseconds(1));
  auto not_yet = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(not_yet);
  EXPECT_TRUE(not_yet->empty()) << "retry time not preserved";
  clock_.Set(t0 + seconds(60));
  auto retried = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(retried);
  ASSERT_EQ(Ids(*retried), std::vector<MessageId>{ids[1]});
  EXPECT_EQ((*retried)[0].payload, "retried");
  EXPECT_EQ((*retried)[0].attempts, 2u);
  EXPECT_EQ((*retried)[0].last_error, "HTTP 503");
}

// A replayed dead letter is ready again after a reopen, and a discarded one stays gone.
TEST_P(QueueContractTest, ReplayAndDiscardSurviveReopen) {
  const MessageId replayed = EnqueueOne("replayed");
  const MessageId discarded = EnqueueOne("discarded");
  auto claimed = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 2u);
  const DeadLetterRequest dead[] = {{replayed, "r"}, {discarded, "d"}};
  ASSERT_TRUE(q().DeadLetter(dead));
  ASSERT_TRUE(q().ReplayDeadLetter(replayed));
  ASSERT_TRUE(q().DiscardDeadLetter(discarded));

  const Status reopened = Reopen();
  ASSERT_TRUE(reopened) << reopened.error().message;

  auto dead_letters = q().ListDeadLetters(0, 10);
  ASSERT_TRUE(dead_letters);
  EXPECT_TRUE(dead_letters->empty());
  auto again = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(again);
  ASSERT_EQ(Ids(*again), std::vector<MessageId>{replayed});
  EXPECT_EQ((*again)[0].payload, "replayed");
  EXPECT_EQ((*again)[0].attempts, 1u);
}

TEST_P(QueueContractTest, BlockedClaimWakesOnEnqueue) {
  auto claim = std::async(std::launch::async,
                          [&] { return q().Claim("w", 10, kLease, milliseconds(30'000)); });
  const MessageId id = EnqueueOne("wake");
  ASSERT_EQ(claim.wait_for(seconds(20)), std::future_status::ready);
  auto claimed = claim.get();
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, id);
}

TEST_P(QueueContractTest, BlockedClaimWakesWhenRetryBecomesDue) {
  const MessageId id = EnqueueOne("later");
  ASSERT_TRUE(q().Claim("w", 1, kLease, kNoWait));
  const RetryRequest retry[] = {{id, clock_.Now() + seconds(5), "e"}};
  ASSERT_TRUE(q().Retry(retry));
  auto claim = std::async(std::launch::async,
                          [&] { return q().Claim("w", 10, kLease, milliseconds(30'000)); });
  clock_.Advance(seconds(5));
  ASSERT_EQ(claim.wait_for(seconds(20)), std::future_status::ready);
  auto claimed = claim.get();
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, id);
}

TEST_P(QueueContractTest, ClaimWaitTimesOutEmpty) {
  auto claimed = q().Claim("w", 10, kLease, milliseconds(20));
  ASSERT_TRUE(claimed);
  EXPECT_TRUE(claimed->empty());
}

TEST_P(QueueContractTest, CloseWakesBlockedClaim) {
  std::atomic<bool> started{false};
  auto claim = std::async(std::launch::async, [&] {
    started = true;
    return q().Claim("w", 10, kLease, milliseconds(60'000));
  });
  while (!started) std::this_thread::yield();
  q().Close();
  ASSERT_EQ(claim.wait_for(seconds(20)), std::future_status::ready)
      << "Close did not wake a blocked Claim";
  auto claimed = claim.get();
  if (claimed) {
    EXPECT_TRUE(claimed->empty());
  } else {
    EXPECT_EQ(claimed.error().code, ErrorCode::kQueueUnavailable);
  }
}

TEST_P(QueueContractTest, EnqueueAfterCloseIsUnavailable) {
  q().Close();
  const Status s = Enqueue({NewMessage{NewId(), "late"}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kQueueUnavailable);
}

TEST_P(QueueContractTest, CallsAfterCloseAreUnavailable) {
  const MessageId id = EnqueueOne("x");
  q().Close();
  auto claim = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code, ErrorCode::kQueueUnavailable);
  const MessageId ids[] = {id};
  auto ack = q().Ack(ids);
  ASSERT_FALSE(ack);
  EXPECT_EQ(ack.error().code, ErrorCode::kQueueUnavailable);
  const RetryRequest retry[] = {{id, clock_.Now(), "e"}};
  auto retried = q().Retry(retry);
  ASSERT_FALSE(retried);
  EXPECT_EQ(retried.error().code, ErrorCode::kQueueUnavailable);
  const DeadLetterRequest dead[] = {{id, "r"}};
  auto died = q().DeadLetter(dead);
  ASSERT_FALSE(died);
  EXPECT_EQ(died.error().code, ErrorCode::kQueueUnavailable);
}

TEST_P(QueueContractTest, CloseFinishesPendingEnqueues) {
  std::vector<std::future<Status>> results;
  for (int i = 0; i < 20; ++i) {
    auto promise = std::make_shared<std::promise<Status>>();
    results.push_back(promise->get_future());
    q().EnqueueAsync({NewMessage{NewId(), "p"}},
                     [promise](Status s) { promise->set_value(std::move(s)); });
  }
  q().Close();
  for (auto& r : results) {
    ASSERT_EQ(r.wait_for(kCallbackDeadline), std::future_status::ready);
    EXPECT_TRUE(r.get()) << "an enqueue accepted before Close was not completed";
  }
}

TEST_P(QueueContractTest, CapacityLimitRejectsTheWholeCall) {
  Reset(QueueLimits{.max_messages = 3});
  ASSERT_TRUE(Enqueue({NewMessage{NewId(), "a"}, NewMessage{NewId(), "b"}}));
  const Status over = Enqueue({NewMessage{NewId(), "c"}, NewMessage{NewId(), "d"}});
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kQueueUnavailable);
  auto stats = q().Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, 2u) << "part of a rejected call was stored";

  ASSERT_TRUE(Enqueue({NewMessage{NewId(), "c"}}));  // exactly at the limit
  const Status full = Enqueue({NewMessage{NewId(), "e"}});
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ErrorCode::kQueueUnavailable);

  // In-flight messages count; acknowledging frees room.
  auto claimed = q().Claim("w", 1, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_FALSE(Enqueue({NewMessage{NewId(), "f"}}));
  const MessageId done[] = {(*claimed)[0].id};
  ASSERT_TRUE(q().Ack(done));
  EXPECT_TRUE(Enqueue({NewMessage{NewId(), "g"}}));
}

TEST_P(QueueContractTest, PayloadLimitRejectsTheWholeCall) {
  Reset(QueueLimits{.max_payload_bytes = 100});
  ASSERT_TRUE(Enqueue({NewMessage{NewId(), std::string(100, 'x')}}));
  const Status big =
      Enqueue({NewMessage{NewId(), "small"}, NewMessage{NewId(), std::string(101, 'x')}});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kPayloadTooLarge);
  auto claimed = q().Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u) << "part of a rejected call was stored";
  EXPECT_EQ((*claimed)[0].payload.size(), 100u);
}

TEST_P(QueueContractTest, BinaryPayloadRoundTrips) {
  std::string payload;
  for (int i = 0; i < 512; ++i) payload.push_back(static_cast<char>(i % 256));
  EnqueueOne(payload);
  auto claimed = q().Claim("w", 1, kLease, kNoWait);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].payload, payload);
}

TEST_P(QueueContractTest, ConcurrentProducersAndConsumersLoseNothing) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::vector<std::future<Status>> pending;
      for (int i = 0; i < kPerProducer; ++i) {
        auto promise = std::make_shared<std::promise<Status>>();
        pending.push_back(promise->get_future());
        q().EnqueueAsync({NewMessage{MessageId::Generate(clock_.Now()),
                                     std::to_string(p) + ":" + std::to_string(i)}},
                         [promise](Status s) { promise->set_value(std::move(s)); });
      }
      for (auto& f : pending) {
        if (f.wait_for(kCallbackDeadline) != std::future_status::ready || !f.get()) ++failures;
      }
    });
  }
  std::vector<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (seen.size() < kProducers * kPerProducer && std::chrono::steady_clock::now() < deadline) {
    auto claimed = q().Claim("w", 64, kLease, milliseconds(100));
    ASSERT_TRUE(claimed);
    std::vector<MessageId> ids;
    for (auto& m : *claimed) {
      seen.push_back(m.payload);
      ids.push_back(m.id);
    }
    ASSERT_TRUE(q().Ack(ids));
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kProducers * kPerProducer));
}

}  // namespace
}  // namespace msgbroker::queue::contract
