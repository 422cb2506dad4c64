#include "msgbroker/queue/redis_queue.hpp"

#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "msgbroker/core/time_format.hpp"
#include "msgbroker/queue/redis_connection.hpp"
#include "redis_enqueue_lane.hpp"
#include "redis_scripts.hpp"

namespace msgbroker::queue {
namespace {

namespace asio = boost::asio;
using redis::Connection;
using redis::Reply;

// A blocked Claim waits on Redis (XREAD BLOCK) at most this long before it re-runs the claim
// script: due retries and expired leases follow the injected clock, which Redis cannot watch.
constexpr std::chrono::milliseconds kMaxBlockSlice{200};
// Idle connections kept for reuse; more are closed after use.
constexpr std::size_t kMaxIdleConnections = 64;

enum Script : std::size_t {
  kEnqueueScript,
  kClaimScript,
  kAckScript,
  kRetryScript,
  kDeadLetterScript,
  kReplayScript,
  kDiscardScript,
  kListDeadScript,
  kStatsScript,
  kScriptCount,
};

constexpr std::array<std::string_view, kScriptCount> kScriptNames = {
    "enqueue", "claim", "ack", "retry", "dead_letter", "replay", "discard", "list_dead", "stats"};

std::array<std::string, kScriptCount> ScriptBodies() {
  const std::array<std::string_view, kScriptCount> bodies = {
      redis::kEnqueue, redis::kClaim,   redis::kAck,      redis::kRetry, redis::kDeadLetter,
      redis::kReplay,  redis::kDiscard, redis::kListDead, redis::kStats};
  std::array<std::string, kScriptCount> out;
  for (std::size_t i = 0; i < kScriptCount; ++i) {
    out[i] = std::string(redis::kPrelude) + std::string(bodies[i]);
  }
  return out;
}

std::int64_t ParseMillis(std::string_view text) {
  return std::llround(std::strtod(std::string(text).c_str(), nullptr));
}

const redisReply* Element(const redisReply* reply, std::size_t i) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || i >= reply->elements) return nullptr;
  return reply->element[i];
}

std::size_t Elements(const redisReply* reply) {
  return reply != nullptr && reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0;
}

Result<MessageId> ParseId(std::string_view text) {
  auto id = MessageId::Parse(text);
  if (!id) return Fail(ErrorCode::kDataCorrupted, "redis queue holds a malformed message id");
  return *id;
}

// The messages of stream entries as XREADGROUP returns them ([entry id, [field, value, ...]] each;
// fields as redis_scripts.hpp describes them), each claimed once more than its `a` says. An entry
// without its id, payload or enqueue time, or with a malformed count, is kDataCorrupted.
Result<std::vector<ClaimedMessage>> ClaimedFromEntries(const redisReply* entries) {
  std::vector<ClaimedMessage> out;
  out.reserve(Elements(entries));
  for (std::size_t e = 0; e < Elements(entries); ++e) {
    const redisReply* kv = Element(Element(entries, e), 1);
    std::string_view id_text;
    ClaimedMessage m;
    std::uint32_t previous_claims = 0;
    bool has_payload = false;
    bool has_time = false;
    bool counts_ok = true;
    for (std::size_t f = 0; f + 1 < Elements(kv); f += 2) {
      const std::string_view name = redis::ReplyString(Element(kv, f));
      const std::string_view value = redis::ReplyString(Element(kv, f + 1));
      if (name == "i") {
        id_text = value;
      } else if (name == "p") {
        m.payload = std::string(value);
        has_payload = true;
      } else if (name == "t") {
        m.enqueued_at = FromUnixMillis(ParseMillis(value));
        has_time = true;
      } else if (name == "a") {
        const auto [end, ec] =
            std::from_chars(value.data(), value.data() + value.size(), previous_claims);
        counts_ok = ec == std::errc{} && end == value.data() + value.size();
      } else if (name == "e") {
        m.last_error = std::string(value);
      }
    }
    if (!has_payload || !has_time || !counts_ok) {
      return Fail(ErrorCode::kDataCorrupted, "redis queue holds a malformed stream entry");
    }
    auto id = ParseId(id_text);
    if (!id) return tl::unexpected(id.error());
    m.id = std::move(*id);
    m.attempts = previous_claims + 1;
    out.push_back(std::move(m));
  }
  return out;
}

