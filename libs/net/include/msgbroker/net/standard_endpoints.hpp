#pragma once
// /health, /healthz, /readyz and /metrics, the same on every service.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "msgbroker/net/router.hpp"

namespace prometheus {
class Registry;
}

namespace msgbroker::net {

enum class HealthState { kHealthy, kDegraded, kUnhealthy };

struct HealthCheck {
  HealthState state = HealthState::kHealthy;
  std::string detail;  // short, no secrets
};

// Named checks ("database", "queue", ...) computed on each /health call. They must be cheap
// and non-blocking (return cached results of background probes).
using HealthProbe = std::function<std::map<std::string, HealthCheck>()>;

struct ServiceStatus {
  std::atomic<bool> ready{false};  // serving: set once started, cleared when stopping
  // Cleared while a dependency the service cannot work without is unavailable (a proxy's queue),
  // so that load balancers send traffic elsewhere; set again once it is back.
  std::atomic<bool> dependencies_ready{true};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// /health  -> {"status":"healthy|degraded|unhealthy","version","timestamp","uptime_seconds",
//              "service","checks":{name:{"status","detail"}}}; 503 when unhealthy.
// /healthz -> 200 {"status":"alive"} while the process serves requests.
// /readyz  -> 200 {"status":"ready"} when ready and dependencies_ready, otherwise
//             503 {"status":"not_ready","reason":"starting or stopping"|"dependency unavailable"}.
// /metrics -> Prometheus text format 0.0.4 of `registry`.
void AddStandardEndpoints(Router& router, std::string service,
                          std::shared_ptr<ServiceStatus> status, HealthProbe probe,
                          std::shared_ptr<prometheus::Registry> registry);

}  // namespace msgbroker::net
