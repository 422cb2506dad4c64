#pragma once
// Time is injected so tests can control it.

#include <atomic>
#include <chrono>

namespace msgbroker {

using SystemTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SystemTime Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
  static const SystemClock& Instance() {
    static const SystemClock clock;
    return clock;
  }
};

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime start = SystemTime{std::chrono::seconds{1'700'000'000}})
      : now_(start.time_since_epoch().count()) {}
  SystemTime Now() const override { return SystemTime{SystemTime::duration{now_.load()}}; }
  void Advance(std::chrono::nanoseconds d) {
    now_ += std::chrono::duration_cast<SystemTime::duration>(d).count();
  }
  void Set(SystemTime t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<SystemTime::rep> now_;
};

}  // namespace msgbroker
