#include "msgbroker/worker/worker.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <future>
#include <random>
#include <thread>

#include "msgbroker/queue/embedded_queue.hpp"
#include "msgbroker/worker/backoff.hpp"

namespace msgbroker::worker {
namespace {

using namespace std::chrono_literals;

TEST(BackoffTest, GrowsExponentiallyWithJitterAndCaps) {
  const BackoffPolicy policy{1000ms, 60'000ms};
  EXPECT_EQ(BackoffDelay(policy, 1, [] { return 0.0; }), 500ms);
  EXPECT_EQ(BackoffDelay(policy, 1, [] { return 0.999999; }).count(), 999);
  EXPECT_EQ(BackoffDelay(policy, 2, [] { return 0.0; }), 1000ms);
  EXPECT_EQ(BackoffDelay(policy, 4, [] { return 0.0; }), 4000ms);
  EXPECT_EQ(BackoffDelay(policy, 30, [] { return 0.0; }), 30'000ms);
  EXPECT_EQ(BackoffDelay(policy, 1000, [] { return 1.0; }), 60'000ms);
  EXPECT_EQ(BackoffDelay(policy, 0, [] { return 0.0; }), 500ms);
}

TEST(BackoffTest, JitterSpreadsDelays) {
  std::mt19937_64 rng(42);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 100; ++i) {
    seen.insert(BackoffDelay({1000ms, 60'000ms}, 5, [&] {
                  return std::uniform_real_distribution<double>(0, 1)(rng);
                }).count());
  }
  EXPECT_GT(seen.size(), 50u);
  EXPECT_GE(*seen.begin(), 8000);
  EXPECT_LT(*seen.rbegin(), 16'000);
}

// A scripted main server: answers each batch with the next function in line.
class ScriptedClient : public DeliveryClient {
 public:
  using Step = std::function<Result<std::vector<api::DeliveryResult>>(
      const std::vector<api::DeliveryItem>&)>;
  void Then(Step s) { steps_.push_back(std::move(s)); }
  Result<std::vector<api::DeliveryResult>> Deliver(
      const std::vector<api::DeliveryItem>& items) override {
    seen.push_back(items);
    if (steps_.empty()) return Fail(ErrorCode::kInternal, "no scripted step left");
    auto step = std::move(steps_.front());
    steps_.erase(steps_.begin());
    return step(items);
  }
  std::vector<std::vector<api::DeliveryItem>> seen;

 private:
  std::vector<Step> steps_;
};

ScriptedClient::Step AllStored() {
  return [](const std::vector<api::DeliveryItem>& items) {
    std::vector<api::DeliveryResult> out;
    for (const auto& i : items) out.push_back({i.message_id, api::DeliveryOutcome::kStored, {}});
    return Result<std::vector<api::DeliveryResult>>(out);
  };
}

ScriptedClient::Step Unavailable() {
  return [](const std::vector<api::DeliveryItem>&) -> Result<std::vector<api::DeliveryResult>> {
    return Fail(ErrorCode::kServiceUnavailable, "connection refused");
  };
}

// The main server answered, with an error that may be the batch's fault: the attempt counts.
ScriptedClient::Step ServerError() {
  return [](const std::vector<api::DeliveryItem>&) -> Result<std::vector<api::DeliveryResult>> {
    return Fail(ErrorCode::kUpstreamError, "main server answered 500");
  };
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("worker_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto q = queue::EmbeddedQueue::Open({.directory = dir_, .fsync = false}, clock_);
    ASSERT_TRUE(q) << q.error().message;
    queue_ = std::move(*q);
    options_.batch_size = 10;
    options_.claim_wait = 0ms;
    options_.max_attempts = 3;
    options_.backoff = {1000ms, 60'000ms};
  }
  void TearDown() override {
    queue_->Close();
    queue_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::vector<MessageId> Enqueue(int n) {
    std::vector<queue::NewMessage> batch;
    std::vector<MessageId> ids;
    for (int i = 0; i < n; ++i) {
      ids.push_back(MessageId::Generate(clock_.Now()));
      batch.push_back({ids.back(), "payload-" + std::to_string(i)});
    }
    std::promise<Status> done;
    queue_->EnqueueAsync(std::move(batch), [&](Status s) { done.set_value(s); });
    EXPECT_TRUE(done.get_future().get());
    return ids;
  }
  Worker MakeWorker() {
    return Worker(
        options_, *queue_, [] { return nullptr; }, clock_, registry_, [] { return 0.0; });
  }

  FakeClock clock_;
  prometheus::Registry registry_;
  std::filesystem::path dir_;
  std::unique_ptr<queue::EmbeddedQueue> queue_;
  WorkerOptions options_;
};

TEST_F(WorkerTest, AcksOnlyWhatTheMainServerCommitted) {
  Enqueue(3);
  ScriptedClient client;
  client.Then(AllStored());
  auto worker = MakeWorker();
  auto n = worker.RunOnce("w", client);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 3u);
  ASSERT_EQ(client.seen.size(), 1u);
  EXPECT_EQ(client.seen[0].size(), 3u);  // one request for the whole batch
  EXPECT_EQ(client.seen[0][0].payload, "payload-0");
  auto stats = queue_->Stats();
  EXPECT_EQ(stats->ready + stats->in_flight + stats->delayed + stats->dead, 0u);
}

TEST_F(WorkerTest, BatchTooLargeForTheMainServerIsSplitNotRetried) {
  Enqueue(5);
  ScriptedClient client;
  // The main server takes at most 2 items per request.
  for (int i = 0; i < 8; ++i) {
    client.Then([](const std::vector<api::DeliveryItem>& items)
                    -> Result<std::vector<api::DeliveryResult>> {
      if (items.size() > 2) return Fail(ErrorCode::kPayloadTooLarge, "too large");
      return AllStored()(items);
    });
  }
  auto worker = MakeWorker();
  auto n = worker.RunOnce("w", client);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 5u);
  std::vector<std::size_t> sizes;
  for (const auto& batch : client.seen) sizes.push_back(batch.size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{5, 2, 3, 1, 2}));
  auto stats = queue_->Stats();
  EXPECT_EQ(stats->ready + stats->in_flight + stats->delayed + stats->dead, 0u);
}

TEST_F(WorkerTest, SingleItemTooLargeIsRetriedLikeAnyFailure) {
  Enqueue(1);
  ScriptedClient client;
  client.Then(
      [](const std::vector<api::DeliveryItem>&) -> Result<std::vector<api::DeliveryResult>> {
        return Fail(ErrorCode::kPayloadTooLarge, "too large");
      });
  auto worker = MakeWorker();
  ASSERT_EQ(*worker.RunOnce("w", client), 1u);
  EXPECT_EQ(client.seen.size(), 1u);
  EXPECT_EQ(queue_->Stats()->delayed, 1u);
}

TEST_F(WorkerTest, FailedDeliveryIsRetriedWithBackoffNotAcked) {
  const auto ids = Enqueue(2);
  ScriptedClient client;
  client.Then(ServerError());
  client.Then(AllStored());
  auto worker = MakeWorker();
  ASSERT_TRUE(worker.RunOnce("w", client));
  auto stats = queue_->Stats();
  EXPECT_EQ(stats->delayed, 2u);
  // Backoff for attempt 1 with zero jitter is base/2 = 500 ms: nothing before that.
  clock_.Advance(499ms);
  EXPECT_EQ(*worker.RunOnce("w", client), 0u);
  clock_.Advance(1ms);
  EXPECT_EQ(*worker.RunOnce("w", client), 2u);
  ASSERT_EQ(client.seen.size(), 2u);
  EXPECT_EQ(client.seen[1][0].attempts, 2u);
  EXPECT_EQ(queue_->Stats()->delayed, 0u);
}

TEST_F(WorkerTest, DeadLettersAfterMaxAttemptsWithReason) {
  const auto ids = Enqueue(1);
  ScriptedClient client;
  for (int i = 0; i < 3; ++i) client.Then(ServerError());
  auto worker = MakeWorker();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(*worker.RunOnce("w", client), 1u) << "attempt " << i + 1;
    clock_.Advance(10min);
  }
  auto dead = queue_->ListDeadLetters(0, 10);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].id, ids[0]);
  EXPECT_EQ((*dead)[0].payload, "payload-0");
  EXPECT_NE((*dead)[0].reason.find("gave up after 3 attempts"), std::string::npos)
      << (*dead)[0].reason;
  EXPECT_NE((*dead)[0].reason.find("answered 500"), std::string::npos);
}

// A main server that cannot be reached never saw the batch: however long the outage, the
// attempts are given back, and only max_age ends it.
TEST_F(WorkerTest, UnreachableMainServerDoesNotUseUpAttempts) {
  const auto ids = Enqueue(1);
  ScriptedClient client;
  for (int i = 0; i < 10; ++i) client.Then(Unavailable());
  client.Then(AllStored());
  auto worker = MakeWorker();
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(*worker.RunOnce("w", client), 1u) << "round " << i + 1;
    clock_.Advance(10min);
  }
  ASSERT_EQ(*worker.RunOnce("w", client), 1u);
  ASSERT_EQ(client.seen.size(), 11u);
  EXPECT_EQ(client.seen.back()[0].attempts, 1u);
  EXPECT_FALSE(client.seen.back()[0].failure) << "delivered as a message, not as a failure";
  EXPECT_TRUE(queue_->ListDeadLetters(0, 10)->empty());

