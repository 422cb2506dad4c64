#pragma once
// The durable queue between proxies and workers. Implementations: EmbeddedQueue (a local
// append-only log with group commit) and, next, a Redis Streams queue. The payload is opaque
// bytes (an encrypted envelope, see msgbroker/crypto/envelope.hpp); the queue never sees
// plaintext.
//
// Semantics (every implementation; tests in libs/queue/tests/queue_contract_test.cpp):
//  * EnqueueAsync: `done(Ok)` only once every message of the call is durable; all or nothing.
//    An id already in the queue (ready, delayed or leased) is skipped: the first copy wins.
//  * Claim: hands out up to `max` ready messages (not_before <= now), oldest first, each leased
//    to `consumer` for `visibility_timeout`; a lease that expires makes the message claimable
//    again (a crashed worker loses nothing). `attempts` counts claims including this one.
//  * Ack: removes the messages for good (after the main server committed them).
//  * Retry: ends the lease; the message becomes claimable again at `not_before`, with the error;
//    with `refund_attempt` its attempt count goes back down by one.
//  * DeadLetter: moves the message, payload kept, to the dead-letter store with its reason.
//  * Dead letters can be listed (oldest death first), replayed (back to ready, attempts reset)
//    or discarded.
//  * Ack/Retry/DeadLetter skip ids that are not in the queue (unknown, already acknowledged or
//    already dead) and still succeed, so a worker that lost its lease can finish harmlessly.
//  * After Close: EnqueueAsync, Claim and the mutating calls fail with kQueueUnavailable.
//  * Times are kept to the millisecond.
// Delivery is at-least-once; the main server makes it exactly-once by message id.

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/result.hpp"

namespace boost::asio {
class io_context;
}

namespace msgbroker::queue {

struct NewMessage {
  MessageId id;
  std::string payload;
};

// The checks every implementation applies to EnqueueAsync's input before storing anything:
// kInvalidRequest for an empty id, kPayloadTooLarge for a payload over `max_payload_bytes`.
Status ValidateNewMessages(std::span<const NewMessage> messages, std::size_t max_payload_bytes);
// What every implementation answers once closed: kQueueUnavailable, "queue is closed".
Error QueueClosedError();

struct ClaimedMessage {
  MessageId id;
  std::string payload;
  std::uint32_t attempts = 0;  // including this claim
  SystemTime enqueued_at{};
  std::string last_error;  // from the previous Retry, if any
};

struct RetryRequest {
  MessageId id;
  SystemTime not_before{};
  std::string error;
  // The attempt never reached its destination (the main server was unreachable): it is given
  // back, so an outage of any length does not use up max_attempts (max_age still applies).
  bool refund_attempt = false;
};

struct DeadLetterRequest {
  MessageId id;
  std::string reason;
};

struct DeadLetter {
  MessageId id;
  std::string payload;
  std::string reason;
  std::uint32_t attempts = 0;
  SystemTime enqueued_at{};
  SystemTime dead_lettered_at{};
};

struct QueueStats {
  std::uint64_t ready = 0;      // claimable now
  std::uint64_t delayed = 0;    // waiting for a retry time
  std::uint64_t in_flight = 0;  // leased to a consumer
  std::uint64_t dead = 0;
  SystemTime oldest_ready_enqueued_at{};  // epoch when there is none
};

class Queue {
 public:
  using EnqueueCallback = std::function<void(Status)>;

  virtual ~Queue() = default;

  // Non-blocking. `done` runs exactly once, possibly on another thread, possibly before
  // EnqueueAsync returns. kQueueUnavailable when the queue cannot take the messages (closed,
  // disk error, or over capacity), with no message of the call stored.
  virtual void EnqueueAsync(std::vector<NewMessage> messages, EnqueueCallback done) = 0;
  // EnqueueAsync for a caller running on `loop` (an HTTP I/O thread's event loop): a queue that
  // can do its I/O there does, and runs `done` on that thread, instead of handing the call to a
  // thread of its own and the completion back (RedisQueue). Called on any other thread, with
  // `loop` null, or on any other queue, it is EnqueueAsync.
  virtual void EnqueueAsyncOn(boost::asio::io_context* loop, std::vector<NewMessage> messages,
                              EnqueueCallback done) {
    (void)loop;
    EnqueueAsync(std::move(messages), std::move(done));
  }

  // Blocks up to `wait` for at least one ready message.
  virtual Result<std::vector<ClaimedMessage>> Claim(std::string_view consumer, std::size_t max,
                                                    std::chrono::milliseconds visibility_timeout,
                                                    std::chrono::milliseconds wait) = 0;
  virtual Status Ack(std::span<const MessageId> ids) = 0;
  virtual Status Retry(std::span<const RetryRequest> retries) = 0;
  virtual Status DeadLetter(std::span<const DeadLetterRequest> dead) = 0;

  virtual Result<std::vector<queue::DeadLetter>> ListDeadLetters(std::size_t offset,
                                                                 std::size_t limit) = 0;
  virtual Status ReplayDeadLetter(const MessageId& id) = 0;   // kNotFound if absent
  virtual Status DiscardDeadLetter(const MessageId& id) = 0;  // kNotFound if absent

  virtual Result<QueueStats> Stats() = 0;

  // Stops accepting work and wakes blocked Claim calls; pending enqueues finish first.
  virtual void Close() = 0;
};

}  // namespace msgbroker::queue
