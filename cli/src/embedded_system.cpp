#include "msgbroker/cli/embedded_system.hpp"

#include <spdlog/spdlog.h>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "msgbroker/crypto/key_ring.hpp"
#include "msgbroker/crypto/sender_hasher.hpp"
#include "msgbroker/main_server/main_server_service.hpp"
#include "msgbroker/portal/portal_service.hpp"
#include "msgbroker/proxy/api_key_directory.hpp"
#include "msgbroker/proxy/client_directory.hpp"
#include "msgbroker/proxy/proxy_service.hpp"
#include "msgbroker/queue/embedded_queue.hpp"
#include "msgbroker/storage/sqlite_database.hpp"
#include "msgbroker/worker/worker.hpp"
#include "service_host.hpp"

namespace msgbroker::cli {

namespace {

// The main server takes whole delivery batches in one request.
net::ServerLimits MainServerLimits() {
  net::ServerLimits limits;
  limits.max_body_bytes = api::kMaxDeliveryRequestBytes;
  return limits;
}

// The proxy takes batch submissions; the single-message route checks its own smaller limit.
net::ServerLimits ProxyLimits() {
  net::ServerLimits limits;
  limits.max_body_bytes = api::kMaxBatchBodyBytes;
  return limits;
}

}  // namespace

struct EmbeddedSystem::Impl {
  EmbeddedPorts ports;
  std::shared_ptr<storage::SqliteDatabase> database;
  std::unique_ptr<queue::EmbeddedQueue> queue;
  std::unique_ptr<crypto::EnvelopeSealer> sealer;
  std::unique_ptr<proxy::ClientDirectory> directory;
  std::unique_ptr<proxy::ApiKeyDirectory> api_keys;      // only with EmbeddedOptions::api_keys
  std::unique_ptr<proxy::IdempotencyStore> idempotency;  // before proxy: outlives it
  std::unique_ptr<main_server::MainServerService> main_server;
  std::unique_ptr<proxy::ProxyService> proxy;
  std::shared_ptr<net::ReloadableClientContext> worker_tls;  // reloaded on SIGHUP
  std::unique_ptr<worker::Worker> worker;
  ServiceHost main_host, proxy_host, portal_host, worker_host;
  std::unique_ptr<queue::QueueMonitor> monitor;  // exported on the worker's /metrics
  bool stopped = false;

