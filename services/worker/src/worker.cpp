#include "msgbroker/worker/worker.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <random>

namespace msgbroker::worker {

struct Worker::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : processed(prometheus::BuildCounter()
                      .Name("worker_messages_processed_total")
                      .Help("Messages the main server committed (stored or already stored)")
                      .Register(r)
                      .Add({})),
        retried(prometheus::BuildCounter()
                    .Name("worker_messages_retried_total")
                    .Help("Messages scheduled for another attempt")
                    .Register(r)
                    .Add({})),
        dead_lettered(prometheus::BuildCounter()
                          .Name("worker_messages_dead_lettered_total")
                          .Help("Messages moved to the dead-letter queue")
                          .Register(r)
                          .Add({})),
        batch_failures(prometheus::BuildCounter()
                           .Name("worker_batch_failures_total")
                           .Help("Delivery requests that failed as a whole")
                           .Register(r)
                           .Add({})),
        batch_splits(prometheus::BuildCounter()
                         .Name("worker_batch_splits_total")
                         .Help("Batches split in two because the main server found them too large")
                         .Register(r)
                         .Add({})),
        batch_seconds(
            prometheus::BuildHistogram()
                .Name("worker_batch_duration_seconds")
                .Help("Deliver one batch to the main server and settle it in the queue")
                .Register(r)
                .Add({},
                     prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                             0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
        batch_size(prometheus::BuildHistogram()
                       .Name("worker_batch_size")
                       .Help("Messages per claimed batch")
                       .Register(r)
                       .Add({}, prometheus::Histogram::BucketBoundaries{1, 5, 10, 50, 100, 250, 500,
                                                                        1000})),
        queue_wait_seconds(
            prometheus::BuildHistogram()
                .Name("worker_queue_wait_seconds")
                .Help("Time from enqueue to commit in the main server")
                .Register(r)
                .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                                 1, 5, 10, 60, 300, 3600})) {}
  prometheus::Counter& processed;
  prometheus::Counter& retried;
  prometheus::Counter& dead_lettered;
  prometheus::Counter& batch_failures;
  prometheus::Counter& batch_splits;
  prometheus::Histogram& batch_seconds;
  prometheus::Histogram& batch_size;
  prometheus::Histogram& queue_wait_seconds;
};

Worker::Worker(WorkerOptions options, queue::Queue& queue, DeliveryClientFactory make_client,
               const Clock& clock, prometheus::Registry& metrics, std::function<double()> uniform01)
    : options_(std::move(options)),
      queue_(queue),
      make_client_(std::move(make_client)),
      clock_(clock),
      uniform01_(std::move(uniform01)),
      metrics_(std::make_unique<Metrics>(metrics)) {
  if (!uniform01_) {
    uniform01_ = [] {
      thread_local std::mt19937_64 rng{std::random_device{}()};
      return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    };
  }
}

Worker::~Worker() { Stop(); }

void Worker::Start() {
  for (std::size_t i = 0; i < options_.concurrency; ++i) {
    threads_.emplace_back([this, i] {
      const std::string consumer = options_.name + "-" + std::to_string(i);
      auto client = make_client_();
      std::uint32_t failures = 0;  // consecutive failed delivery requests of this thread
      while (!stopping_.load()) {
        auto round = RunRound(consumer, *client);
        if (!round) {
          if (stopping_.load()) break;
          spdlog::warn("event=worker_round_failed consumer={} error=\"{}\"", consumer,
                       round.error().message);
          // The queue itself failed; do not spin.
          PauseFor(options_.claim_wait);
        } else if (round->delivery_failed) {
          PauseFor(BackoffDelay(options_.backoff, ++failures, uniform01_));
        } else if (round->claimed > 0) {
          failures = 0;
        }
      }
    });
  }
}

