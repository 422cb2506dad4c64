#pragma once
// The Queue on Redis Streams (Redis 7, standalone), for deployments where proxies and workers
// run on several hosts. Semantics are the Queue contract (queue.hpp); design in
// docs/adr/0007-redis-streams-queue.md.
//
//  * Ready and leased messages are entries of the stream `<prefix>stream`, each holding its
//    message, read through the consumer group `workers`; delayed and dead ones live in the hash
//    `<prefix>msg:<id>`. Lease deadlines, retry times and deaths are sorted sets scored by the
//    injected Clock, never by Redis idle times, so tests can drive them with a FakeClock.
//  * Every state change is one Lua script (atomic). Enqueues never wait and never block an event
//    loop: they are sent by a "lane" on an Asio event loop, with its own non-blocking pipelined
//    connection (src/redis_enqueue_lane.hpp). A call made with EnqueueAsyncOn on the thread of
//    its `loop` (an HTTP I/O thread) uses that loop's lane, and its callback runs right there;
//    any other call goes to one of `writers` event-loop threads of the queue's own. A lane sends
//    the calls that arrived while its previous round trip was out as one pipeline (consecutive
//    calls share an EVALSHA, each call all or nothing). Durability is whatever the server's AOF
//    setting gives (appendfsync always for no loss).
//  * Redis unreachable: calls fail with kQueueUnavailable within the connect/command timeouts,
//    and later calls reconnect by themselves.
//  * Completion callbacks run on the caller's loop or on one of the queue's own threads: they
//    must be quick, must not throw, and must not call the blocking methods.
//  * Close waits for the enqueues on the queue's own threads; those on a caller's loop finish
//    there (so stop what enqueues first, as the services do), or fail when that loop's
//    io_context is destroyed.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/queue/queue.hpp"

namespace msgbroker::queue {

struct RedisQueueOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // AUTH when not empty
  int db = 0;
  std::string key_prefix = "msgbroker:";  // every key the queue uses starts with it
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  std::size_t max_pipeline = 1024;  // EnqueueAsync calls per round trip
  // Event-loop threads (each with its own connection) for enqueues from callers that are not on
  // an event loop of their own.
  std::size_t writers = 2;
  std::size_t max_messages = 1'000'000;  // ready+delayed+in-flight; beyond -> unavailable
  std::size_t max_payload_bytes = 64 * 1024;
};

class RedisQueue final : public Queue {
 public:
  // Connects (AUTH, SELECT), creates the consumer group if missing and loads the scripts.
  // kQueueUnavailable naming the server and the reason when any of it fails.
  static Result<std::unique_ptr<RedisQueue>> Open(RedisQueueOptions options, const Clock& clock);
  ~RedisQueue() override;

  void EnqueueAsync(std::vector<NewMessage> messages, EnqueueCallback done) override;
  void EnqueueAsyncOn(boost::asio::io_context* loop, std::vector<NewMessage> messages,
                      EnqueueCallback done) override;
  Result<std::vector<ClaimedMessage>> Claim(std::string_view consumer, std::size_t max,
                                            std::chrono::milliseconds visibility_timeout,
                                            std::chrono::milliseconds wait) override;
  Status Ack(std::span<const MessageId> ids) override;
  Status Retry(std::span<const RetryRequest> retries) override;
  Status DeadLetter(std::span<const DeadLetterRequest> dead) override;
  Result<std::vector<queue::DeadLetter>> ListDeadLetters(std::size_t offset,
                                                         std::size_t limit) override;
  Status ReplayDeadLetter(const MessageId& id) override;
  Status DiscardDeadLetter(const MessageId& id) override;
  Result<QueueStats> Stats() override;
  void Close() override;

  // Round trips made for enqueues, on every lane (one per pipelined batch of calls).
  std::uint64_t enqueue_round_trips() const noexcept;

 private:
  struct Impl;
  explicit RedisQueue(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace msgbroker::queue
