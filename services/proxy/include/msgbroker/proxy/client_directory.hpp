#pragma once
// The proxy's view of the client registry: an in-memory snapshot keyed by certificate
// fingerprint, swapped atomically on each refresh, so a lookup on an I/O thread never blocks on
// a database. A background thread refreshes it every `refresh_interval`, which is how a
// suspension or a new client reaches a running proxy.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "msgbroker/core/periodic_task.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/storage/client_registry.hpp"

namespace msgbroker::proxy {

class ClientDirectory {
 public:
  using Source = std::function<Result<std::vector<storage::ClientIdentity>>()>;

  ClientDirectory(Source source, std::chrono::milliseconds refresh_interval);
  ~ClientDirectory();

  // Loads a snapshot now (blocking). The first call must succeed before serving.
  Status Refresh();
  void StartBackgroundRefresh();
  void Stop();

  std::optional<storage::ClientIdentity> Find(std::string_view fingerprint) const;
  // False once a refresh has failed and no later one succeeded.
  bool healthy() const;
  std::size_t size() const;

 private:
  using Snapshot = std::unordered_map<std::string, storage::ClientIdentity>;
  Source source_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  bool healthy_ = false;
  PeriodicTask refresher_;  // last: stopped before the rest goes
};

}  // namespace msgbroker::proxy
