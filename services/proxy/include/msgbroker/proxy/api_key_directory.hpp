#pragma once
// API-key authentication at the proxy (docs/adr/0012; off unless proxy.api_keys.enabled).
//
// Like ClientDirectory, an in-memory snapshot of the keys that are not revoked (with their
// clients), swapped atomically on each refresh by a background thread, so a request never waits
// for a database; a revocation, an expiry date or a client suspension reaches a running proxy
// within one refresh interval.
//
// A request without a client certificate must carry `Authorization: Bearer mbk_<id>_<secret>`.
// Checks, in order: well-formed, key id known (not revoked), SHA-256 of the key equal to the
// stored one (constant time), not expired, peer address inside the key's allow-list when it has
// one, client active. Every key-level failure is the same 401 UNKNOWN_CLIENT "the API key is not
// valid" (the reason goes to the metrics and the log, never to the caller); a valid key of a
// suspended or revoked client is 403 CLIENT_SUSPENDED / CLIENT_REVOKED, as with a certificate. A
// request with both a verified certificate and an Authorization header is refused (400
// INVALID_REQUEST): one identity per request.

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/periodic_task.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/crypto/api_key.hpp"
#include "msgbroker/net/http_types.hpp"
#include "msgbroker/storage/api_key_store.hpp"

namespace prometheus {
class Registry;
}

namespace msgbroker::proxy {

// An IPv4 or IPv6 network; IPv4 is kept as an IPv4-mapped IPv6 address (::ffff:a.b.c.d, prefix
// + 96), so that an IPv4 peer on a dual-stack socket matches an IPv4 network.
struct IpNetwork {
  std::array<std::uint8_t, 16> address{};
  int prefix = 128;
};

// "192.0.2.0/24", "2001:db8::/32", or a single address ("192.0.2.7" = /32). The address must not
// have bits set beyond the prefix. kInvalidRequest naming the text otherwise.
Result<IpNetwork> ParseIpNetwork(std::string_view cidr);
// The address part of a peer address "ip:port" / "[ipv6]:port" (RequestContext::remote_address).
std::optional<std::array<std::uint8_t, 16>> ParsePeerAddress(std::string_view remote);
bool NetworkContains(const IpNetwork& network, const std::array<std::uint8_t, 16>& address);

class ApiKeyDirectory {
 public:
  using Source = std::function<Result<std::vector<storage::ApiKeyIdentity>>()>;

  ApiKeyDirectory(Source source, std::chrono::milliseconds refresh_interval,
                  prometheus::Registry& metrics);
  ~ApiKeyDirectory();

  // Loads a snapshot now (blocking). The first call must succeed before serving.
  Status Refresh();
  void StartBackgroundRefresh();
  void Stop();
  bool healthy() const;
  std::size_t size() const;

  // nullopt: the request is not for API-key authentication (it has a verified certificate and
  // no Authorization header), the certificate decides. Otherwise the client the key belongs to,
  // or the error to answer with. Never blocks.
  std::optional<Result<storage::ClientIdentity>> Authenticate(const net::HttpRequest& request,
                                                              const net::RequestContext& context,
                                                              SystemTime now) const;

 private:
  struct Entry {
    storage::ApiKey key;
    storage::Client client;
    crypto::ApiKeyDigest digest{};
    std::vector<IpNetwork> networks;
  };
  using Snapshot = std::unordered_map<std::string, Entry>;
  struct Metrics;

  Result<storage::ClientIdentity> Check(std::string_view authorization,
                                        const net::RequestContext& context, SystemTime now) const;
  tl::unexpected<Error> Refuse(std::string_view reason, std::string_view key_id,
                               const net::RequestContext& context) const;

  Source source_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  bool healthy_ = false;
  std::unique_ptr<Metrics> metrics_;
  PeriodicTask refresher_;  // last: stopped before the rest goes
};

}  // namespace msgbroker::proxy