  // max_age still applies: a message older than it is reported failed and dead-lettered.
  Enqueue(1);
  client.Then(Unavailable());
  client.Then(AllStored());
  ASSERT_EQ(*worker.RunOnce("w", client), 1u);
  clock_.Advance(options_.max_age + 1min);
  ASSERT_EQ(*worker.RunOnce("w", client), 1u);
  ASSERT_TRUE(client.seen.back()[0].failure);
  EXPECT_NE(client.seen.back()[0].failure->find("expired"), std::string::npos);
  EXPECT_EQ(queue_->ListDeadLetters(0, 10)->size(), 1u);
}

TEST_F(WorkerTest, RejectedItemsAreDeadLetteredAndTheRestAcked) {
  const auto ids = Enqueue(2);
  ScriptedClient client;
  client.Then([&](const std::vector<api::DeliveryItem>& items) {
    return Result<std::vector<api::DeliveryResult>>(std::vector<api::DeliveryResult>{
        {items[0].message_id, api::DeliveryOutcome::kDuplicate, {}},
        {items[1].message_id, api::DeliveryOutcome::kRejected,
         Error{ErrorCode::kDataCorrupted, "cannot open"}}});
  });
  auto worker = MakeWorker();
  ASSERT_TRUE(worker.RunOnce("w", client));
  auto dead = queue_->ListDeadLetters(0, 10);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].id, ids[1]);
  EXPECT_NE((*dead)[0].reason.find("DATA_CORRUPTED"), std::string::npos);
  EXPECT_EQ(queue_->Stats()->ready + queue_->Stats()->in_flight, 0u);
}

