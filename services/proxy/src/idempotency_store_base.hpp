#pragma once
// The asynchronous face shared by the idempotency stores: each store implements blocking calls,
// and one thread of its own runs them in order and calls back, so no I/O thread ever waits on
// SQLite or Redis.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "msgbroker/proxy/idempotency.hpp"

namespace msgbroker::proxy {

class BlockingIdempotencyStore : public IdempotencyStore {
 public:
  ~BlockingIdempotencyStore() override;

  void ClaimAsync(IdempotencyScope scope, std::string fingerprint, std::string token,
                  ClaimCallback done) override;
  void CompleteAsync(IdempotencyScope scope, std::string token, StoredAnswer answer,
                     DoneCallback done) override;
  void ReleaseAsync(IdempotencyScope scope, std::string token, DoneCallback done) override;
  void Close() override;

 protected:
  BlockingIdempotencyStore(IdempotencyOptions options, const Clock& clock);
  // Starts the thread; the last thing a derived constructor (or factory) does.
  void StartThread();
  // Joins the thread; a derived destructor calls it before its members go away.
  void StopThread();

  virtual Result<ClaimResult> Claim(const IdempotencyScope& scope, const std::string& fingerprint,
                                    const std::string& token) = 0;
  virtual Status Complete(const IdempotencyScope& scope, const std::string& token,
                          const StoredAnswer& answer) = 0;
  virtual Status Release(const IdempotencyScope& scope, const std::string& token) = 0;

  std::int64_t NowMs() const;
  std::int64_t LeaseMs() const { return options_.lease.count(); }
  std::int64_t TtlMs() const { return options_.ttl.count(); }

 private:
  void Post(std::function<void()> task, std::function<void()> refused);
  void Run();

  IdempotencyOptions options_;
  const Clock& clock_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool closed_ = false;
  std::thread thread_;
};

}  // namespace msgbroker::proxy
