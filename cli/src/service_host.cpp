#include "service_host.hpp"

#include <signal.h>

namespace msgbroker::cli {

Status Prefix(const std::string& component, const Status& status) {
  if (status) return Ok();
  return Fail(status.error().code, component + ": " + status.error().message, status.error().field);
}

Status ServiceHost::Start(const std::string& name, std::string host, std::uint16_t port,
                          std::size_t threads, std::optional<net::TlsServerConfig> tls,
                          net::HealthProbe probe, net::ServerLimits limits) {
  net::AddStandardEndpoints(router, name, status, std::move(probe), registry);
  net::HttpServerOptions options;
  options.service = name;
  options.address = std::move(host);
  options.port = port;
  options.threads = threads;
  options.tls = std::move(tls);
  options.limits = limits;
  server = std::make_unique<net::HttpServer>(std::move(options), std::move(router), *registry);
  auto started = server->Start();
  if (!started) server.reset();
  return started;
}

void ServiceHost::Stop() {
  status->ready = false;
  if (server) server->Stop(kDrainGrace);
}

net::HealthCheck QueueHealth(const queue::QueueMonitor& monitor) {
  const auto last = monitor.Last();
  if (!last.available) return {net::HealthState::kUnhealthy, last.error};
  return {net::HealthState::kHealthy, "ready=" + std::to_string(last.stats.ready) +
                                          " delayed=" + std::to_string(last.stats.delayed) +
                                          " in_flight=" + std::to_string(last.stats.in_flight) +
                                          " dead=" + std::to_string(last.stats.dead)};
}

std::map<std::string, net::HealthCheck> WithQueueHealth(
    std::map<std::string, net::HealthCheck> checks, const queue::QueueMonitor& monitor) {
  checks["queue"] = QueueHealth(monitor);
  return checks;
}

net::TlsVersion ToTlsVersion(config::TlsVersion version) {
  return version == config::TlsVersion::kTls13 ? net::TlsVersion::kTls13 : net::TlsVersion::kTls12;
}

net::TlsPolicy ToTlsPolicy(const config::TlsConfig& tls) {
  return {ToTlsVersion(tls.min_version), tls.ciphers, tls.cipher_suites, tls.groups};
}

proxy::RateLimit ToRateLimit(const config::RateLimitConfig& limit) {
  const double rate = limit.messages_per_second;
  return {rate, limit.burst == 0 ? 2 * rate : static_cast<double>(limit.burst)};
}

net::TlsServerConfig ToTlsServerConfig(const config::TlsConfig& tls) {
  net::TlsServerConfig out;
  out.cert_file = tls.cert_file;
  out.key_file = tls.key_file;
  out.ca_file = tls.ca_file;
  out.policy = ToTlsPolicy(tls);
  return out;
}

net::TlsClientConfig ToTlsClientConfig(const config::TlsConfig& tls) {
  net::TlsClientConfig out;
  out.ca_file = tls.ca_file;
  out.cert_file = tls.cert_file;
  out.key_file = tls.key_file;
  out.policy = ToTlsPolicy(tls);
  return out;
}

net::ServerLimits ToServerLimits(const config::LimitsConfig& limits) {
  net::ServerLimits out;
  out.max_header_bytes = limits.max_header_bytes;
  out.max_body_bytes = limits.max_body_bytes;
  out.max_connections = limits.max_connections;
  out.handshake_timeout = limits.handshake_timeout;
  out.request_timeout = limits.request_timeout;
  out.idle_timeout = limits.idle_timeout;
  return out;
}

namespace {

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  return signals;
}

}  // namespace

void BlockStopSignals() {
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int WaitForStopSignal(const std::function<void()>& on_reload) {
  const sigset_t signals = StopSignals();
  for (;;) {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) return signal_number;
    if (on_reload) on_reload();
  }
}

}  // namespace msgbroker::cli
