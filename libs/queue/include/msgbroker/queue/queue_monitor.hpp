#pragma once
// Watches a queue from a background thread, so that nothing on an I/O thread ever waits for the
// queue's backend: Stats() every `interval`, the last answer kept for /health and readiness, and
// exported as Prometheus gauges (docs/OPERATIONS.md):
//   queue_messages{state="ready|delayed|in_flight|dead"}
//   queue_oldest_ready_age_seconds   how long the oldest claimable message has waited (the lag)
//   queue_up                         1 when the last probe succeeded, 0 otherwise
//   queue_probe_failures_total
// `on_availability(bool)` runs on the probing thread after the first probe and whenever the
// availability changes; services use it for readiness (a proxy whose queue is down is not ready).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/periodic_task.hpp"
#include "msgbroker/queue/queue.hpp"

namespace prometheus {
class Registry;
}

namespace msgbroker::queue {

class QueueMonitor {
 public:
  struct Snapshot {
    bool probed = false;     // false until the first probe finished
    bool available = false;  // the last probe succeeded
    QueueStats stats;        // from the last successful probe
    double oldest_ready_age_seconds = 0;
    std::string error;  // why the last probe failed
  };

  QueueMonitor(Queue& queue, const Clock& clock, prometheus::Registry& metrics,
               std::chrono::milliseconds interval,
               std::function<void(bool available)> on_availability = {});
  ~QueueMonitor();
  QueueMonitor(const QueueMonitor&) = delete;
  QueueMonitor& operator=(const QueueMonitor&) = delete;

  // Probes once on the calling thread (so a snapshot is there when Start returns), then keeps
  // probing on a thread of its own until Stop.
  void Start();
  void Stop();

  Snapshot Last() const;

 private:
  struct Metrics;
  void Probe();

  Queue& queue_;
  const Clock& clock_;
  std::function<void(bool)> on_availability_;
  std::unique_ptr<Metrics> metrics_;

  mutable std::mutex mu_;
  Snapshot last_;
  PeriodicTask probing_;  // last: stopped first
};

}  // namespace msgbroker::queue