// Lowercase hex SHA1, the name Redis gives a script.
std::string Sha1Hex(std::string_view text) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * digest.size());
  for (unsigned char byte : digest) {
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0x0f]);
  }
  return out;
}

// The name Redis gives each script: EVALSHA addresses them without a SCRIPT LOAD.
std::array<std::string, kScriptCount> ScriptShas(
    const std::array<std::string, kScriptCount>& bodies) {
  std::array<std::string, kScriptCount> out;
  for (std::size_t i = 0; i < kScriptCount; ++i) out[i] = Sha1Hex(bodies[i]);
  return out;
}

tl::unexpected<Error> Closed() { return tl::unexpected(QueueClosedError()); }

// Keys that only layout 1 of the queue had (redis_scripts.hpp describes layout 2). No release
// carried layout 1, so there is no migration; a prefix that still holds them is refused rather
// than misread.
Status CheckLayout(Connection& conn, const std::string& prefix) {
  const std::string ready = prefix + "ready";
  const std::string seq = prefix + "seq";
  auto reply = conn.Command({"EXISTS", ready, seq});
  if (!reply) return tl::unexpected(reply.error());
  if (redis::ReplyInteger(reply->get()) == 0) return Ok();
  return Fail(ErrorCode::kInvalidRequest,
              "redis queue: " + ready + " or " + seq +
                  " exists: keys of the queue layout of an earlier development build; drain that "
                  "queue with its build, or delete the keys under " +
                  prefix + ", before starting this one");
}

}  // namespace

struct RedisQueue::Impl {
  // A thread running an event loop of the queue's own, with its lane: it carries the enqueues
  // of callers that are not on an event loop themselves.
  struct OwnLoop {
    asio::io_context loop{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
        loop.get_executor()};
    std::thread thread;
  };

  Impl(RedisQueueOptions o, const Clock& c)
      : clock(c),
        bodies(ScriptBodies()),
        shas(ScriptShas(bodies)),
        shared(std::make_shared<redis::EnqueueShared>(
            o,
            redis::ConnectionOptions{o.host, o.port, o.password, o.db, o.connect_timeout,
                                     o.command_timeout},
            bodies[kEnqueueScript], shas[kEnqueueScript])),
        options(shared->options),
        connection(shared->connection),
        stream(options.key_prefix + "stream") {}

  ~Impl() {
    Close();
    for (auto& own : own_loops) {
      if (own->thread.joinable()) own->thread.join();
    }
  }

  // ---- connections (the blocking calls) ----

  Result<std::unique_ptr<Connection>> OpenConnection() {
    auto conn = Connection::Open(connection);
    shared->NoteConnect(conn ? Ok() : Status(tl::unexpected(conn.error())));
    return conn;
  }

  Result<std::unique_ptr<Connection>> Acquire() {
    {
      std::lock_guard lock(pool_mu);
      while (!idle.empty()) {
        std::unique_ptr<Connection> conn = std::move(idle.back());
        idle.pop_back();
        if (conn->LooksAlive()) return conn;
      }
    }
    return OpenConnection();
  }

  void Release(std::unique_ptr<Connection> conn) {
    if (conn->broken()) return;
    std::lock_guard lock(pool_mu);
    if (idle.size() < kMaxIdleConnections) idle.push_back(std::move(conn));
  }

  // EVALSHA, falling back to EVAL when the server lost its script cache (restart, SCRIPT FLUSH).
  // An error reply is kQueueUnavailable naming the script.
  Result<Reply> Eval(Connection& conn, Script script, const std::vector<std::string>& args) {
    std::vector<std::string_view> argv;
    argv.reserve(args.size() + 3);
    argv.push_back("EVALSHA");
    argv.push_back(shas[script]);
    argv.push_back("0");
    argv.insert(argv.end(), args.begin(), args.end());
    auto reply = conn.Command(argv);
    if (reply && redis::IsNoScriptReply(reply->get())) {
      argv[0] = "EVAL";
      argv[1] = bodies[script];
      reply = conn.Command(argv);
    }
    if (!reply) return reply;
    if (redis::IsErrorReply(reply->get())) {
      return Fail(ErrorCode::kQueueUnavailable, conn.where() + ": " +
                                                    std::string(kScriptNames[script]) + ": " +
                                                    std::string(redis::ReplyString(reply->get())));
    }
    return reply;
  }

