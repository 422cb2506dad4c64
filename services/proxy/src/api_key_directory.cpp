#include "msgbroker/proxy/api_key_directory.hpp"

#include <arpa/inet.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <charconv>
#include <cstring>
#include <map>

namespace msgbroker::proxy {

namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::optional<std::array<std::uint8_t, 16>> ParseAddress(const std::string& text) {
  std::array<std::uint8_t, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), out.begin());
    std::memcpy(out.data() + 12, &v4.s_addr, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(out.data(), v6.s6_addr, 16);
    return out;
  }
  return std::nullopt;
}

// The reasons a key is refused, as metric labels.
constexpr std::string_view kReasons[] = {
    "missing", "ambiguous",           "malformed",        "unknown_key",   "wrong_secret",
    "expired", "address_not_allowed", "client_suspended", "client_revoked"};

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The token of "Bearer <token>" (scheme case-insensitive, RFC 7235), or nullopt.
std::optional<std::string_view> BearerToken(std::string_view value) {
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || !EqualsIgnoringCase(value.substr(0, 6), kScheme) ||
      value[6] != ' ') {
    return std::nullopt;
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  return value;
}

}  // namespace

Result<IpNetwork> ParseIpNetwork(std::string_view cidr) {
  auto invalid = [&] {
    return Fail(ErrorCode::kInvalidRequest,
                "'" + std::string(cidr) +
                    "' is not a network (expected e.g. 192.0.2.0/24, 2001:db8::/32 or an address)",
                "allowed_cidrs");
  };
  const auto slash = cidr.find('/');
  const std::string address_text(cidr.substr(0, slash));
  auto address = ParseAddress(address_text);
  if (!address) return invalid();
  const bool v4 = address_text.find(':') == std::string::npos;
  int prefix = v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    const auto digits = cidr.substr(slash + 1);
    const auto* end = digits.data() + digits.size();
    auto [ptr, ec] = std::from_chars(digits.data(), end, prefix);
    if (digits.empty() || ec != std::errc() || ptr != end || prefix < 0 ||
        prefix > (v4 ? 32 : 128)) {
      return invalid();
    }
  }
  IpNetwork network{*address, v4 ? prefix + 96 : prefix};
  for (int bit = network.prefix; bit < 128; ++bit) {
    if (network.address[bit / 8] & (0x80 >> (bit % 8))) {
      return Fail(ErrorCode::kInvalidRequest,
                  "'" + std::string(cidr) + "' has address bits set beyond the /" +
                      std::to_string(prefix) + " prefix",
                  "allowed_cidrs");
    }
  }
  return network;
}

std::optional<std::array<std::uint8_t, 16>> ParsePeerAddress(std::string_view remote) {
  std::string_view host;
  if (!remote.empty() && remote.front() == '[') {
    const auto close = remote.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = remote.substr(1, close - 1);
  } else {
    const auto colon = remote.rfind(':');
    host = remote.substr(0, colon);
  }
  return ParseAddress(std::string(host));
}

bool NetworkContains(const IpNetwork& network, const std::array<std::uint8_t, 16>& address) {
  for (int bit = 0; bit < network.prefix; ++bit) {
    const std::uint8_t mask = 0x80 >> (bit % 8);
    if ((network.address[bit / 8] & mask) != (address[bit / 8] & mask)) return false;
  }
  return true;
}

struct ApiKeyDirectory::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : failures(prometheus::BuildCounter()
                     .Name("proxy_api_key_auth_failures_total")
                     .Help("Requests refused by API-key authentication, by reason")
                     .Register(registry)),
        successes(prometheus::BuildCounter()
                      .Name("proxy_api_key_auth_success_total")
                      .Help("Requests authenticated by an API key")
                      .Register(registry)
                      .Add({})) {
    for (auto reason : kReasons) {
      by_reason.emplace(reason, &failures.Add({{"reason", std::string(reason)}}));
    }
  }
  prometheus::Family<prometheus::Counter>& failures;
  prometheus::Counter& successes;
  std::map<std::string_view, prometheus::Counter*> by_reason;  // filled once, read-only after
};

ApiKeyDirectory::ApiKeyDirectory(Source source, std::chrono::milliseconds refresh_interval,
                                 prometheus::Registry& metrics)
    : source_(std::move(source)),
      snapshot_(std::make_shared<const Snapshot>()),
      metrics_(std::make_unique<Metrics>(metrics)),
      refresher_(refresh_interval, [this] { (void)Refresh(); }) {}

ApiKeyDirectory::~ApiKeyDirectory() { Stop(); }

