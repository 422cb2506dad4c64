#include "redis_enqueue_lane.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <deque>
#include <unordered_map>

#include "redis_async_connection.hpp"

namespace msgbroker::queue::redis {
namespace {

namespace asio = boost::asio;

// One batch carries at most this many payload bytes (plus one call beyond it).
constexpr std::size_t kMaxBatchBytes = 8u << 20;
// One run of the enqueue script takes consecutive calls up to this many messages (a larger call
// runs alone), so no single script holds Redis up for long.
constexpr std::size_t kMaxMessagesPerScript = 1000;

}  // namespace

class EnqueueLane : public std::enable_shared_from_this<EnqueueLane> {
 public:
  EnqueueLane(asio::io_context& loop, std::shared_ptr<EnqueueShared> shared)
      : loop_(loop),
        shared_(std::move(shared)),
        connection_(std::make_shared<AsyncConnection>(
            loop, shared_->connection,
            [s = shared_](const Status& status) { s->NoteConnect(status); })) {}

  void Add(EnqueueOp op) {
    pending_.push_back(std::move(op));
    ScheduleFlush();
  }

  // Closes the connection once nothing is pending or in flight (calls added meanwhile are still
  // sent: they were accepted before the queue closed).
  void CloseWhenDrained() {
    closing_ = true;
    if (pending_.empty() && in_flight_ == 0) connection_->Close(QueueClosedError());
  }

  // The loop is going away: everything pending or in flight fails now.
  void Abort() {
    closing_ = true;
    const Error gone{ErrorCode::kQueueUnavailable, "the event loop of the enqueue stopped"};
    std::deque<EnqueueOp> pending;
    pending.swap(pending_);
    for (auto& op : pending) op.done(tl::unexpected(gone));
    connection_->Close(gone);
  }

 private:
  struct Batch {
    std::vector<EnqueueOp> ops;
    std::size_t runs_left = 0;
  };

  void ScheduleFlush() {
    if (flush_scheduled_ || in_flight_ > 0) return;
    flush_scheduled_ = true;
    // Posted, not run now: the calls the loop adds in this turn join the batch.
    asio::post(loop_, [self = shared_from_this()] {
      self->flush_scheduled_ = false;
      self->Flush();
    });
  }

  void Flush() {
    if (pending_.empty() || in_flight_ > 0) return;
    auto batch = std::make_shared<Batch>();
    std::size_t bytes = 0;
    while (!pending_.empty() && batch->ops.size() < shared_->options.max_pipeline &&
           (batch->ops.empty() || bytes + pending_.front().bytes <= kMaxBatchBytes)) {
      bytes += pending_.front().bytes;
      batch->ops.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    // [begin, end) of the batch per script run.
    std::vector<std::pair<std::size_t, std::size_t>> runs;
    for (std::size_t begin = 0; begin < batch->ops.size();) {
      std::size_t end = begin;
      std::size_t messages = 0;
      while (end < batch->ops.size() &&
             (end == begin || messages + batch->ops[end].messages <= kMaxMessagesPerScript)) {
        messages += batch->ops[end++].messages;
      }
      runs.emplace_back(begin, end);
      begin = end;
    }
    batch->runs_left = runs.size();
    ++in_flight_;
    shared_->round_trips.fetch_add(1, std::memory_order_relaxed);
    for (const auto& [begin, end] : runs) SendRun(batch, begin, end, false);
  }

  // EVALSHA, or EVAL when Redis answered that it does not know the script (restart, flush).
  void SendRun(const std::shared_ptr<Batch>& batch, std::size_t begin, std::size_t end, bool eval) {
    std::vector<std::string_view> argv = {eval ? "EVAL" : "EVALSHA",
                                          eval ? shared_->script_body : shared_->script_sha, "0",
                                          shared_->options.key_prefix, shared_->max_messages};
    for (std::size_t i = begin; i < end; ++i) {
      argv.insert(argv.end(), batch->ops[i].args.begin(), batch->ops[i].args.end());
    }
    connection_->Send(argv,
                      [self = shared_from_this(), batch, begin, end, eval](Result<Reply> reply) {
                        if (reply && !eval && IsNoScriptReply(reply->get()))
                          return self->SendRun(batch, begin, end, true);
                        self->Deliver(*batch, begin, end, reply);
                        if (--batch->runs_left == 0) self->BatchDone();
                      });
  }

  // The script's answer for ops [begin, end): one integer per call, -1 when it would have
  // exceeded max_messages (nothing of that call was added).
  void Deliver(Batch& batch, std::size_t begin, std::size_t end, const Result<Reply>& reply) {
    for (std::size_t i = begin; i < end; ++i) {
      Status status = Ok();
      if (!reply) {
        // This run may or may not have been applied. Reporting it failed is safe: a retried id
        // already in the queue is skipped.
        status = tl::unexpected(reply.error());
      } else if (const redisReply* r = reply->get(); IsErrorReply(r)) {
        status = Fail(ErrorCode::kQueueUnavailable,
                      connection_->where() + ": enqueue: " + std::string(ReplyString(r)));
      } else if (r->type != REDIS_REPLY_ARRAY || i - begin >= r->elements) {
        status = Fail(ErrorCode::kQueueUnavailable,
                      connection_->where() + ": enqueue: unexpected reply from the script");
      } else if (ReplyInteger(r->element[i - begin]) < 0) {
        status = Fail(ErrorCode::kQueueUnavailable,
                      "queue is full (max_messages " + shared_->max_messages + ")");
      }
      batch.ops[i].done(std::move(status));
    }
  }

  void BatchDone() {
    --in_flight_;
    if (!pending_.empty()) return ScheduleFlush();
    if (closing_) connection_->Close(QueueClosedError());
  }

  asio::io_context& loop_;
  const std::shared_ptr<EnqueueShared> shared_;
  const std::shared_ptr<AsyncConnection> connection_;
  std::deque<EnqueueOp> pending_;
  std::size_t in_flight_ = 0;  // batches sent and not fully answered
  bool flush_scheduled_ = false;
  bool closing_ = false;
};

namespace {

// The lanes on one io_context, one per queue, destroyed with it.
class LaneService : public asio::execution_context::service {
 public:
  using key_type = LaneService;
  static inline asio::execution_context::id id;  // NOLINT: the name Asio looks for