  Result<Reply> Run(Script script, const std::vector<std::string>& args) {
    auto conn = Acquire();
    if (!conn) return tl::unexpected(conn.error());
    auto reply = Eval(**conn, script, args);
    Release(std::move(*conn));
    return reply;
  }

  // ---- enqueues ----

  // Hands `op` to one of the queue's own loops, unless the queue is closed. Under post_mu with
  // the closed flag, so every call posted is ahead of Close's request to drain.
  void EnqueueOnOwnLoop(redis::EnqueueOp op) {
    std::unique_lock lock(post_mu);
    if (shared->closed) {
      lock.unlock();
      op.done(Closed());
      return;
    }
    OwnLoop& own = *own_loops[next_loop++ % own_loops.size()];
    asio::post(own.loop, [&loop = own.loop, s = shared, op = std::move(op)]() mutable {
      redis::EnqueueOnLoop(loop, s, std::move(op));
    });
  }

  void Close() {
    {
      std::lock_guard lock(post_mu);
      shared->closed = true;
    }
    shared->CloseLanes();
    // From a completion callback (on one of the own loops) that loop cannot be joined; it stops
    // on its own once it has drained, and the destructor joins it.
    std::lock_guard close_lock(close_mu);
    for (auto& own : own_loops) {
      own->work.reset();
      if (own->thread.joinable() && own->thread.get_id() != std::this_thread::get_id()) {
        own->thread.join();
      }
    }
  }

  bool IsClosed() const { return shared->closed; }

  std::string Now() const { return std::to_string(ToUnixMillis(clock.Now())); }

  const Clock& clock;
  const std::array<std::string, kScriptCount> bodies;
  const std::array<std::string, kScriptCount> shas;
  const std::shared_ptr<redis::EnqueueShared> shared;
  const RedisQueueOptions& options;
  const redis::ConnectionOptions& connection;
  const std::string stream;

  std::mutex pool_mu;
  std::vector<std::unique_ptr<Connection>> idle;

  std::mutex post_mu;  // shared->closed, posting to own_loops
  std::vector<std::unique_ptr<OwnLoop>> own_loops;
  std::size_t next_loop = 0;  // under post_mu
  std::mutex close_mu;
};

// ---- RedisQueue -------------------------------------------------------------------------------

Result<std::unique_ptr<RedisQueue>> RedisQueue::Open(RedisQueueOptions options,
                                                     const Clock& clock) {
  if (options.max_pipeline == 0) {
    return Fail(ErrorCode::kInvalidRequest, "redis queue: max_pipeline must be at least 1");
  }
  if (options.writers == 0) {
    return Fail(ErrorCode::kInvalidRequest, "redis queue: writers must be at least 1");
  }
  // The scripts are addressed by their SHA1, computed by Impl: EVALSHA needs no SCRIPT LOAD, and
  // a server that does not know a script yet (first use, restart) gets it once through EVAL. The
  // consumer group is created by the claim script when missing. So nothing needs the server now.
  auto impl = std::make_unique<Impl>(std::move(options), clock);
  // One connection to tell the operator at once how things stand. A server that answered and
  // refused (wrong password, no such database) is a configuration error; an unreachable one is
  // an outage the queue rides out: its calls fail with kQueueUnavailable until it is back.
  bool refused = false;
  auto conn = Connection::Open(impl->connection, &refused);
  if (!conn && refused) return tl::unexpected(conn.error());
  if (conn) {
    // A layout problem is a configuration error; the server failing the check (it went away) is
    // an outage like any other, noticed by the next call.
    if (auto layout = CheckLayout(**conn, impl->options.key_prefix); !layout) {
      if (layout.error().code == ErrorCode::kInvalidRequest) return tl::unexpected(layout.error());
      conn = tl::unexpected(layout.error());
    } else {
      impl->Release(std::move(*conn));
    }
  }
  if (!conn) impl->shared->NoteConnect(tl::unexpected(conn.error()));
  try {
    for (std::size_t i = 0; i < impl->options.writers; ++i) {
      auto& own = *impl->own_loops.emplace_back(std::make_unique<Impl::OwnLoop>());
      own.thread = std::thread([&loop = own.loop] { loop.run(); });
    }
  } catch (const std::system_error& e) {
    return Fail(ErrorCode::kQueueUnavailable,
                std::string("redis queue: cannot start an enqueue thread: ") + e.what());
  }
  spdlog::info("event=queue_opened backend=redis server={}:{} db={} prefix={} reachable={}",
               impl->options.host, impl->options.port, impl->options.db, impl->options.key_prefix,
               conn.has_value());
  return std::unique_ptr<RedisQueue>(new RedisQueue(std::move(impl)));
}