Status ApiKeyDirectory::Refresh() {
  auto keys = source_();
  if (!keys) {
    std::lock_guard lock(mutex_);
    if (healthy_) {
      spdlog::warn("event=api_key_directory_refresh_failed error=\"{}\"", keys.error().message);
    }
    healthy_ = false;
    return tl::unexpected(keys.error());
  }
  auto next = std::make_shared<Snapshot>();
  next->reserve(keys->size());
  for (auto& identity : *keys) {
    Entry entry;
    auto digest = crypto::ParseApiKeyHash(identity.key.secret_hash);
    bool usable = digest.has_value();
    for (const auto& cidr : identity.key.allowed_cidrs) {
      auto network = ParseIpNetwork(cidr);
      if (!network) {
        usable = false;
        break;
      }
      entry.networks.push_back(*network);
    }
    if (!usable) {
      // Fail closed: a key whose stored hash or allow-list does not parse admits nobody.
      spdlog::warn("event=api_key_unusable key_id={} client_id={}", identity.key.key_id,
                   identity.key.client_id.str());
      continue;
    }
    entry.digest = *digest;
    entry.key = std::move(identity.key);
    entry.client = std::move(identity.client);
    auto id = entry.key.key_id;
    next->emplace(std::move(id), std::move(entry));
  }
  std::lock_guard lock(mutex_);
  snapshot_ = std::move(next);
  healthy_ = true;
  return Ok();
}

void ApiKeyDirectory::StartBackgroundRefresh() { refresher_.Start(); }

void ApiKeyDirectory::Stop() { refresher_.Stop(); }

bool ApiKeyDirectory::healthy() const {
  std::lock_guard lock(mutex_);
  return healthy_;
}

std::size_t ApiKeyDirectory::size() const {
  std::lock_guard lock(mutex_);
  return snapshot_->size();
}

tl::unexpected<Error> ApiKeyDirectory::Refuse(std::string_view reason, std::string_view key_id,
                                              const net::RequestContext& context) const {
  if (auto it = metrics_->by_reason.find(reason); it != metrics_->by_reason.end()) {
    it->second->Increment();
  }
  // The key id is public; the key itself is never logged.
  spdlog::info("event=api_key_refused request_id={} remote={} key_id={} reason={}",
               context.request_id, context.remote_address, key_id.empty() ? "-" : key_id, reason);
  if (reason == "client_suspended") {
    return Fail(ErrorCode::kClientSuspended, "the client is suspended");
  }
  if (reason == "client_revoked") {
    return Fail(ErrorCode::kClientRevoked, "the client has been revoked");
  }
  if (reason == "missing") {
    return Fail(ErrorCode::kClientCertificateRequired,
                "a client certificate issued by this system's CA or an API key "
                "(Authorization: Bearer mbk_...) is required");
  }
  if (reason == "ambiguous") {
    return Fail(ErrorCode::kInvalidRequest,
                "send either a client certificate or an API key (Authorization), not both",
                "Authorization");
  }
  return Fail(ErrorCode::kUnknownClient, "the API key is not valid");
}

std::optional<Result<storage::ClientIdentity>> ApiKeyDirectory::Authenticate(
    const net::HttpRequest& request, const net::RequestContext& context, SystemTime now) const {
  const auto authorization = request[boost::beast::http::field::authorization];
  if (context.peer) {
    if (authorization.empty()) return std::nullopt;
    return Result<storage::ClientIdentity>(Refuse("ambiguous", {}, context));
  }
  if (authorization.empty()) {
    return Result<storage::ClientIdentity>(Refuse("missing", {}, context));
  }
  auto identity = Check(std::string_view(authorization.data(), authorization.size()), context, now);
  if (identity) metrics_->successes.Increment();
  return identity;
}

Result<storage::ClientIdentity> ApiKeyDirectory::Check(std::string_view authorization,
                                                       const net::RequestContext& context,
                                                       SystemTime now) const {
  auto token = BearerToken(authorization);
  auto key_id = token ? crypto::ParseApiKeyId(*token) : std::nullopt;
  if (!key_id) return Refuse("malformed", {}, context);
  std::shared_ptr<const Snapshot> snapshot;
  {
    std::lock_guard lock(mutex_);
    snapshot = snapshot_;
  }
  const auto it = snapshot->find(*key_id);
  if (it == snapshot->end()) return Refuse("unknown_key", *key_id, context);
  const Entry& entry = it->second;
  if (!crypto::ApiKeyDigestsEqual(crypto::HashApiKey(*token), entry.digest)) {
    return Refuse("wrong_secret", *key_id, context);
  }
  if (entry.key.expires_at && *entry.key.expires_at <= now) {
    return Refuse("expired", *key_id, context);
  }
  if (!entry.networks.empty()) {
    const auto peer = ParsePeerAddress(context.remote_address);
    bool allowed = false;
    if (peer) {
      for (const auto& network : entry.networks) {
        if (NetworkContains(network, *peer)) {
          allowed = true;
          break;
        }
      }
    }
    if (!allowed) return Refuse("address_not_allowed", *key_id, context);
  }
  if (entry.client.status == storage::ClientStatus::kRevoked) {
    return Refuse("client_revoked", *key_id, context);
  }
  if (entry.client.status == storage::ClientStatus::kSuspended) {
    return Refuse("client_suspended", *key_id, context);
  }
  storage::ClientIdentity identity;
  identity.client = entry.client;
  return identity;
}

}  // namespace msgbroker::proxy
