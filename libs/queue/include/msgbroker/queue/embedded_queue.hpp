#pragma once
// A durable queue in a local directory, for `msgbroker up` and single-host use.
//
// Storage: an append-only log of checksummed records (ENQUEUE, ACK, RETRY, DEAD, REPLAY,
// DISCARD) in `<dir>/queue.log`. State lives in memory and is rebuilt from the log at open; a
// torn or corrupt tail (crash mid-write) is cut off at the last good record. Leases are not
// logged: after a restart every un-acked message is claimable again.
//
// Group commit: one writer thread takes every record queued since its last write, writes them
// with one write() and makes them durable with one fdatasync(), then completes all their
// callbacks. Concurrent enqueues therefore share one fsync.
//
// Compaction: when the log holds more than `compact_min_bytes` and less than a quarter of it is
// live, the live records are rewritten into a new file which atomically replaces the old one.
//
// Details (docs/adr/0005-embedded-queue.md):
//  * An id already in the queue (ready, delayed, in flight or dead) is ignored on enqueue: the
//    call succeeds and the first copy wins. An id acknowledged earlier may be enqueued again.
//  * `attempts` survives a restart as of the last Retry/DeadLetter (and compaction); claims
//    themselves are not logged.
//  * Corruption inside the log (a bad record followed by good ones) is skipped: every good record
//    is kept, the damaged file is kept as `queue.log.corrupt-<unix ms>` and the log rewritten.
//  * Completion callbacks run on the writer thread: they must be quick, must not throw, and must
//    not call the blocking methods (Ack, Retry, DeadLetter, Replay/DiscardDeadLetter).

#include <filesystem>
#include <memory>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/queue/queue.hpp"

namespace msgbroker::queue {

struct EmbeddedQueueOptions {
  std::filesystem::path directory;
  bool fsync = true;                     // false only for benchmarks that say so
  std::size_t max_messages = 1'000'000;  // ready+delayed+in-flight; beyond -> unavailable
  std::size_t max_payload_bytes = 64 * 1024;
  std::uint64_t compact_min_bytes = 64ull << 20;
};

class EmbeddedQueue final : public Queue {
 public:
  // Creates the directory if missing; holds an exclusive lock (flock) on it so two processes
  // cannot open the same queue. Errors name the directory and the reason.
  static Result<std::unique_ptr<EmbeddedQueue>> Open(EmbeddedQueueOptions options,
                                                     const Clock& clock);
  ~EmbeddedQueue() override;

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

  // Number of fdatasync calls so far (tests prove group commit with it).
  std::uint64_t sync_count() const noexcept;

 private:
  struct Impl;
  explicit EmbeddedQueue(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace msgbroker::queue