  void Stop() {
    if (stopped) return;
    stopped = true;
    if (monitor) monitor->Stop();
    portal_host.Stop();
    proxy_host.Stop();  // after this every 202 is in the queue
    if (idempotency) idempotency->Close();
    if (directory) directory->Stop();
    if (api_keys) api_keys->Stop();
    if (worker) worker->Stop();  // finishes the batch in hand
    worker_host.Stop();
    main_host.Stop();
    if (main_server) main_server->Stop();
    if (queue) queue->Close();
  }
};

EmbeddedSystem::EmbeddedSystem(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EmbeddedSystem::~EmbeddedSystem() { Stop(); }
const EmbeddedPorts& EmbeddedSystem::ports() const { return impl_->ports; }
void EmbeddedSystem::Stop() { impl_->Stop(); }
void EmbeddedSystem::ReloadTls() {
  // Each server logs its own failure and keeps the certificates it had.
  for (auto* host : {&impl_->main_host, &impl_->proxy_host, &impl_->portal_host}) {
    (void)host->ReloadTls();
  }
  if (impl_->worker_tls) (void)impl_->worker_tls->Reload();
}

Result<std::unique_ptr<EmbeddedSystem>> EmbeddedSystem::Start(const DataDirLayout& layout,
                                                              const EmbeddedOptions& options,
                                                              const Clock& clock) {
  auto impl = std::make_unique<Impl>();
  auto& s = *impl;
  auto fail = [&](Status status) -> Result<std::unique_ptr<EmbeddedSystem>> {
    s.Stop();
    return tl::unexpected(status.error());
  };

  // Storage and queue.
  auto database = storage::SqliteDatabase::Open({.path = layout.database()}, clock);
  if (auto ok = Prefix("database", database); !ok) return fail(ok);
  s.database = *database;
  auto queue = queue::EmbeddedQueue::Open(
      {.directory = layout.queue_dir(), .fsync = options.queue_fsync}, clock);
  if (auto ok = Prefix("queue", queue); !ok) return fail(ok);
  s.queue = std::move(*queue);
  s.monitor = std::make_unique<queue::QueueMonitor>(*s.queue, clock, *s.worker_host.registry,
                                                    kQueueProbeInterval);
  s.monitor->Start();

  // Secrets.
  auto key_ring = crypto::KeyRing::LoadFile(layout.key_ring());
  if (auto ok = Prefix("main server", key_ring); !ok) return fail(ok);
  auto hasher = crypto::SenderHasher::LoadKeyFile(layout.sender_key());
  if (auto ok = Prefix("main server", hasher); !ok) return fail(ok);
  auto opener = crypto::EnvelopeOpener::LoadSecretKeyFile(layout.envelope_public_key(),
                                                          layout.envelope_secret_key());
  if (auto ok = Prefix("main server", opener); !ok) return fail(ok);
  auto sealer = crypto::EnvelopeSealer::LoadPublicKeyFile(layout.envelope_public_key());
  if (auto ok = Prefix("proxy", sealer); !ok) return fail(ok);
  s.sealer = std::move(*sealer);

  auto service_tls = [&](pki::ServiceRole role) {
    net::TlsServerConfig tls;
    tls.cert_file = layout.service_cert(role);
    tls.key_file = layout.service_key(role);
    tls.ca_file = layout.ca_cert();
    return tls;
  };

  // Main server.
  main_server::MainServerOptions main_options;
  main_options.certificates = s.database->certificates();
  main_options.clients = s.database->clients();
  main_options.certificate_refresh_interval = options.registry_refresh;
  main_options.audit_log = layout.audit_log();  // the one the CLI's certificate commands write
  if (options.publish_crl) {  // <data-dir>/pki holds the CA: the main server signs with it
    auto ca = pki::CertificateAuthority::Load(layout.ca_cert(), layout.ca_key(), clock);
    if (auto ok = Prefix("main server: CA", ca); !ok) return fail(ok);
    main_options.ca = std::make_shared<const pki::CertificateAuthority>(std::move(*ca));
  }
  s.main_server = std::make_unique<main_server::MainServerService>(
      std::move(main_options), s.database->messages(), std::move(*key_ring), std::move(*hasher),
      std::move(*opener), clock, *s.main_host.registry);
  s.main_server->RegisterRoutes(s.main_host.router);
  auto* main_service = s.main_server.get();
  if (auto ok = Prefix("main server",
                       s.main_host.Start(
                           "main_server", options.host, options.main_server_port,
                           options.io_threads, service_tls(pki::ServiceRole::kMainServer),
                           [main_service] { return main_service->Health(); }, MainServerLimits()));
      !ok) {
    return fail(ok);
  }
  s.ports.main_server = s.main_host.server->port();

  // Proxy.
  auto clients = s.database->clients();
  s.directory = std::make_unique<proxy::ClientDirectory>(
      [clients] { return clients->ListIdentities(); }, options.registry_refresh);
  if (auto ok = Prefix("proxy: client registry", s.directory->Refresh()); !ok) return fail(ok);
  s.directory->StartBackgroundRefresh();
  proxy::ProxyOptions proxy_options;
  proxy_options.rate_limit = options.rate_limit;
  s.proxy = std::make_unique<proxy::ProxyService>(proxy_options, *s.queue, *s.directory, *s.sealer,
                                                  clock, *s.proxy_host.registry);
  // Idempotency-Key records in a SQLite file of the data directory (they survive restarts).
  auto idempotency = proxy::OpenSqliteIdempotencyStore(
      layout.idempotency_db(), {options.idempotency_ttl, options.idempotency_lease}, clock);
  if (auto ok = Prefix("proxy: idempotency store", idempotency); !ok) return fail(ok);
  s.idempotency = std::move(*idempotency);
  s.proxy->UseIdempotency(*s.idempotency, *s.proxy_host.registry);
  s.proxy->RegisterRoutes(s.proxy_host.router);
  if (options.api_keys) {
    auto keys = s.database->api_keys();
    s.api_keys = std::make_unique<proxy::ApiKeyDirectory>(
        [keys] { return keys->ListActive(); }, options.registry_refresh, *s.proxy_host.registry);
    if (auto ok = Prefix("proxy: API keys", s.api_keys->Refresh()); !ok) return fail(ok);
    s.api_keys->StartBackgroundRefresh();
    s.proxy->EnableApiKeys(*s.api_keys);
  }
  auto* proxy_service = s.proxy.get();
  auto* monitor = s.monitor.get();
  if (auto ok = Prefix("proxy", s.proxy_host.Start(
                                    "proxy", options.host, options.proxy_port, options.io_threads,
                                    service_tls(pki::ServiceRole::kProxy),
                                    [proxy_service, monitor] {
                                      return WithQueueHealth(proxy_service->Health(), *monitor);
                                    },
                                    ProxyLimits()));
      !ok) {
    return fail(ok);
  }
  s.ports.proxy = s.proxy_host.server->port();

  // Worker: delivers to the main server over mTLS with its worker certificate.
  const std::string dial_host = options.host == "0.0.0.0" ? "127.0.0.1" : options.host;
  net::TlsClientConfig worker_tls;
  worker_tls.ca_file = layout.ca_cert();
  worker_tls.cert_file = layout.service_cert(pki::ServiceRole::kWorker);
  worker_tls.key_file = layout.service_key(pki::ServiceRole::kWorker);
  auto worker_context = net::ReloadableClientContext::Create(worker_tls, "worker");
  if (auto ok = Prefix("worker TLS", worker_context); !ok) return fail(ok);
  s.worker_tls = *worker_context;
  const net::Endpoint main_endpoint{true, dial_host, s.ports.main_server};
  worker::WorkerOptions worker_options;
  worker_options.concurrency = options.worker_concurrency;
  worker_options.batch_size = options.worker_batch_size;
  worker_options.max_attempts = options.worker_max_attempts;
  worker_options.backoff.base = options.worker_backoff_base;
  s.worker = std::make_unique<worker::Worker>(
      worker_options, *s.queue,
      [main_endpoint, context = s.worker_tls]() -> std::unique_ptr<worker::DeliveryClient> {
        return std::make_unique<worker::HttpDeliveryClient>(main_endpoint, context,
                                                            std::chrono::seconds{30});
      },
      clock, *s.worker_host.registry);
  auto* worker_service = s.worker.get();
  if (auto ok = Prefix(
          "worker metrics",
          s.worker_host.Start("worker", options.host, options.worker_metrics_port, 1, std::nullopt,
                              [worker_service, monitor] {
                                return WithQueueHealth(worker_service->Health(), *monitor);
                              }));
      !ok) {
    return fail(ok);
  }
  s.ports.worker_metrics = s.worker_host.server->port();

  // Portal (placeholder page until user accounts arrive).
  const auto url = [&](std::string_view scheme, std::uint16_t port) {
    return std::string(scheme) + "://" + dial_host + ":" + std::to_string(port);
  };
  portal::RegisterPortalRoutes(s.portal_host.router,
                               {url("https", s.ports.proxy), url("https", s.ports.main_server),
                                url("http", s.ports.worker_metrics) + "/metrics"});
  if (auto ok = Prefix(
          "portal", s.portal_host.Start("portal", options.host, options.portal_port, 1,
                                        service_tls(pki::ServiceRole::kPortal),
                                        [] { return std::map<std::string, net::HealthCheck>{}; }));
      !ok) {
    return fail(ok);
  }
  s.ports.portal = s.portal_host.server->port();

  s.worker->Start();
  for (auto* host : {&s.main_host, &s.proxy_host, &s.worker_host, &s.portal_host}) {
    host->status->ready = true;
  }
  spdlog::info(
      "event=started main_server_port={} proxy_port={} portal_port={} worker_metrics_port={}",
      s.ports.main_server, s.ports.proxy, s.ports.portal, s.ports.worker_metrics);
  return std::unique_ptr<EmbeddedSystem>(new EmbeddedSystem(std::move(impl)));
}

}  // namespace msgbroker::cli
