#include "msgbroker/core/periodic_task.hpp"

#include <gtest/gtest.h>

#include <atomic>

namespace msgbroker {
namespace {

using namespace std::chrono_literals;

TEST(PeriodicTaskTest, RunsEveryIntervalUntilStopped) {
  std::atomic<int> runs{0};
  PeriodicTask task(5ms, [&] { ++runs; });
  task.Start();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (runs.load() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_GE(runs.load(), 3);
  task.Stop();
  const int after_stop = runs.load();
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(runs.load(), after_stop) << "ran after Stop";
}

TEST(PeriodicTaskTest, StopDoesNotWaitForTheNextRun) {
  std::atomic<int> runs{0};
  PeriodicTask task(1h, [&] { ++runs; });
  task.Start();
  const auto t0 = std::chrono::steady_clock::now();
  task.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(runs.load(), 0);
}

}  // namespace
}  // namespace msgbroker
