// The idempotency store on Redis, for proxy processes that share the Redis of the queue: one hash
// per scope, <prefix>idem:<client id>:<key hash>, changed only by the Lua scripts below (atomic).
// Expiry is decided with times from the injected Clock, passed in; the Redis TTL (the same time
// plus a margin) only makes Redis forget records nobody asks for again.

#include <spdlog/spdlog.h>

#include "idempotency_store_base.hpp"
#include "msgbroker/queue/redis_connection.hpp"

namespace msgbroker::proxy {

namespace {

// KEYS[1] the record; ARGV: now, fingerprint, token, lease_until, gc_ttl_ms.
// Returns {'claimed'} or {state, fingerprint, status, content_type, body}.
constexpr std::string_view kClaim = R"lua(
local k = KEYS[1]
local now = tonumber(ARGV[1])
local r = redis.call('HMGET', k, 'state', 'fingerprint', 'expires_at', 'status', 'content_type',
                     'body')
if r[1] and tonumber(r[3]) > now then
  return {r[1], r[2], r[4] or '0', r[5] or '', r[6] or ''}
end
redis.call('DEL', k)
redis.call('HSET', k, 'state', 'in_flight', 'fingerprint', ARGV[2], 'token', ARGV[3],
           'expires_at', ARGV[4])
redis.call('PEXPIRE', k, ARGV[5])
return {'claimed'}
)lua";

// KEYS[1]; ARGV: token, expires_at, gc_ttl_ms, status, content_type, body. 1 when completed.
constexpr std::string_view kComplete = R"lua(
local k = KEYS[1]
if redis.call('HGET', k, 'token') ~= ARGV[1] or redis.call('HGET', k, 'state') ~= 'in_flight' then
  return 0
end
redis.call('HSET', k, 'state', 'completed', 'expires_at', ARGV[2], 'status', ARGV[4],
           'content_type', ARGV[5], 'body', ARGV[6])
redis.call('PEXPIRE', k, ARGV[3])
return 1
)lua";

// KEYS[1]; ARGV: token. 1 when the claim was dropped.
constexpr std::string_view kRelease = R"lua(
local k = KEYS[1]
if redis.call('HGET', k, 'token') ~= ARGV[1] or redis.call('HGET', k, 'state') ~= 'in_flight' then
  return 0
end
redis.call('DEL', k)
return 1
)lua";

// Redis forgets a record this long after the clock says it expired.
constexpr std::int64_t kGcMarginMs = 60'000;

namespace redis = queue::redis;

class RedisIdempotencyStore final : public BlockingIdempotencyStore {
 public:
  RedisIdempotencyStore(RedisIdempotencyOptions redis, IdempotencyOptions options,
                        const Clock& clock)
      : BlockingIdempotencyStore(options, clock), redis_(std::move(redis)) {
    StartThread();
  }
  ~RedisIdempotencyStore() override { StopThread(); }

 protected:
  Result<ClaimResult> Claim(const IdempotencyScope& scope, const std::string& fingerprint,
                            const std::string& token) override {
    const auto now = NowMs();
    const auto now_text = std::to_string(now);
    const auto lease_until = std::to_string(now + LeaseMs());
    const auto gc = std::to_string(LeaseMs() + kGcMarginMs);
    auto reply = Eval(kClaim, scope, {now_text, fingerprint, token, lease_until, gc});
    if (!reply) return tl::unexpected(reply.error());
    const redisReply* r = reply->get();
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return Unexpected();
    const auto state = redis::ReplyString(r->element[0]);
    if (state == "claimed") return ClaimResult{ClaimState::kClaimed, fingerprint, {}};
    if (r->elements != 5) return Unexpected();
    ClaimResult live;
    live.state = state == "completed" ? ClaimState::kCompleted : ClaimState::kInFlight;
    live.fingerprint = std::string(redis::ReplyString(r->element[1]));
    live.answer.status = static_cast<unsigned>(
        std::strtoul(std::string(redis::ReplyString(r->element[2])).c_str(), nullptr, 10));
    live.answer.content_type = std::string(redis::ReplyString(r->element[3]));
    live.answer.body = std::string(redis::ReplyString(r->element[4]));
    return live;
  }

  Status Complete(const IdempotencyScope& scope, const std::string& token,
                  const StoredAnswer& answer) override {
    const auto expires_at = std::to_string(NowMs() + TtlMs());
    const auto gc = std::to_string(TtlMs() + kGcMarginMs);
    const auto status = std::to_string(answer.status);
    auto reply =
        Eval(kComplete, scope, {token, expires_at, gc, status, answer.content_type, answer.body});
    if (!reply) return tl::unexpected(reply.error());
    return Ok();
  }

  Status Release(const IdempotencyScope& scope, const std::string& token) override {
    auto reply = Eval(kRelease, scope, {token});
    if (!reply) return tl::unexpected(reply.error());
    return Ok();
  }

 private:
  static tl::unexpected<Error> Unexpected() {
    return Fail(ErrorCode::kServiceUnavailable, "idempotency store: unexpected reply from Redis");
  }

  std::string Key(const IdempotencyScope& scope) const {
    return redis_.key_prefix + "idem:" + scope.client_id + ":" + scope.key_hash;
  }

  // EVAL (Redis caches the compiled script by its SHA-1), reconnecting when needed.
  Result<redis::Reply> Eval(std::string_view script, const IdempotencyScope& scope,
                            const std::vector<std::string>& args) {
    if (connection_ && (connection_->broken() || !connection_->LooksAlive())) connection_.reset();
    if (!connection_) {
      redis::ConnectionOptions options;
      options.host = redis_.host;
      options.port = redis_.port;
      options.password = redis_.password;
      options.db = redis_.db;
      options.connect_timeout = redis_.connect_timeout;
      options.command_timeout = redis_.command_timeout;
      auto opened = redis::Connection::Open(options);
      if (!opened) return Fail(ErrorCode::kServiceUnavailable, opened.error().message);
      connection_ = std::move(*opened);
    }
    const auto key = Key(scope);
    std::vector<std::string_view> argv{"EVAL", script, "1", key};
    for (const auto& a : args) argv.emplace_back(a);
    auto reply = connection_->Command(argv);
    if (!reply) return Fail(ErrorCode::kServiceUnavailable, reply.error().message);
    if (redis::IsErrorReply(reply->get())) {
      spdlog::error("event=idempotency_redis_error error=\"{}\"", redis::ReplyString(reply->get()));
      return Fail(ErrorCode::kServiceUnavailable, "idempotency store: Redis refused a script");
    }
    return reply;
  }

  RedisIdempotencyOptions redis_;
  std::unique_ptr<redis::Connection> connection_;  // the store thread's only
};

}  // namespace

Result<std::unique_ptr<IdempotencyStore>> OpenRedisIdempotencyStore(RedisIdempotencyOptions redis,
                                                                    IdempotencyOptions options,
                                                                    const Clock& clock) {
  return std::unique_ptr<IdempotencyStore>(
      std::make_unique<RedisIdempotencyStore>(std::move(redis), options, clock));
}

}  // namespace msgbroker::proxy
