// `msgbroker main-server`: the database, the key ring and the delivery endpoint.

#include <spdlog/spdlog.h>

#include "backends.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "msgbroker/crypto/key_ring.hpp"
#include "msgbroker/crypto/sender_hasher.hpp"
#include "msgbroker/main_server/main_server_service.hpp"
#include "service_apps.hpp"
#include "service_host.hpp"

namespace msgbroker::cli {

namespace {

class MainServerApp final : public ServiceApp {
 public:
  ~MainServerApp() override { Stop(); }
  std::uint16_t port() const override { return host_.server->port(); }
  Status ReloadTls() override { return host_.ReloadTls(); }
  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    host_.Stop();
    if (service_) service_->Stop();
  }

  Status Start(const config::MainServerConfig& config, const Clock& clock) {
    auto database = OpenDatabase(config.database, clock);
    if (auto ok = Prefix("database", database); !ok) return ok;
    database_ = *database;
    const auto& secrets = config.secrets;
    auto key_ring = crypto::KeyRing::LoadFile(secrets.key_ring_file);
    if (auto ok = Prefix("main server", key_ring); !ok) return ok;
    auto hasher = crypto::SenderHasher::LoadKeyFile(secrets.sender_hmac_key_file);
    if (auto ok = Prefix("main server", hasher); !ok) return ok;
    auto opener = crypto::EnvelopeOpener::LoadSecretKeyFile(secrets.envelope_public_key_file,
                                                            secrets.envelope_secret_key_file);
    if (auto ok = Prefix("main server", opener); !ok) return ok;
    // A main server that cannot reach its database is not ready (its deliveries would fail),
    // and turns ready again by itself when the database is back.
    main_server::MainServerOptions options;
    options.on_database_availability = [status = host_.status](bool available) {
      status->dependencies_ready = available;
    };
    options.certificates = database_->certificates();
    options.clients = database_->clients();
    options.audit_log = config.audit_log_file;
    if (!secrets.ca_key_file.empty()) {  // signs the CRL and the admin API's certificates
      auto ca = pki::CertificateAuthority::Load(secrets.ca_cert_file, secrets.ca_key_file, clock);
      if (auto ok = Prefix("main server: CA", ca); !ok) return ok;
      options.ca = std::make_shared<const pki::CertificateAuthority>(std::move(*ca));
    }
    service_ = std::make_unique<main_server::MainServerService>(
        std::move(options), database_->messages(), std::move(*key_ring), std::move(*hasher),
        std::move(*opener), clock, *host_.registry);
    service_->RegisterRoutes(host_.router);
    auto* service = service_.get();
    if (auto ok = Prefix("main server", host_.Start(
                                            "main_server", config.listen.host, config.listen.port,
                                            config.listen.io_threads, ToTlsServerConfig(config.tls),
                                            [service] { return service->Health(); },
                                            ToServerLimits(config.limits)));
        !ok) {
      return ok;
    }
    host_.status->ready = true;
    spdlog::info("event=started service=main_server port={} schema_version={}", port(),
                 database_->schema_version());
    return Ok();
  }

 private:
  std::shared_ptr<storage::Database> database_;
  std::unique_ptr<main_server::MainServerService> service_;
  ServiceHost host_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<ServiceApp>> StartMainServer(const config::MainServerConfig& config,
                                                    const Clock& clock) {
  auto app = std::make_unique<MainServerApp>();
  if (auto ok = app->Start(config, clock); !ok) return tl::unexpected(ok.error());
  return std::unique_ptr<ServiceApp>(std::move(app));
}

}  // namespace msgbroker::cli
