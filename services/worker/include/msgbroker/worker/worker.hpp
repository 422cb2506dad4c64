#pragma once
// Moves messages from the queue into the main server (docs/LIFE_OF_A_MESSAGE.md, steps 6-8).
//
// Each of `concurrency` threads loops: claim a batch (lease = visibility_timeout) -> deliver it
// in one request -> per item: stored/duplicate -> ack; rejected -> dead-letter with the reason.
// When the request fails, every item is retried at now + backoff(attempts), or dead-lettered once
// it reached max_attempts or max_age. Items claimed after they already exceeded the limits are
// reported to the main server as failed (so the database shows them) and dead-lettered.
// Acks happen only after the main server answered 200, i.e. after its commit.
// After a failed delivery request the thread pauses (backoff by its consecutive failures) before
// it claims again, so a main-server outage does not spin through the backlog spending attempts.
// Stop(): no new claims; the batch in hand is finished (delivered and acked, or retried); a pause
// ends at once.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/net/standard_endpoints.hpp"
#include "msgbroker/queue/queue.hpp"
#include "msgbroker/worker/backoff.hpp"
#include "msgbroker/worker/delivery_client.hpp"

namespace prometheus {
class Registry;
}

namespace msgbroker::worker {

struct WorkerOptions {
  std::string name = "worker";  // consumer name prefix; threads append "-<n>"
  std::size_t concurrency = 1;
  std::size_t batch_size = 500;
  std::chrono::milliseconds visibility_timeout{30'000};
  std::chrono::milliseconds claim_wait{500};
  std::uint32_t max_attempts = 10;
  std::chrono::milliseconds max_age{std::chrono::hours{24}};
  BackoffPolicy backoff;
};

class Worker {
 public:
  using DeliveryClientFactory = std::function<std::unique_ptr<DeliveryClient>()>;

  Worker(WorkerOptions options, queue::Queue& queue, DeliveryClientFactory make_client,
         const Clock& clock, prometheus::Registry& metrics, std::function<double()> uniform01 = {});
  ~Worker();

  void Start();
  void Stop();  // blocks until every thread finished its batch

  std::map<std::string, net::HealthCheck> Health() const;

  // One claim-deliver-settle round on the calling thread; returns how many messages it claimed.
  // Public so tests can drive the worker step by step.
  Result<std::size_t> RunOnce(std::string_view consumer, DeliveryClient& client);

 private:
  struct Metrics;
  struct Round {
    std::size_t claimed = 0;
    bool delivery_failed = false;  // the request to the main server failed as a whole
  };
  Result<Round> RunRound(std::string_view consumer, DeliveryClient& client);
  // Sleeps up to `d`; false when Stop() ended the wait early.
  bool PauseFor(std::chrono::milliseconds d);
  Result<std::vector<api::DeliveryResult>> DeliverSplitting(
      DeliveryClient& client, const std::vector<api::DeliveryItem>& items, std::size_t begin,
      std::size_t end);

  WorkerOptions options_;
  queue::Queue& queue_;
  DeliveryClientFactory make_client_;
  const Clock& clock_;
  std::function<double()> uniform01_;
  std::unique_ptr<Metrics> metrics_;
  std::atomic<bool> stopping_{false};
  std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  std::atomic<bool> last_delivery_ok_{true};
  std::vector<std::thread> threads_;
};

}  // namespace msgbroker::worker
