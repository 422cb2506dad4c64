#pragma once
// What every composition root shares: one service's HTTP face (router, metrics registry,
// readiness, server), error prefixes naming the component, conversion of configuration into the
// network layer's types, and waiting for SIGINT/SIGTERM.

#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "msgbroker/config/config.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/net/http_server.hpp"
#include "msgbroker/net/standard_endpoints.hpp"
#include "msgbroker/net/tls.hpp"
#include "msgbroker/proxy/rate_limiter.hpp"
#include "msgbroker/queue/queue_monitor.hpp"

namespace msgbroker::cli {

// How long a stopping server lets in-flight requests finish.
inline constexpr auto kDrainGrace = std::chrono::seconds{5};
// How often a service asks its queue for depth, lag and availability (queue::QueueMonitor).
inline constexpr auto kQueueProbeInterval = std::chrono::seconds{1};

// Prefixes an error with the component it came from ("proxy: …").
Status Prefix(const std::string& component, const Status& status);
template <typename T>
Status Prefix(const std::string& component, const Result<T>& result) {
  if (result) return Ok();
  return Prefix(component, Status(tl::unexpected(result.error())));
}

// One service's HTTP face: /health, /healthz, /readyz, /metrics plus the service's routes.
struct ServiceHost {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<net::ServiceStatus> status = std::make_shared<net::ServiceStatus>();
  net::Router router;
  std::unique_ptr<net::HttpServer> server;

  // Adds the standard endpoints to `router` and starts serving (not ready until status->ready).
  Status Start(const std::string& name, std::string host, std::uint16_t port, std::size_t threads,
               std::optional<net::TlsServerConfig> tls, net::HealthProbe probe,
               net::ServerLimits limits = {});
  // Not ready, then a graceful stop of the server (kDrainGrace).
  void Stop();
  // The server's certificate, key and CA files again (SIGHUP).
  Status ReloadTls() { return server ? server->ReloadTls() : Ok(); }
};

// The "queue" entry of /health from the monitor's last probe (never a call to the queue itself).
net::HealthCheck QueueHealth(const queue::QueueMonitor& monitor);
// `checks` plus the "queue" entry.
std::map<std::string, net::HealthCheck> WithQueueHealth(
    std::map<std::string, net::HealthCheck> checks, const queue::QueueMonitor& monitor);

net::TlsVersion ToTlsVersion(config::TlsVersion version);
net::TlsPolicy ToTlsPolicy(const config::TlsConfig& tls);
proxy::RateLimit ToRateLimit(const config::RateLimitConfig& limit);
net::TlsServerConfig ToTlsServerConfig(const config::TlsConfig& tls);
net::TlsClientConfig ToTlsClientConfig(const config::TlsConfig& tls);
net::ServerLimits ToServerLimits(const config::LimitsConfig& limits);

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread; call before any thread starts, so that
// every thread inherits the mask and only WaitForStopSignal receives them.
void BlockStopSignals();
// Waits for SIGINT or SIGTERM (blocked by BlockStopSignals); returns the signal number. Each
// SIGHUP meanwhile calls `on_reload` (when given) and waits on.
int WaitForStopSignal(const std::function<void()>& on_reload = {});

}  // namespace msgbroker::cli
