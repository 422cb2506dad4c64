// `msgbroker worker`: claims from the shared queue, delivers to the main server over mutual TLS.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <string>

#include "backends.hpp"
#include "msgbroker/net/https_client.hpp"
#include "msgbroker/worker/worker.hpp"
#include "service_apps.hpp"
#include "service_host.hpp"

namespace msgbroker::cli {

namespace {

constexpr auto kDeliveryTimeout = std::chrono::seconds{30};

std::string Hostname() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "unknown";
  return name.data();
}

class WorkerApp final : public ServiceApp {
 public:
  ~WorkerApp() override { Stop(); }
  std::uint16_t port() const override { return host_.server->port(); }
  // The worker's client certificate, key and CA: the next delivery request uses them.
  Status ReloadTls() override { return tls_ ? tls_->Reload() : Ok(); }
  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    if (worker_) worker_->Stop();  // finishes the batch in hand
    if (monitor_) monitor_->Stop();
    host_.Stop();
    if (queue_) queue_->Close();
  }

  Status Start(const config::WorkerConfig& config, const Clock& clock) {
    if (auto ok = RequireSharedQueue(config.queue, config::WorkerConfig::kSection); !ok) return ok;
    auto endpoint = net::ParseUrl(config.main_server_url);
    if (auto ok = Prefix("worker: main_server_url", endpoint); !ok) return ok;
    auto queue = OpenQueue(config.queue, clock);
    if (auto ok = Prefix("queue", queue); !ok) return ok;
    queue_ = std::move(*queue);

    const auto& w = config.worker;
    worker::WorkerOptions options;
    // Consumer names tell worker processes apart in the queue (Redis consumer group members).
    options.name = "worker-" + Hostname() + "-" + std::to_string(::getpid());
    options.concurrency = w.concurrency;
    options.batch_size = w.batch_size;
    options.max_attempts = w.max_attempts;
    options.max_age = w.max_age;
    options.visibility_timeout = w.visibility_timeout;
    options.backoff.base = w.backoff_base;
    options.backoff.max = w.backoff_max;
    auto tls = net::ReloadableClientContext::Create(ToTlsClientConfig(config.tls), "worker");
    if (auto ok = Prefix("worker: tls", tls); !ok) return ok;
    tls_ = *tls;
    worker_ = std::make_unique<worker::Worker>(
        options, *queue_,
        [main_endpoint = *endpoint, tls = tls_]() -> std::unique_ptr<worker::DeliveryClient> {
          return std::make_unique<worker::HttpDeliveryClient>(main_endpoint, tls, kDeliveryTimeout);
        },
        clock, *host_.registry);
    // Queue depth and lag are exported by every worker (a dashboard takes the max over them).
    monitor_ =
        std::make_unique<queue::QueueMonitor>(*queue_, clock, *host_.registry, kQueueProbeInterval);
    monitor_->Start();
    auto* worker = worker_.get();
    auto* monitor = monitor_.get();
    if (auto ok = Prefix(
            "worker metrics",
            host_.Start("worker", config.metrics.host, config.metrics.port,
                        config.metrics.io_threads, std::nullopt,
                        [worker, monitor] { return WithQueueHealth(worker->Health(), *monitor); }));
        !ok) {
      return ok;
    }
    worker_->Start();
    host_.status->ready = true;
    spdlog::info("event=started service=worker metrics_port={}", port());
    return Ok();
  }

 private:
  std::unique_ptr<queue::Queue> queue_;
  std::shared_ptr<net::ReloadableClientContext> tls_;
  std::unique_ptr<worker::Worker> worker_;
  ServiceHost host_;
  std::unique_ptr<queue::QueueMonitor> monitor_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<ServiceApp>> StartWorker(const config::WorkerConfig& config,
                                                const Clock& clock) {
  auto app = std::make_unique<WorkerApp>();
  if (auto ok = app->Start(config, clock); !ok) return tl::unexpected(ok.error());
  return std::unique_ptr<ServiceApp>(std::move(app));
}

}  // namespace msgbroker::cli
