// `msgbroker portal`: the portal's page (a placeholder until user accounts arrive).

#include <spdlog/spdlog.h>

#include "msgbroker/portal/portal_service.hpp"
#include "service_apps.hpp"
#include "service_host.hpp"

namespace msgbroker::cli {

namespace {

class PortalApp final : public ServiceApp {
 public:
  ~PortalApp() override { Stop(); }
  std::uint16_t port() const override { return host_.server->port(); }
  Status ReloadTls() override { return host_.ReloadTls(); }
  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    host_.Stop();
  }

  Status Start(const config::PortalConfig& config) {
    portal::RegisterPortalRoutes(
        host_.router, {config.proxy_url, config.main_server_url, config.worker_metrics_url});
    if (auto ok = Prefix("portal", host_.Start(
                                       "portal", config.listen.host, config.listen.port,
                                       config.listen.io_threads, ToTlsServerConfig(config.tls),
                                       [] { return std::map<std::string, net::HealthCheck>{}; },
                                       ToServerLimits(config.limits)));
        !ok) {
      return ok;
    }
    host_.status->ready = true;
    spdlog::info("event=started service=portal port={}", port());
    return Ok();
  }

 private:
  ServiceHost host_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<ServiceApp>> StartPortal(const config::PortalConfig& config, const Clock&) {
  auto app = std::make_unique<PortalApp>();
  if (auto ok = app->Start(config); !ok) return tl::unexpected(ok.error());
  return std::unique_ptr<ServiceApp>(std::move(app));
}

}  // namespace msgbroker::cli
