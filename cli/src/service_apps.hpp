#pragma once
// The composition roots of the separate service processes (`msgbroker proxy`, `main-server`,
// `worker`, `portal`): each builds one service from its configuration and serves it with the
// standard endpoints. `msgbroker up` (embedded_system.cpp) builds all four in one process.

#include <cstdint>
#include <memory>

#include "msgbroker/config/config.hpp"
#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::cli {

class ServiceApp {
 public:
  virtual ~ServiceApp() = default;
  // The port it serves on (the kernel's choice when the configuration said 0).
  virtual std::uint16_t port() const = 0;
  // Graceful and idempotent: stop accepting, drain, finish work in hand, close the backends.
  virtual void Stop() = 0;
  // SIGHUP: reads the service's own certificate, key and CA files again. The default does
  // nothing (a worker's client certificate is read when its connections are made).
  virtual Status ReloadTls() { return Ok(); }
};

// Each returns an error naming the component that failed, with everything started so far stopped.
Result<std::unique_ptr<ServiceApp>> StartProxy(const config::ProxyConfig& config,
                                               const Clock& clock);
Result<std::unique_ptr<ServiceApp>> StartMainServer(const config::MainServerConfig& config,
                                                    const Clock& clock);
Result<std::unique_ptr<ServiceApp>> StartWorker(const config::WorkerConfig& config,
                                                const Clock& clock);
Result<std::unique_ptr<ServiceApp>> StartPortal(const config::PortalConfig& config,
                                                const Clock& clock);

}  // namespace msgbroker::cli