RedisQueue::RedisQueue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RedisQueue::~RedisQueue() = default;

void RedisQueue::EnqueueAsync(std::vector<NewMessage> messages, EnqueueCallback done) {
  EnqueueAsyncOn(nullptr, std::move(messages), std::move(done));
}

void RedisQueue::EnqueueAsyncOn(asio::io_context* loop, std::vector<NewMessage> messages,
                                EnqueueCallback done) {
  Impl& q = *impl_;
  if (auto ok = ValidateNewMessages(messages, q.options.max_payload_bytes); !ok) {
    done(std::move(ok));
    return;
  }
  if (q.IsClosed()) {
    done(Closed());
    return;
  }
  if (messages.empty()) {
    done(Ok());
    return;
  }
  redis::EnqueueOp op;
  op.args.reserve(2 + 2 * messages.size());
  op.args.push_back(std::to_string(messages.size()));
  op.args.push_back(q.Now());
  op.messages = messages.size();
  for (auto& m : messages) {
    op.bytes += m.payload.size();
    op.args.push_back(m.id.str());
    op.args.push_back(std::move(m.payload));
  }
  op.done = std::move(done);
  if (loop != nullptr && loop->get_executor().running_in_this_thread()) {
    redis::EnqueueOnLoop(*loop, q.shared, std::move(op));
  } else {
    q.EnqueueOnOwnLoop(std::move(op));
  }
}

Result<std::vector<ClaimedMessage>> RedisQueue::Claim(std::string_view consumer, std::size_t max,
                                                      std::chrono::milliseconds visibility_timeout,
                                                      std::chrono::milliseconds wait) {
  Impl& q = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (q.IsClosed()) return Closed();
    const std::int64_t now = ToUnixMillis(q.clock.Now());
    auto conn = q.Acquire();
    if (!conn) return tl::unexpected(conn.error());
    auto reply = q.Eval(**conn, kClaimScript,
                        {q.options.key_prefix, std::to_string(now), std::to_string(max),
                         std::to_string(now + visibility_timeout.count()), std::string(consumer)});
    if (!reply) {
      q.Release(std::move(*conn));
      return tl::unexpected(reply.error());
    }
    const redisReply* r = reply->get();
    auto claimed = ClaimedFromEntries(Element(r, 1));
    if (!claimed) {
      q.Release(std::move(*conn));
      return tl::unexpected(claimed.error());
    }
    std::vector<ClaimedMessage> out = std::move(*claimed);
    const auto remaining =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!out.empty() || max == 0 || remaining.count() <= 0) {
      q.Release(std::move(*conn));
      return out;
    }
    // Nothing ready: wait for a new stream entry after the last one (XREAD claims nothing), at
    // most one slice, then look again (a retry or lease may have come due by the clock).
    std::string last_id(redis::ReplyString(Element(r, 0)));
    if (last_id.empty()) last_id = "$";
    const auto slice = std::min({remaining, kMaxBlockSlice, (*conn)->command_timeout()});
    (*conn)->SetTimeout(slice + (*conn)->command_timeout());
    auto woke = (*conn)->Command({"XREAD", "COUNT", "1", "BLOCK", std::to_string(slice.count()),
                                  "STREAMS", q.stream, last_id});
    (*conn)->SetTimeout((*conn)->command_timeout());
    q.Release(std::move(*conn));
    if (!woke) return tl::unexpected(woke.error());
  }
}

Status RedisQueue::Ack(std::span<const MessageId> ids) {
  Impl& q = *impl_;
  if (q.IsClosed()) return Closed();
  if (ids.empty()) return Ok();
  std::vector<std::string> args{q.options.key_prefix};
  for (const auto& id : ids) args.push_back(id.str());
  auto reply = q.Run(kAckScript, args);
  if (!reply) return tl::unexpected(reply.error());
  return Ok();
}

Status RedisQueue::Retry(std::span<const RetryRequest> retries) {
  Impl& q = *impl_;
  if (q.IsClosed()) return Closed();
  if (retries.empty()) return Ok();
  std::vector<std::string> args{q.options.key_prefix};
  for (const auto& r : retries) {
    args.push_back(r.id.str());
    args.push_back(std::to_string(ToUnixMillis(r.not_before)));
    args.push_back(r.error);
    args.push_back(r.refund_attempt ? "1" : "0");
  }
  auto reply = q.Run(kRetryScript, args);
  if (!reply) return tl::unexpected(reply.error());
  return Ok();
}

