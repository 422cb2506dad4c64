// `msgbroker proxy`: the client API in front of the shared queue. The client registry comes from
// the database (as in `msgbroker up`); a DMZ proxy that pulls it from the main server comes later.

#include <spdlog/spdlog.h>

#include "backends.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "msgbroker/proxy/api_key_directory.hpp"
#include "msgbroker/proxy/client_directory.hpp"
#include "msgbroker/proxy/proxy_service.hpp"
#include "msgbroker/proxy/shared_rate_limiter.hpp"
#include "service_apps.hpp"
#include "service_host.hpp"

namespace msgbroker::cli {

namespace {

// With the Redis queue the proxies share their clients' buckets there (docs/adr/0011).
std::shared_ptr<proxy::SharedRateLimiter> SharedRateLimits(const config::QueueConfig& queue,
                                                           prometheus::Registry& metrics) {
  if (queue.type != config::QueueType::kRedis) return nullptr;
  queue::RedisRateBucketsOptions options;
  options.host = queue.redis.host;
  options.port = queue.redis.port;
  options.password = queue.redis.password;
  options.db = static_cast<int>(queue.redis.db);
  options.key_prefix = queue.redis.key_prefix;
  auto limiter = std::make_shared<proxy::SharedRateLimiter>(
      std::make_unique<queue::RedisRateBuckets>(std::move(options)),
      proxy::SharedRateLimiterOptions{}, metrics);
  limiter->Start();
  return limiter;
}

class ProxyApp final : public ServiceApp {
 public:
  ~ProxyApp() override { Stop(); }
  std::uint16_t port() const override { return host_.server->port(); }
  Status ReloadTls() override { return host_.ReloadTls(); }
  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    if (monitor_) monitor_->Stop();
    host_.Stop();                             // after this every 202 is in the queue
    if (idempotency_) idempotency_->Close();  // answers still being recorded are written
    if (directory_) directory_->Stop();
    if (api_keys_) api_keys_->Stop();
    if (rate_limiter_) rate_limiter_->Stop();
    if (queue_) queue_->Close();
  }

  Status Start(const config::ProxyConfig& config, const Clock& clock) {
    if (auto ok = RequireSharedQueue(config.queue, config::ProxyConfig::kSection); !ok) return ok;
    auto queue = OpenQueue(config.queue, clock);
    if (auto ok = Prefix("queue", queue); !ok) return ok;
    queue_ = std::move(*queue);
    auto database = OpenDatabase(config.database, clock);
    if (auto ok = Prefix("database", database); !ok) return ok;
    auto sealer =
        crypto::EnvelopeSealer::LoadPublicKeyFile(config.secrets.envelope_public_key_file);
    if (auto ok = Prefix("proxy", sealer); !ok) return ok;
    sealer_ = std::move(*sealer);

    auto clients = (*database)->clients();
    directory_ = std::make_unique<proxy::ClientDirectory>(
        [clients] { return clients->ListIdentities(); }, config.registry_refresh_interval);
    if (auto ok = Prefix("proxy: client registry", directory_->Refresh()); !ok) return ok;
    directory_->StartBackgroundRefresh();
    proxy::ProxyOptions options;
    options.rate_limit = ToRateLimit(config.rate_limit);
    rate_limiter_ = SharedRateLimits(config.queue, *host_.registry);
    options.shared_rate_limiter = rate_limiter_;
    service_ = std::make_unique<proxy::ProxyService>(options, *queue_, *directory_, *sealer_, clock,
                                                     *host_.registry);
    // Idempotency-Key records live in the queue's Redis, under its key prefix.
    proxy::RedisIdempotencyOptions idempotency_redis;
    idempotency_redis.host = config.queue.redis.host;
    idempotency_redis.port = config.queue.redis.port;
    idempotency_redis.password = config.queue.redis.password;
    idempotency_redis.db = static_cast<int>(config.queue.redis.db);
    idempotency_redis.key_prefix = config.queue.redis.key_prefix;
    auto idempotency = proxy::OpenRedisIdempotencyStore(
        std::move(idempotency_redis), {config.idempotency.ttl, config.idempotency.lease}, clock);
    if (auto ok = Prefix("proxy: idempotency store", idempotency); !ok) return ok;
    idempotency_ = std::move(*idempotency);
    service_->UseIdempotency(*idempotency_, *host_.registry);
    service_->RegisterRoutes(host_.router);
    if (config.api_keys.enabled) {
      auto keys = (*database)->api_keys();
      api_keys_ = std::make_unique<proxy::ApiKeyDirectory>(
          [keys] { return keys->ListActive(); }, config.registry_refresh_interval, *host_.registry);
      if (auto ok = Prefix("proxy: API keys", api_keys_->Refresh()); !ok) return ok;
      api_keys_->StartBackgroundRefresh();
      service_->EnableApiKeys(*api_keys_);
    }
    // The proxy serves even while Redis is down (answering 503 + Retry-After), but reports not
    // ready so that load balancers prefer proxies that can queue; it recovers by itself.
    monitor_ = std::make_unique<queue::QueueMonitor>(
        *queue_, clock, *host_.registry, kQueueProbeInterval,
        [status = host_.status](bool available) { status->dependencies_ready = available; });
    monitor_->Start();
    auto* service = service_.get();
    auto* monitor = monitor_.get();
    if (auto ok = Prefix("proxy", host_.Start(
                                      "proxy", config.listen.host, config.listen.port,
                                      config.listen.io_threads, ToTlsServerConfig(config.tls),
                                      [service, monitor] {
                                        return WithQueueHealth(service->Health(), *monitor);
                                      },
                                      ToServerLimits(config.limits)));
        !ok) {
      return ok;
    }
    host_.status->ready = true;
    spdlog::info("event=started service=proxy port={} queue_available={}", port(),
                 monitor_->Last().available);
    return Ok();
  }

 private:
  std::unique_ptr<queue::Queue> queue_;
  std::unique_ptr<crypto::EnvelopeSealer> sealer_;
  std::unique_ptr<proxy::ClientDirectory> directory_;
  std::unique_ptr<proxy::ApiKeyDirectory> api_keys_;  // only with proxy.api_keys.enabled
  std::shared_ptr<proxy::SharedRateLimiter> rate_limiter_;
  std::unique_ptr<proxy::IdempotencyStore> idempotency_;  // before service_: outlives it
  std::unique_ptr<proxy::ProxyService> service_;
  ServiceHost host_;
  std::unique_ptr<queue::QueueMonitor> monitor_;  // after host_: it writes host_.status
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<ServiceApp>> StartProxy(const config::ProxyConfig& config,
                                               const Clock& clock) {
  auto app = std::make_unique<ProxyApp>();
  if (auto ok = app->Start(config, clock); !ok) return tl::unexpected(ok.error());
  return std::unique_ptr<ServiceApp>(std::move(app));
}

}  // namespace msgbroker::cli