TEST_F(WorkerTest, ExpiredMessagesAreReportedAsFailedThenDeadLettered) {
  options_.max_age = 1h;
  Enqueue(1);
  clock_.Advance(2h);
  ScriptedClient client;
  client.Then(AllStored());
  auto worker = MakeWorker();
  ASSERT_TRUE(worker.RunOnce("w", client));
  ASSERT_EQ(client.seen.size(), 1u);
  ASSERT_TRUE(client.seen[0][0].failure);
  EXPECT_NE(client.seen[0][0].failure->find("expired"), std::string::npos);
  EXPECT_EQ(queue_->Stats()->dead, 1u);
}

TEST_F(WorkerTest, LeaseExpiryAfterAWorkerCrashRedeliversAndCountsAttempts) {
  Enqueue(1);
  // A worker claims and "crashes" (never settles).
  auto claimed = queue_->Claim("crashed", 10, options_.visibility_timeout, 0ms);
  ASSERT_EQ(claimed->size(), 1u);
  ScriptedClient client;
  client.Then(AllStored());
  auto worker = MakeWorker();
  EXPECT_EQ(*worker.RunOnce("w", client), 0u);  // still leased
  clock_.Advance(options_.visibility_timeout + 1ms);
  EXPECT_EQ(*worker.RunOnce("w", client), 1u);
  EXPECT_EQ(client.seen[0][0].attempts, 2u);
}

// A main server that is down: the thread pauses after the failed request (backoff) instead of
// claiming the next ready batch at once, and Stop() cuts the pause short.
TEST_F(WorkerTest, PausesAfterAFailedDeliveryInsteadOfChurningTheBacklog) {
  Enqueue(20);
  options_.batch_size = 1;
  options_.concurrency = 1;
  options_.backoff = {2000ms, 60'000ms};
  auto requests = std::make_shared<std::atomic<int>>(0);
  class DownClient final : public DeliveryClient {
   public:
    explicit DownClient(std::shared_ptr<std::atomic<int>> n) : n_(std::move(n)) {}
    Result<std::vector<api::DeliveryResult>> Deliver(
        const std::vector<api::DeliveryItem>&) override {
      ++*n_;
      return Fail(ErrorCode::kServiceUnavailable, "connection refused");
    }

   private:
    std::shared_ptr<std::atomic<int>> n_;
  };
  Worker worker(
      options_, *queue_, [requests] { return std::make_unique<DownClient>(requests); }, clock_,
      registry_, [] { return 0.0; });
  worker.Start();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (requests->load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(requests->load(), 1);
  // Without the pause the thread would go through the other 19 ready messages in this time.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(requests->load(), 1);
  const auto t0 = std::chrono::steady_clock::now();
  worker.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "Stop waited for the pause to end";
}

}  // namespace
}  // namespace msgbroker::worker
