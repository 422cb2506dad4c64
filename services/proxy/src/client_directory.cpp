#include "msgbroker/proxy/client_directory.hpp"

#include <spdlog/spdlog.h>

namespace msgbroker::proxy {

ClientDirectory::ClientDirectory(Source source, std::chrono::milliseconds refresh_interval)
    : source_(std::move(source)),
      snapshot_(std::make_shared<const Snapshot>()),
      refresher_(refresh_interval, [this] { (void)Refresh(); }) {}

ClientDirectory::~ClientDirectory() { Stop(); }

Status ClientDirectory::Refresh() {
  auto identities = source_();
  if (!identities) {
    std::lock_guard lock(mutex_);
    if (healthy_) {
      spdlog::warn("event=client_directory_refresh_failed error=\"{}\"",
                   identities.error().message);
    }
    healthy_ = false;
    return tl::unexpected(identities.error());
  }
  auto next = std::make_shared<Snapshot>();
  next->reserve(identities->size());
  for (auto& identity : *identities) {
    auto key = identity.certificate.fingerprint_sha256;
    next->emplace(std::move(key), std::move(identity));
  }
  std::lock_guard lock(mutex_);
  snapshot_ = std::move(next);
  healthy_ = true;
  return Ok();
}

void ClientDirectory::StartBackgroundRefresh() { refresher_.Start(); }

void ClientDirectory::Stop() { refresher_.Stop(); }

std::optional<storage::ClientIdentity> ClientDirectory::Find(std::string_view fingerprint) const {
  std::shared_ptr<const Snapshot> snapshot;
  {
    std::lock_guard lock(mutex_);
    snapshot = snapshot_;
  }
  auto it = snapshot->find(std::string(fingerprint));
  if (it == snapshot->end()) return std::nullopt;
  return it->second;
}

bool ClientDirectory::healthy() const {
  std::lock_guard lock(mutex_);
  return healthy_;
}

std::size_t ClientDirectory::size() const {
  std::lock_guard lock(mutex_);
  return snapshot_->size();
}

}  // namespace msgbroker::proxy