Status RedisQueue::DeadLetter(std::span<const DeadLetterRequest> dead) {
  Impl& q = *impl_;
  if (q.IsClosed()) return Closed();
  if (dead.empty()) return Ok();
  std::vector<std::string> args{q.options.key_prefix, q.Now()};
  for (const auto& d : dead) {
    args.push_back(d.id.str());
    args.push_back(d.reason);
  }
  auto reply = q.Run(kDeadLetterScript, args);
  if (!reply) return tl::unexpected(reply.error());
  return Ok();
}

Result<std::vector<queue::DeadLetter>> RedisQueue::ListDeadLetters(std::size_t offset,
                                                                   std::size_t limit) {
  Impl& q = *impl_;
  std::vector<queue::DeadLetter> out;
  constexpr std::size_t kMaxRank = std::numeric_limits<std::int64_t>::max();
  if (limit == 0 || offset >= kMaxRank) return out;
  const std::size_t last = offset + std::min(limit - 1, kMaxRank - offset);
  auto reply =
      q.Run(kListDeadScript, {q.options.key_prefix, std::to_string(offset), std::to_string(last)});
  if (!reply) return tl::unexpected(reply.error());
  const redisReply* r = reply->get();
  for (std::size_t i = 0; i + 5 < Elements(r); i += 6) {
    auto id = ParseId(redis::ReplyString(Element(r, i)));
    if (!id) return tl::unexpected(id.error());
    out.push_back(queue::DeadLetter{
        std::move(*id), std::string(redis::ReplyString(Element(r, i + 1))),
        std::string(redis::ReplyString(Element(r, i + 2))),
        static_cast<std::uint32_t>(ParseMillis(redis::ReplyString(Element(r, i + 3)))),
        FromUnixMillis(ParseMillis(redis::ReplyString(Element(r, i + 4)))),
        FromUnixMillis(ParseMillis(redis::ReplyString(Element(r, i + 5))))});
  }
  return out;
}

Status RedisQueue::ReplayDeadLetter(const MessageId& id) {
  Impl& q = *impl_;
  if (q.IsClosed()) return Closed();
  auto reply = q.Run(kReplayScript, {q.options.key_prefix, id.str()});
  if (!reply) return tl::unexpected(reply.error());
  if (redis::ReplyInteger(reply->get()) == 0) {
    return Fail(ErrorCode::kNotFound, "no dead letter " + id.str());
  }
  return Ok();
}

Status RedisQueue::DiscardDeadLetter(const MessageId& id) {
  Impl& q = *impl_;
  if (q.IsClosed()) return Closed();
  auto reply = q.Run(kDiscardScript, {q.options.key_prefix, id.str()});
  if (!reply) return tl::unexpected(reply.error());
  if (redis::ReplyInteger(reply->get()) == 0) {
    return Fail(ErrorCode::kNotFound, "no dead letter " + id.str());
  }
  return Ok();
}

Result<QueueStats> RedisQueue::Stats() {
  Impl& q = *impl_;
  auto reply = q.Run(kStatsScript, {q.options.key_prefix, q.Now()});
  if (!reply) return tl::unexpected(reply.error());
  const redisReply* r = reply->get();
  QueueStats stats;
  stats.ready = static_cast<std::uint64_t>(redis::ReplyInteger(Element(r, 0)));
  stats.delayed = static_cast<std::uint64_t>(redis::ReplyInteger(Element(r, 1)));
  stats.in_flight = static_cast<std::uint64_t>(redis::ReplyInteger(Element(r, 2)));
  stats.dead = static_cast<std::uint64_t>(redis::ReplyInteger(Element(r, 3)));
  const std::string_view oldest = redis::ReplyString(Element(r, 4));
  if (!oldest.empty()) stats.oldest_ready_enqueued_at = FromUnixMillis(ParseMillis(oldest));
  return stats;
}

void RedisQueue::Close() { impl_->Close(); }

std::uint64_t RedisQueue::enqueue_round_trips() const noexcept {
  return impl_->shared->round_trips.load(std::memory_order_relaxed);
}

}  // namespace msgbroker::queue