  explicit LaneService(asio::io_context& loop) : service(loop), loop_(loop) {}

  EnqueueLane& LaneFor(const std::shared_ptr<EnqueueShared>& shared) {
    auto& lane = lanes_[shared.get()];
    if (!lane) {
      lane = std::make_shared<EnqueueLane>(loop_, shared);
      std::lock_guard lock(shared->lanes_mu);
      shared->lanes.emplace_back(&loop_, lane);
      // Created by a call posted before Close: it is sent, then the lane closes.
      if (shared->closed.load()) lane->CloseWhenDrained();
    }
    return *lane;
  }

 private:
  void shutdown() override {
    auto lanes = std::move(lanes_);
    for (auto& [shared, lane] : lanes) {
      {
        std::lock_guard lock(shared->lanes_mu);
        std::erase_if(shared->lanes, [&](const auto& entry) { return entry.first == &loop_; });
      }
      lane->Abort();
    }
  }

  asio::io_context& loop_;
  std::unordered_map<EnqueueShared*, std::shared_ptr<EnqueueLane>> lanes_;
};

}  // namespace

EnqueueShared::EnqueueShared(RedisQueueOptions queue_options, ConnectionOptions connection_options,
                             std::string body, std::string sha)
    : options(std::move(queue_options)),
      connection(std::move(connection_options)),
      script_body(std::move(body)),
      script_sha(std::move(sha)),
      max_messages(std::to_string(options.max_messages)) {}

void EnqueueShared::NoteConnect(const Status& status) {
  if (status) {
    if (!healthy.exchange(true)) {
      spdlog::info("event=queue_redis_reconnected server={}:{}", options.host, options.port);
    }
  } else if (healthy.exchange(false)) {
    spdlog::warn("event=queue_redis_unavailable server={}:{} error=\"{}\"", options.host,
                 options.port, status.error().message);
  }
}

void EnqueueShared::CloseLanes() {
  std::lock_guard lock(lanes_mu);
  // Under the lock: a loop being destroyed removes its lanes under it first, so every loop
  // named here still exists.
  for (auto& [loop, weak] : lanes) {
    asio::post(*loop, [weak] {
      if (auto lane = weak.lock()) lane->CloseWhenDrained();
    });
  }
}

void EnqueueOnLoop(asio::io_context& loop, const std::shared_ptr<EnqueueShared>& shared,
                   EnqueueOp op) {
  asio::use_service<LaneService>(loop).LaneFor(shared).Add(std::move(op));
}

}  // namespace msgbroker::queue::redis
