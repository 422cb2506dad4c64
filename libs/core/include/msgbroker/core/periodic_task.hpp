#pragma once
// Runs a task on a thread of its own every `interval` until Stop(), which does not wait for the
// next run (only for a run in progress). Background probes use it, so that whatever a health
// check or a gauge needs from a slow or unreachable backend is never fetched on an I/O thread.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace msgbroker {

class PeriodicTask {
 public:
  PeriodicTask(std::chrono::milliseconds interval, std::function<void()> task);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // Starts the thread; the first run comes one interval after Start (run the task yourself
  // first when a result must be there at once).
  void Start();
  void Stop();

 private:
  const std::chrono::milliseconds interval_;
  std::function<void()> task_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace msgbroker
