#include "msgbroker/queue/redis_rate_buckets.hpp"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <array>
#include <cmath>
#include <cstdlib>

#include "msgbroker/queue/redis_connection.hpp"

namespace msgbroker::queue {
namespace {

// KEYS[1] the bucket; ARGV: per_second, burst, debt, want, ttl_ms. Returns {granted, level} as
// strings (a Lua number returned as such would be truncated to an integer).
constexpr std::string_view kTakeScript = R"lua(
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local debt = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ms')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
  at = now
end
tokens = math.min(burst, tokens - debt)
local granted = 0
if want > 0 and tokens >= 1 then granted = math.min(math.floor(want), math.floor(tokens)) end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ms',
           string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {string.format('%.17g', granted), string.format('%.17g', tokens)}
)lua";

std::string Sha1Hex(std::string_view text) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  std::string hex;
  for (unsigned char c : digest) hex += fmt::format("{:02x}", c);
  return hex;
}

std::string Number(double value) { return fmt::format("{:.17g}", value); }

bool ParseNumber(std::string_view text, double& out) {
  const std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return !copy.empty() && end == copy.c_str() + copy.size() && std::isfinite(out);
}

}  // namespace

struct RedisRateBuckets::Impl {
  std::unique_ptr<redis::Connection> connection;
  std::string sha = Sha1Hex(kTakeScript);
};

RedisRateBuckets::RedisRateBuckets(RedisRateBucketsOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

RedisRateBuckets::~RedisRateBuckets() = default;

std::string RedisRateBuckets::KeyFor(std::string_view client) const {
  return options_.key_prefix + "ratelimit:" + std::string(client);
}

namespace {

Result<redis::Connection*> Connected(std::unique_ptr<redis::Connection>& connection,
                                     const RedisRateBucketsOptions& o) {
  if (connection && !connection->broken() && connection->LooksAlive()) return connection.get();
  connection.reset();
  auto opened = redis::Connection::Open(redis::ConnectionOptions{
      o.host, o.port, o.password, o.db, o.connect_timeout, o.command_timeout});
  if (!opened) return tl::unexpected(std::move(opened.error()));
  connection = std::move(*opened);
  return connection.get();
}

}  // namespace

Status RedisRateBuckets::Ping() {
  auto connection = Connected(impl_->connection, options_);
  if (!connection) return tl::unexpected(std::move(connection.error()));
  auto reply = (*connection)->Command({"PING"});
  if (!reply) return tl::unexpected(std::move(reply.error()));
  if (redis::IsErrorReply(reply->get())) {
    return Fail(ErrorCode::kQueueUnavailable, (*connection)->where() + ": PING: " +
                                                  std::string(redis::ReplyString(reply->get())));
  }
  return Ok();
}

Result<std::vector<BucketGrant>> RedisRateBuckets::Exchange(
    std::span<const BucketRequest> requests) {
  std::vector<BucketGrant> grants;
  if (requests.empty()) return grants;
  auto connection = Connected(impl_->connection, options_);
  if (!connection) return tl::unexpected(std::move(connection.error()));
  redis::Connection& c = **connection;
  // Keys and numbers must outlive the pipeline: the argv views point into them.
  struct Args {
    std::string key, rate, burst, debt, want, ttl;
  };
  std::vector<Args> args;
  args.reserve(requests.size());
  for (const auto& r : requests) {
    const auto ttl_ms = static_cast<long long>(std::ceil(r.burst / r.per_second * 1000.0)) + 1000;
    args.push_back({KeyFor(r.client), Number(r.per_second), Number(r.burst), Number(r.debt),
                    Number(r.want), std::to_string(ttl_ms)});
  }
  auto send = [&](bool by_body) -> Status {
    for (const auto& a : args) {
      std::vector<std::string_view> argv = {by_body ? "EVAL" : "EVALSHA",
                                            by_body ? kTakeScript : std::string_view(impl_->sha),
                                            "1",
                                            a.key,
                                            a.rate,
                                            a.burst,
                                            a.debt,
                                            a.want,
                                            a.ttl};
      if (auto ok = c.Append(argv); !ok) return ok;
    }
    return Ok();
  };
  for (bool by_body : {false, true}) {
    if (auto ok = send(by_body); !ok) return tl::unexpected(std::move(ok.error()));
    std::vector<redis::Reply> replies;
    bool noscript = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
      auto reply = c.ReadReply();
      if (!reply) return tl::unexpected(std::move(reply.error()));
      if (redis::IsNoScriptReply(reply->get())) noscript = true;
      replies.push_back(std::move(*reply));
    }
    if (noscript && !by_body) continue;  // the server lost its script cache: send the bodies
    for (const auto& reply : replies) {
      const redisReply* r = reply.get();
      BucketGrant grant;
      if (redis::IsErrorReply(r) || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
          !ParseNumber(redis::ReplyString(r->element[0]), grant.granted) ||
          !ParseNumber(redis::ReplyString(r->element[1]), grant.level)) {
        return Fail(ErrorCode::kQueueUnavailable, c.where() + ": the rate limit script failed: " +
                                                      std::string(redis::ReplyString(r)));
      }
      grants.push_back(grant);
    }
    return grants;
  }
  return Fail(ErrorCode::kQueueUnavailable, c.where() + ": the rate limit script is not loaded");
}

}  // namespace msgbroker::queue
