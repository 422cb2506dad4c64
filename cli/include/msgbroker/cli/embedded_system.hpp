#pragma once
// The composition root of `msgbroker up`: all four services in one process, on the embedded
// queue and SQLite, talking to each other over mTLS on loopback like separate processes would.

#include <cstdint>
#include <memory>
#include <string>

#include "msgbroker/cli/data_dir.hpp"
#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/proxy/rate_limiter.hpp"

namespace msgbroker::cli {

struct EmbeddedOptions {
  std::string host = "127.0.0.1";
  std::uint16_t main_server_port = 8000;
  std::uint16_t proxy_port = 8001;
  std::uint16_t portal_port = 8080;
  std::uint16_t worker_metrics_port = 9100;
  std::size_t io_threads = 2;
  std::size_t worker_concurrency = 1;
  std::size_t worker_batch_size = 500;
  std::uint32_t worker_max_attempts = 10;
  std::chrono::milliseconds worker_backoff_base{500};
  std::chrono::milliseconds registry_refresh{2'000};
  bool queue_fsync = true;
  proxy::RateLimit rate_limit;  // per client; none by default
  bool api_keys = false;        // admit API keys at the proxy (docs/adr/0012)
  std::chrono::milliseconds idempotency_ttl{std::chrono::hours{24}};  // answers replayed this long
  std::chrono::milliseconds idempotency_lease{std::chrono::seconds{60}};  // unfinished claims
  bool publish_crl = true;  // the main server signs and serves the CRL with <data-dir>/pki
};

struct EmbeddedPorts {
  std::uint16_t main_server = 0;
  std::uint16_t proxy = 0;
  std::uint16_t portal = 0;
  std::uint16_t worker_metrics = 0;
};

class EmbeddedSystem {
 public:
  // Starts everything; on any failure stops what was started and returns an error naming the
  // component (e.g. "proxy: address 127.0.0.1:8001 is already in use").
  static Result<std::unique_ptr<EmbeddedSystem>> Start(const DataDirLayout& layout,
                                                       const EmbeddedOptions& options,
                                                       const Clock& clock);
  ~EmbeddedSystem();

  const EmbeddedPorts& ports() const;
  // Graceful: proxy stops accepting and drains, the worker finishes its batch, the main server
  // drains, the queue flushes.
  void Stop();
  // SIGHUP: the HTTPS services read their certificate, key and CA files again.
  void ReloadTls();

 private:
  struct Impl;
  explicit EmbeddedSystem(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace msgbroker::cli
