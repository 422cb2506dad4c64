#pragma once
// The Queue on Redis Streams (Redis 7, standalone), for deployments where proxies and workers
// run on several hosts. Semantics are the Queue contract (queue.hpp); design in
// docs/adr/0007-redis-streams-queue.md.
//
//  * Ready and leased messages are entries of the stream `<prefix>stream`, each holding its
//    message, read through the consumer group `workers`; delayed and dead ones live in the hash
//    `<prefix>msg:<id>`. Lease deadlines, retry times and deaths are sorted sets scored by the
//    injected Clock, never by Redis idle times, so tests can drive them with a FakeClock.
//  * Every state change is one Lua script (atomic). EnqueueAsync never waits: a writer thread
//    sends every call pending since its last round trip as one pipeline (consecutive calls share
//    an EVALSHA, each call all or nothing) and runs the callbacks once Redis replied; `writers`
//    threads, each with its own connection, overlap their round trips. Durability is whatever
//    the server's AOF setting gives (appendfsync always for no loss).
//  * Redis unreachable: calls fail with kQueueUnavailable within the connect/command timeouts,
//    and later calls reconnect by themselves.
//  * Completion callbacks run on a writer thread: they must be quick, must not throw, and must
//    not call the blocking methods.

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
  std::size_t max_pipeline = 1024;       // EnqueueAsync calls per round trip
  std::size_t writers = 2;               // threads (and connections) sending enqueues
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

  // Round trips the writer threads made for EnqueueAsync (one per pipelined group of calls).
  std::uint64_t enqueue_round_trips() const noexcept;

 private:
  struct Impl;
  explicit RedisQueue(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace msgbroker::queue
