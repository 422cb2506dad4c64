#include "idempotency_store_base.hpp"

#include <spdlog/spdlog.h>

namespace msgbroker::proxy {

namespace {

Error Closed() { return Error{ErrorCode::kServiceUnavailable, "the idempotency store is closed"}; }

}  // namespace

BlockingIdempotencyStore::BlockingIdempotencyStore(IdempotencyOptions options, const Clock& clock)
    : options_(options), clock_(clock) {}

BlockingIdempotencyStore::~BlockingIdempotencyStore() { StopThread(); }

void BlockingIdempotencyStore::StartThread() {
  thread_ = std::thread([this] { Run(); });
}

void BlockingIdempotencyStore::StopThread() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BlockingIdempotencyStore::Close() { StopThread(); }

std::int64_t BlockingIdempotencyStore::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

void BlockingIdempotencyStore::Post(std::function<void()> task, std::function<void()> refused) {
  {
    std::lock_guard lock(mutex_);
    if (!closed_) {
      tasks_.push_back(std::move(task));
      wake_.notify_one();
      return;
    }
  }
  refused();
}

void BlockingIdempotencyStore::Run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return closed_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // closed, and everything pending has run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      // A callback must not throw; the store thread survives one that does.
      spdlog::error("event=idempotency_task_failed error=\"{}\"", e.what());
    }
  }
}

void BlockingIdempotencyStore::ClaimAsync(IdempotencyScope scope, std::string fingerprint,
                                          std::string token, ClaimCallback done) {
  auto shared = std::make_shared<ClaimCallback>(std::move(done));
  Post([this, scope = std::move(scope), fingerprint = std::move(fingerprint),
        token = std::move(token), shared] { (*shared)(Claim(scope, fingerprint, token)); },
       [shared] { (*shared)(tl::unexpected(Closed())); });
}

void BlockingIdempotencyStore::CompleteAsync(IdempotencyScope scope, std::string token,
                                             StoredAnswer answer, DoneCallback done) {
  auto shared = std::make_shared<DoneCallback>(std::move(done));
  Post([this, scope = std::move(scope), token = std::move(token), answer = std::move(answer),
        shared] { (*shared)(Complete(scope, token, answer)); },
       [shared] { (*shared)(tl::unexpected(Closed())); });
}

void BlockingIdempotencyStore::ReleaseAsync(IdempotencyScope scope, std::string token,
                                            DoneCallback done) {
  auto shared = std::make_shared<DoneCallback>(std::move(done));
  Post([this, scope = std::move(scope), token = std::move(token),
        shared] { (*shared)(Release(scope, token)); },
       [shared] { (*shared)(tl::unexpected(Closed())); });
}

}  // namespace msgbroker::proxy
