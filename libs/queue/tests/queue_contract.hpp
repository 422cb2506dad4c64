#pragma once
// The implementation-neutral Queue contract tests (queue_contract_test.cpp). An implementation
// reuses them by linking queue_contract_test.cpp into its test binary and instantiating:
//
//   INSTANTIATE_TEST_SUITE_P(Redis, QueueContractTest,
//                            ::testing::Values(QueueContractParam{"Redis", &MakeRedisQueue}),
//                            QueueContractParamName);
//
// The factory gets the limits a test needs and a FakeClock that the queue must use for every
// time decision (enqueued_at, retry not_before, lease deadlines); tests move the clock instead of
// sleeping. A factory may return nullptr to skip the test (e.g. its server is not available).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/queue/queue.hpp"

namespace msgbroker::queue::contract {

struct QueueLimits {
  std::size_t max_messages = 1'000'000;
  std::size_t max_payload_bytes = 64 * 1024;
};

// Owns a queue and whatever it needs (directory, server connection) for one test.
class QueueUnderTest {
 public:
  virtual ~QueueUnderTest() = default;
  virtual Queue& queue() = 0;
  // Closes the queue and opens a new instance on the same storage (directory, key prefix) with
  // the same options and clock, as a restarted process would.
  virtual Status Reopen() = 0;
};

// A QueueUnderTest that opens its queue with `open`, and reopens it by destroying the instance
// (which closes it and releases what it holds) and calling `open` again. Whatever the queue needs
// to outlive it (a directory) can be captured by `open`, which is destroyed after the queue.
class ReopenableQueue final : public QueueUnderTest {
 public:
  using Opener = std::function<Result<std::unique_ptr<Queue>>()>;

  // The holder with its queue open, or nullptr (and a test failure) when it does not open.
  static std::unique_ptr<QueueUnderTest> Open(Opener open) {
    auto holder = std::unique_ptr<ReopenableQueue>(new ReopenableQueue(std::move(open)));
    if (auto opened = holder->Reopen(); !opened) {
      ADD_FAILURE() << opened.error().message;
      return nullptr;
    }
    return holder;
  }

  Queue& queue() override { return *queue_; }
  Status Reopen() override {
    queue_.reset();
    auto opened = open_();
    if (!opened) return tl::unexpected(std::move(opened.error()));
    queue_ = std::move(*opened);
    return Ok();
  }

 private:
  explicit ReopenableQueue(Opener open) : open_(std::move(open)) {}
  Opener open_;
  std::unique_ptr<Queue> queue_;
};

using QueueFactory =
    std::function<std::unique_ptr<QueueUnderTest>(const QueueLimits& limits, const Clock& clock)>;

struct QueueContractParam {
  std::string name;
  QueueFactory factory;
  // Whether a lease taken before Reopen still holds after it: Redis keeps leases on the server;
  // the embedded log does not record them, so its in-flight messages come back as ready.
  bool leases_survive_reopen = false;
};

// Test names and --gtest_list_tests show the implementation's name, not the factory's bytes.
inline void PrintTo(const QueueContractParam& param, std::ostream* os) { *os << param.name; }

inline std::string QueueContractParamName(
    const ::testing::TestParamInfo<QueueContractParam>& info) {
  return info.param.name;
}

class QueueContractTest : public ::testing::TestWithParam<QueueContractParam> {
 protected:
  void SetUp() override { Reset(QueueLimits{}); }
  void TearDown() override {
    if (under_test_) under_test_->queue().Close();
    under_test_.reset();
  }

  // Replaces the queue with a fresh one built with `limits`.
  void Reset(const QueueLimits& limits) {
    under_test_.reset();
    under_test_ = GetParam().factory(limits, clock_);
    if (!under_test_) GTEST_SKIP() << GetParam().name << " queue is not available";
  }

  Queue& q() { return under_test_->queue(); }

  // QueueUnderTest::Reopen; when it fails there is no queue left to close at the end.
  Status Reopen() {
    Status reopened = under_test_->Reopen();
    if (!reopened) under_test_.reset();
    return reopened;
  }

  MessageId NewId() { return MessageId::Generate(clock_.Now()); }

  // Enqueues and waits (bounded) for the callback; returns its status.
  Status Enqueue(std::vector<NewMessage> messages);
  // Enqueues one message with `payload`; fails the test on error.
  MessageId EnqueueOne(const std::string& payload);

  FakeClock clock_;
  std::unique_ptr<QueueUnderTest> under_test_;
};

// A burst of concurrent single-message EnqueueAsync calls: `threads` threads call `per_thread`
// times each without waiting, then the callbacks are awaited (at most 60 s). The queue tests use it
// to show that concurrent calls share their fsyncs or round trips.
struct BurstOutcome {
  int done = 0;
  int ok = 0;
  int failed = 0;
};

inline BurstOutcome EnqueueBurst(Queue& q, const Clock& clock, int threads, int per_thread) {
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<int> done{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        q.EnqueueAsync({NewMessage{MessageId::Generate(clock.Now()),
                                   "t" + std::to_string(t) + "-" + std::to_string(i)}},
                       [&](Status s) {
                         ++(s ? ok : failed);
                         ++done;
                       });
      }
    });
  }
  for (auto& caller : callers) caller.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (done.load() < threads * per_thread && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return BurstOutcome{done.load(), ok.load(), failed.load()};
}

// Every call of a burst of `total` answered, and answered Ok.
inline ::testing::AssertionResult EveryCallAccepted(const BurstOutcome& burst, int total) {
  if (burst.done == total && burst.ok == total && burst.failed == 0) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << burst.done << " of " << total << " answered, " << burst.ok
                                       << " Ok, " << burst.failed << " failed";
}

}  // namespace msgbroker::queue::contract
