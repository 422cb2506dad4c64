// QueueMonitor: figures and availability from a background probe, as gauges and as a snapshot.

#include "msgbroker/queue/queue_monitor.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <future>
#include <optional>

#include "msgbroker/queue/embedded_queue.hpp"
#include "msgbroker/testing/temp_dir.hpp"
#include "msgbroker/testing/wait_for.hpp"

namespace msgbroker::queue {
namespace {

using namespace std::chrono_literals;

// Forwards to a real queue; Stats() fails while `down` is set, as a Redis outage would.
class SwitchableQueue final : public Queue {
 public:
  explicit SwitchableQueue(Queue& inner) : inner_(inner) {}
  std::atomic<bool> down{false};

  void EnqueueAsync(std::vector<NewMessage> messages, EnqueueCallback done) override {
    inner_.EnqueueAsync(std::move(messages), std::move(done));
  }
  Result<std::vector<ClaimedMessage>> Claim(std::string_view consumer, std::size_t max,
                                            std::chrono::milliseconds visibility_timeout,
                                            std::chrono::milliseconds wait) override {
    return inner_.Claim(consumer, max, visibility_timeout, wait);
  }
  Status Ack(std::span<const MessageId> ids) override { return inner_.Ack(ids); }
  Status Retry(std::span<const RetryRequest> retries) override { return inner_.Retry(retries); }
  Status DeadLetter(std::span<const DeadLetterRequest> dead) override {
    return inner_.DeadLetter(dead);
  }
  Result<std::vector<queue::DeadLetter>> ListDeadLetters(std::size_t offset,
                                                         std::size_t limit) override {
    return inner_.ListDeadLetters(offset, limit);
  }
  Status ReplayDeadLetter(const MessageId& id) override { return inner_.ReplayDeadLetter(id); }
  Status DiscardDeadLetter(const MessageId& id) override { return inner_.DiscardDeadLetter(id); }
  Result<QueueStats> Stats() override {
    if (down.load()) return Fail(ErrorCode::kQueueUnavailable, "redis 127.0.0.1:1: cannot connect");
    return inner_.Stats();
  }
  void Close() override { inner_.Close(); }

 private:
  Queue& inner_;
};

std::optional<double> Gauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& state = "") {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      const bool match =
          state.empty() || (!metric.label.empty() && metric.label.front().value == state);
      if (!match) continue;
      return family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  return std::nullopt;
}

class QueueMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = EmbeddedQueue::Open({.directory = dir_.path(), .fsync = false}, clock_);
    ASSERT_TRUE(opened) << opened.error().message;
    inner_ = std::move(*opened);
    queue_ = std::make_unique<SwitchableQueue>(*inner_);
  }

  void Enqueue(int n) {
    std::vector<NewMessage> messages;
    for (int i = 0; i < n; ++i) messages.push_back({MessageId::Generate(clock_.Now()), "p"});
    std::promise<Status> done;
    inner_->EnqueueAsync(std::move(messages), [&](Status s) { done.set_value(std::move(s)); });
    ASSERT_TRUE(done.get_future().get());
  }

  testing::TempDir dir_{"msgbroker-monitor"};
  FakeClock clock_;
  std::unique_ptr<EmbeddedQueue> inner_;
  std::unique_ptr<SwitchableQueue> queue_;
  prometheus::Registry registry_;
};

TEST_F(QueueMonitorTest, ExportsDepthAndLagFromTheFirstProbe) {
  Enqueue(3);
  ASSERT_TRUE(inner_->Claim("w", 1, 1h, 0ms));
  Enqueue(1);
  clock_.Advance(42s);

  std::vector<bool> seen;
  QueueMonitor monitor(*queue_, clock_, registry_, 1h, [&](bool up) { seen.push_back(up); });
  monitor.Start();  // the first probe runs before Start returns
  const auto last = monitor.Last();
  EXPECT_TRUE(last.probed);
  EXPECT_TRUE(last.available);
  EXPECT_EQ(last.stats.ready, 3u);
  EXPECT_EQ(last.stats.in_flight, 1u);
  EXPECT_DOUBLE_EQ(last.oldest_ready_age_seconds, 42.0);
  EXPECT_EQ(seen, std::vector<bool>{true});
  EXPECT_EQ(Gauge(registry_, "queue_messages", "ready"), 3.0);
  EXPECT_EQ(Gauge(registry_, "queue_messages", "in_flight"), 1.0);
  EXPECT_EQ(Gauge(registry_, "queue_messages", "delayed"), 0.0);
  EXPECT_EQ(Gauge(registry_, "queue_messages", "dead"), 0.0);
  EXPECT_EQ(Gauge(registry_, "queue_oldest_ready_age_seconds"), 42.0);
  EXPECT_EQ(Gauge(registry_, "queue_up"), 1.0);
}

TEST_F(QueueMonitorTest, ReportsAnOutageAndTheRecoveryOnItsOwnThread) {
  Enqueue(2);
  std::mutex mu;
  std::vector<bool> seen;
  QueueMonitor monitor(*queue_, clock_, registry_, 10ms, [&](bool up) {
    std::lock_guard lock(mu);
    seen.push_back(up);
  });
  monitor.Start();
  queue_->down = true;
  ASSERT_TRUE(testing::WaitFor([&] { return !monitor.Last().available; }, 5000ms));
  const auto down = monitor.Last();
  EXPECT_NE(down.error.find("cannot connect"), std::string::npos) << down.error;
  EXPECT_EQ(down.stats.ready, 2u) << "the last known figures stay visible";
  EXPECT_EQ(Gauge(registry_, "queue_up"), 0.0);
  EXPECT_GE(Gauge(registry_, "queue_probe_failures_total").value_or(0), 1.0);

  queue_->down = false;
  ASSERT_TRUE(testing::WaitFor([&] { return monitor.Last().available; }, 5000ms));
  EXPECT_EQ(Gauge(registry_, "queue_up"), 1.0);
  monitor.Stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<bool>{true, false, true})) << "called on changes only";
}

TEST_F(QueueMonitorTest, StopDoesNotWaitForTheNextProbe) {
  QueueMonitor monitor(*queue_, clock_, registry_, 1h);
  monitor.Start();
  const auto t0 = std::chrono::steady_clock::now();
  monitor.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

}  // namespace
}  // namespace msgbroker::queue