bool Worker::PauseFor(std::chrono::milliseconds d) {
  std::unique_lock lock(pause_mu_);
  return !pause_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void Worker::Stop() {
  {
    std::lock_guard lock(pause_mu_);
    stopping_.store(true);
  }
  pause_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

std::map<std::string, net::HealthCheck> Worker::Health() const {
  std::map<std::string, net::HealthCheck> checks;
  checks["main_server"] = last_delivery_ok_.load()
                              ? net::HealthCheck{net::HealthState::kHealthy, "last delivery ok"}
                              : net::HealthCheck{net::HealthState::kDegraded,
                                                 "last delivery failed; retrying with backoff"};
  return checks;
}

// Delivers items[begin, end). A batch the main server refuses as too large is split in halves
// (each half its own request) instead of failing: a body limit must never dead-letter messages.
Result<std::vector<api::DeliveryResult>> Worker::DeliverSplitting(
    DeliveryClient& client, const std::vector<api::DeliveryItem>& items, std::size_t begin,
    std::size_t end) {
  const bool whole = begin == 0 && end == items.size();
  auto results = whole ? client.Deliver(items)
                       : client.Deliver(std::vector<api::DeliveryItem>(
                             items.begin() + static_cast<std::ptrdiff_t>(begin),
                             items.begin() + static_cast<std::ptrdiff_t>(end)));
  if (results || results.error().code != ErrorCode::kPayloadTooLarge || end - begin < 2) {
    return results;
  }
  metrics_->batch_splits.Increment();
  const std::size_t middle = begin + (end - begin) / 2;
  auto first = DeliverSplitting(client, items, begin, middle);
  if (!first) return first;
  auto second = DeliverSplitting(client, items, middle, end);
  if (!second) return second;
  first->insert(first->end(), std::make_move_iterator(second->begin()),
                std::make_move_iterator(second->end()));
  return first;
}

Result<std::size_t> Worker::RunOnce(std::string_view consumer, DeliveryClient& client) {
  auto round = RunRound(consumer, client);
  if (!round) return tl::unexpected(round.error());
  return round->claimed;
}

Result<Worker::Round> Worker::RunRound(std::string_view consumer, DeliveryClient& client) {
  auto claimed =
      queue_.Claim(consumer, options_.batch_size, options_.visibility_timeout, options_.claim_wait);
  if (!claimed) return tl::unexpected(claimed.error());
  if (claimed->empty()) return Round{};
  const auto started = std::chrono::steady_clock::now();
  const auto now = clock_.Now();
  metrics_->batch_size.Observe(static_cast<double>(claimed->size()));

  std::vector<api::DeliveryItem> items;
  items.reserve(claimed->size());
  for (auto& m : *claimed) {
    api::DeliveryItem item{m.id, m.attempts, std::move(m.payload), std::nullopt};
    if (m.attempts > options_.max_attempts) {
      item.failure = "gave up after " + std::to_string(m.attempts - 1) + " attempts" +
                     (m.last_error.empty() ? "" : ": " + m.last_error);
    } else if (now - m.enqueued_at > options_.max_age) {
      item.failure = "expired: older than the maximum age" +
                     (m.last_error.empty() ? "" : std::string("; last error: ") + m.last_error);
    }
    items.push_back(std::move(item));
  }

  auto results = DeliverSplitting(client, items, 0, items.size());
  std::vector<MessageId> acks;
  std::vector<queue::RetryRequest> retries;
  std::vector<queue::DeadLetterRequest> dead;
  if (results) {
    last_delivery_ok_.store(true);
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& result = (*results)[i];
      if (result.outcome == api::DeliveryOutcome::kRejected) {
        dead.push_back({items[i].message_id,
                        "rejected by the main server: " +
                            std::string(ErrorCodeName(result.error ? result.error->code
                                                                   : ErrorCode::kInternal)) +
                            (result.error ? " " + result.error->message : std::string())});
      } else if (items[i].failure) {
        dead.push_back({items[i].message_id, *items[i].failure});
      } else {
        acks.push_back(items[i].message_id);
        metrics_->queue_wait_seconds.Observe(
            std::chrono::duration<double>(now - (*claimed)[i].enqueued_at).count());
      }
    }
  } else {
    last_delivery_ok_.store(false);
    metrics_->batch_failures.Increment();
    spdlog::warn("event=delivery_failed consumer={} batch={} error=\"{}\"", consumer, items.size(),
                 results.error().message);
    // The main server unreachable or unavailable (connect/TLS failure, 503): the batch never got
    // there, so the attempt is given back and only max_age ends an outage. Anything else (500, a
    // timeout after sending, a malformed answer) may be the batch's fault and counts.
    const bool unreachable = results.error().code == ErrorCode::kServiceUnavailable;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& m = (*claimed)[i];
      const std::string error =
          std::string(ErrorCodeName(results.error().code)) + ": " + results.error().message;
      if (items[i].failure) {
        dead.push_back({m.id, *items[i].failure});
      } else if (unreachable) {
        retries.push_back(
            {m.id, now + BackoffDelay(options_.backoff, m.attempts, uniform01_), error, true});
      } else if (m.attempts >= options_.max_attempts) {
        dead.push_back({m.id, "gave up after " + std::to_string(m.attempts) +
                                  " attempts; last error: " + error});
      } else {
        retries.push_back(
            {m.id, now + BackoffDelay(options_.backoff, m.attempts, uniform01_), error});
      }
    }
  }

  // Settle in the queue. Acks come only after the main server's 200 (its commit).
  if (!acks.empty()) {
    if (auto ok = queue_.Ack(acks); !ok) return tl::unexpected(ok.error());
    metrics_->processed.Increment(static_cast<double>(acks.size()));
  }
  if (!retries.empty()) {
    if (auto ok = queue_.Retry(retries); !ok) return tl::unexpected(ok.error());
    metrics_->retried.Increment(static_cast<double>(retries.size()));
  }
  if (!dead.empty()) {
    for (const auto& d : dead) {
      spdlog::warn("event=dead_lettered message_id={} reason=\"{}\"", d.id.str(), d.reason);
    }
    if (auto ok = queue_.DeadLetter(dead); !ok) return tl::unexpected(ok.error());
    metrics_->dead_lettered.Increment(static_cast<double>(dead.size()));
  }
  metrics_->batch_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return Round{claimed->size(), !results};
}

}  // namespace msgbroker::worker
