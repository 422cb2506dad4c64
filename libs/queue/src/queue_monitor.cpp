#include "msgbroker/queue/queue_monitor.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace msgbroker::queue {

struct QueueMonitor::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : messages(prometheus::BuildGauge()
                     .Name("queue_messages")
                     .Help("Messages in the queue by state, as of the last probe")
                     .Register(r)),
        ready(messages.Add({{"state", "ready"}})),
        delayed(messages.Add({{"state", "delayed"}})),
        in_flight(messages.Add({{"state", "in_flight"}})),
        dead(messages.Add({{"state", "dead"}})),
        oldest_age(prometheus::BuildGauge()
                       .Name("queue_oldest_ready_age_seconds")
                       .Help("How long the oldest claimable message has waited (0 when none)")
                       .Register(r)
                       .Add({})),
        up(prometheus::BuildGauge()
               .Name("queue_up")
               .Help("1 when the last queue probe succeeded, 0 otherwise")
               .Register(r)
               .Add({})),
        failures(prometheus::BuildCounter()
                     .Name("queue_probe_failures_total")
                     .Help("Queue probes that failed (backend unreachable or erroring)")
                     .Register(r)
                     .Add({})) {}
  prometheus::Family<prometheus::Gauge>& messages;
  prometheus::Gauge& ready;
  prometheus::Gauge& delayed;
  prometheus::Gauge& in_flight;
  prometheus::Gauge& dead;
  prometheus::Gauge& oldest_age;
  prometheus::Gauge& up;
  prometheus::Counter& failures;
};

QueueMonitor::QueueMonitor(Queue& queue, const Clock& clock, prometheus::Registry& metrics,
                           std::chrono::milliseconds interval,
                           std::function<void(bool)> on_availability)
    : queue_(queue),
      clock_(clock),
      on_availability_(std::move(on_availability)),
      metrics_(std::make_unique<Metrics>(metrics)),
      probing_(interval, [this] { Probe(); }) {}

QueueMonitor::~QueueMonitor() { Stop(); }

void QueueMonitor::Start() {
  Probe();
  probing_.Start();
}

void QueueMonitor::Stop() { probing_.Stop(); }

QueueMonitor::Snapshot QueueMonitor::Last() const {
  std::lock_guard lock(mu_);
  return last_;
}

void QueueMonitor::Probe() {
  auto stats = queue_.Stats();
  Snapshot next;
  next.probed = true;
  next.available = stats.has_value();
  if (stats) {
    next.stats = *stats;
    if (stats->ready > 0 && stats->oldest_ready_enqueued_at != SystemTime{}) {
      next.oldest_ready_age_seconds = std::max(
          0.0,
          std::chrono::duration<double>(clock_.Now() - stats->oldest_ready_enqueued_at).count());
    }
    metrics_->ready.Set(static_cast<double>(stats->ready));
    metrics_->delayed.Set(static_cast<double>(stats->delayed));
    metrics_->in_flight.Set(static_cast<double>(stats->in_flight));
    metrics_->dead.Set(static_cast<double>(stats->dead));
    metrics_->oldest_age.Set(next.oldest_ready_age_seconds);
    metrics_->up.Set(1);
  } else {
    next.stats = Last().stats;  // the last known figures stay visible in /health
    next.error = stats.error().message;
    metrics_->up.Set(0);
    metrics_->failures.Increment();
  }
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    changed = !last_.probed || last_.available != next.available;
    last_ = next;
  }
  if (!changed) return;
  if (next.available) {
    spdlog::info("event=queue_available");
  } else {
    spdlog::warn("event=queue_unavailable error=\"{}\"", next.error);
  }
  if (on_availability_) on_availability_(next.available);
}

}  // namespace msgbroker::queue
