// Faults under load, on the separate-process deployment (deployment.hpp): the main server stopped
// for 30 s, Redis restarted, PostgreSQL restarted, and a proxy started while Redis is down. Client
// threads keep sending throughout, paced and bounded in count and time; each test ends with the
// promise of the 202: every message answered 202 is stored exactly once, or dead-lettered with a
// reason. The servers these tests stop have fixtures of their own (redis_restart, redis_late,
// postgres_restart in tests/CMakeLists.txt), restarted through the fixture script's `down` and
// `up`, which keep port, password and data.

#include <gtest/gtest.h>

#include <iostream>
#include <thread>

#include "deployment.hpp"
#include "msgbroker/testing/test_servers.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Long enough for the traffic below to span any fault, short enough to bound the test.
constexpr auto kFlowTimeout = 60s;

// `down` or `up` of a test server through the script that started it (tests/servers/*.sh).
::testing::AssertionResult Server(const std::string& server, const std::string& command) {
  auto script = TestServerSetting(server, "SERVER_SCRIPT");
  if (!script) return ::testing::AssertionFailure() << script.error().message;
  auto dir = TestServerSetting(server, "SERVER_DIR");
  if (!dir) return ::testing::AssertionFailure() << dir.error().message;
  auto [code, out] = RunShell("bash '" + *script + "' " + command + " '" + *dir + "'");
  if (code != 0) {
    return ::testing::AssertionFailure()
           << server << " " << command << " exited " << code << ": " << out;
  }
  return ::testing::AssertionSuccess();
}

// A steady stream for the length of a fault: each thread sends about 20 messages a second.
// A short burst: `per_thread` messages from each of `senders` threads per proxy, stopping after
// `max_failures` refused sends.
TrafficOptions Burst(std::string tag, int senders, int per_thread, int max_failures = 20) {
  TrafficOptions options;
  options.tag = std::move(tag);
  options.senders_per_proxy = senders;
  options.per_thread = per_thread;
  options.max_failures = max_failures;
  return options;
}

TrafficOptions Steady(std::string tag) {
  TrafficOptions options;
  options.tag = std::move(tag);
  options.senders_per_proxy = 2;
  options.per_thread = 3000;
  options.pause = 50ms;
  options.max_duration = 150s;
  return options;
}

DeploymentOptions FaultDeployment() {
  DeploymentOptions options;
  options.workers = 2;
  options.batch_size = 20;
  // An outage must not dead-letter anything here, even where its failed deliveries count as
  // attempts (with backoff_max 1s, a minute's outage stays far below).
  options.max_attempts = 1000;
  return options;
}

double Sum(const Deployment& deployment, std::size_t workers,
           double Deployment::WorkerState::*field) {
  double sum = 0;
  for (std::size_t w = 0; w < workers; ++w) {
    if (auto state = deployment.Worker(w)) sum += (*state).*field;
  }
  return sum;
}

// The fault comes once messages flow end to end: accepted by the proxies and stored by workers.
bool Flowing(const Deployment& deployment, const Traffic& traffic, std::size_t workers) {
  return WaitFor(
      [&] {
        return traffic.count() >= 100 &&
               Sum(deployment, workers, &Deployment::WorkerState::processed) > 0;
      },
      kFlowTimeout);
}

std::string Kinds(const std::map<std::string, int>& kinds) {
  std::string out;
  for (const auto& [kind, n] : kinds) {
    out += (out.empty() ? "" : ", ") + kind + " x" + std::to_string(n);
  }
  return out.empty() ? "none" : out;
}

TEST(FaultTest, MainServerStoppedFor30sWorkersBackOffAndResume) {
  const auto options = FaultDeployment();
  Deployment deployment(options);
  ASSERT_TRUE(deployment.Start());
  Traffic traffic(deployment, Steady("main-down"));
  const auto workers = static_cast<std::size_t>(options.workers);
  ASSERT_TRUE(Flowing(deployment, traffic, workers)) << "accepted " << traffic.count() << "\n"
                                                     << deployment.Outputs();

  const double failures_before = Sum(deployment, workers, &Deployment::WorkerState::failures);
  ASSERT_TRUE(deployment.StopMainServer());
  const auto stopped = Clock::now();
  const int accepted_at_stop = traffic.count();
  // The workers notice (their deliveries fail) while the proxies keep accepting.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Sum(deployment, workers, &Deployment::WorkerState::failures) > failures_before &&
               traffic.count() >= accepted_at_stop + 100;
      },
      25s))
      << "accepted " << traffic.count() - accepted_at_stop << " since the stop\n"
      << deployment.Outputs();
  // The outage itself: it lasts 30 s, whatever the workers do meanwhile.
  std::this_thread::sleep_until(stopped + 30s);
  const double failed_batches =
      Sum(deployment, workers, &Deployment::WorkerState::failures) - failures_before;
  const int accepted_in_outage = traffic.count() - accepted_at_stop;

  ASSERT_TRUE(deployment.StartMainServer());
  const auto restarted = Clock::now();
  const double processed_at_restart = Sum(deployment, workers, &Deployment::WorkerState::processed);
  const int accepted_at_restart = traffic.count();
  EXPECT_TRUE(WaitFor(
      [&] {
        return traffic.count() >= accepted_at_restart + 100 &&
               Sum(deployment, workers, &Deployment::WorkerState::processed) >
                   processed_at_restart + accepted_in_outage;
      },
      kFlowTimeout))
      << "the workers did not resume\n"
      << deployment.Outputs();
  traffic.Stop();
  traffic.Join();
  EXPECT_EQ(traffic.failures(), 0) << Kinds(traffic.failure_kinds());

  // Backing off: after each failed delivery a worker thread pauses, at least half of backoff_max
  // (1 s) once past the first few, so each of the threads fails some 60 times in 30 s at most, not
  // thousands of times against a refused connection.
  const double threads = 2.0 * options.workers;
  EXPECT_LE(failed_batches, threads * 70);

  ExpectAnsweredStoredOnceOrDeadLettered(deployment, traffic.accepted());
  deployment.StopAll();
  std::cout << "main server down " << Millis(restarted - stopped) << " ms: " << failed_batches
            << " failed batches, " << accepted_in_outage << " accepted meanwhile" << std::endl;
}

TEST(FaultTest, RedisRestartProxiesAnswer503ThenAcceptAgain) {
  auto options = FaultDeployment();
  options.redis_server = "redis_restart";
  Deployment deployment(options);
  ASSERT_TRUE(deployment.Start());
  auto steady = Steady("redis-restart");
  steady.max_failures = 100'000;  // the outage fails sends; count and time still bound the run
  Traffic traffic(deployment, steady);
  ASSERT_TRUE(WaitFor([&] { return traffic.count() >= 100; }, kFlowTimeout))
      << "accepted " << traffic.count() << "\n"
      << deployment.Outputs();

  ASSERT_TRUE(Server("redis_restart", "down"));
  const auto stopped = Clock::now();
  // Every sender sees the outage a few times: 503 with Retry-After and QUEUE_UNAVAILABLE.
  EXPECT_TRUE(WaitFor([&] { return traffic.queue_unavailable() >= 20; }, 30s))
      << Kinds(traffic.failure_kinds()) << "\n"
      << deployment.Outputs();
  // An outage of 3 s at least, so the workers' claims fail too (each waits up to 0.5 s for work).
  std::this_thread::sleep_until(stopped + 3s);
  ASSERT_TRUE(Server("redis_restart", "up"));
  const auto restarted = Clock::now();
  const int accepted_at_restart = traffic.count();
  EXPECT_TRUE(WaitFor([&] { return traffic.count() >= accepted_at_restart + 200; }, kFlowTimeout))
      << "the proxies did not accept again: " << Kinds(traffic.failure_kinds()) << "\n"
      << deployment.Outputs();
  const auto accepting = Clock::now();
  traffic.Stop();
  traffic.Join();
  const auto kinds = traffic.failure_kinds();
  EXPECT_GE(traffic.queue_unavailable(), 1) << Kinds(kinds);
  // What else a sender may see in the outage: a connection the proxy dropped. Any other answer
  // (a 500, a 503 without Retry-After) is a bug.
  for (const auto& [kind, n] : kinds) {
    EXPECT_TRUE(kind == "503 QUEUE_UNAVAILABLE with Retry-After" ||
                kind.rfind("transport:", 0) == 0)
        << kind << " x" << n;
  }

  ExpectAnsweredStoredOnceOrDeadLettered(deployment, traffic.accepted());
  deployment.StopAll();
  std::cout << "redis down " << Millis(restarted - stopped) << " ms; accepting again "
            << Millis(accepting - restarted)
            << " ms after the restart (200 more); failures: " << Kinds(kinds) << std::endl;
}

TEST(FaultTest, PostgresRestartMainServerFailsMeanwhileWorkersRetry) {
  auto options = FaultDeployment();
  options.database = DatabaseKind::kPostgres;
  options.database_server = "postgres_restart";
  Deployment deployment(options);
  ASSERT_TRUE(deployment.Start());
  Traffic traffic(deployment, Steady("postgres-restart"));
  const auto workers = static_cast<std::size_t>(options.workers);
  ASSERT_TRUE(Flowing(deployment, traffic, workers)) << "accepted " << traffic.count() << "\n"
                                                     << deployment.Outputs();

  const double failures_before = Sum(deployment, workers, &Deployment::WorkerState::failures);
  ASSERT_TRUE(Server("postgres_restart", "down"));
  const auto stopped = Clock::now();
  // The main server cannot store, so deliveries fail; the proxies keep accepting (their client
  // registry is a snapshot in memory).
  EXPECT_TRUE(WaitFor(
      [&] {
        return Sum(deployment, workers, &Deployment::WorkerState::failures) > failures_before;
      },
      30s))
      << deployment.Outputs();
  // An outage of 10 s in all, spanning several registry refreshes (every 2 s) and retries.
  std::this_thread::sleep_until(stopped + 10s);
  ASSERT_TRUE(Server("postgres_restart", "up"));
  const auto restarted = Clock::now();
  const double processed_at_restart = Sum(deployment, workers, &Deployment::WorkerState::processed);
  const int accepted_at_restart = traffic.count();
  EXPECT_TRUE(WaitFor(
      [&] {
        return traffic.count() >= accepted_at_restart + 100 &&
               Sum(deployment, workers, &Deployment::WorkerState::processed) >
                   processed_at_restart + 100;
      },
      kFlowTimeout))
      << "no deliveries after the restart\n"
      << deployment.Outputs();
  traffic.Stop();
  traffic.Join();
  EXPECT_EQ(traffic.failures(), 0) << Kinds(traffic.failure_kinds());

  ExpectAnsweredStoredOnceOrDeadLettered(deployment, traffic.accepted());
  const double failed_batches =
      Sum(deployment, workers, &Deployment::WorkerState::failures) - failures_before;
  deployment.StopAll();
  std::cout << "postgres down " << Millis(restarted - stopped) << " ms; " << failed_batches
            << " failed batches" << std::endl;
}

// Needs the proxy to start without Redis (RedisQueue::Open no longer failing when Redis is down,
// and the proxy's queue monitor): the readiness and the 503s come from there.
// queue.max_messages reaches a separate proxy's Redis queue: with room for 5 and no worker
// draining it, 5 messages are accepted and the rest answered 503 QUEUE_UNAVAILABLE, nothing of
// them stored; once workers drain the queue, what was accepted is stored once and sending works
// again.
TEST(FaultTest, FullQueueIs503AndWorksAgainOnceDrained) {
  auto options = FaultDeployment();
  options.proxies = 1;
  options.queue_max_messages = 5;
  Deployment deployment(options);
  ASSERT_TRUE(deployment.Prepare());
  ASSERT_TRUE(deployment.StartMainServer());
  ASSERT_TRUE(deployment.StartProxies());
  Traffic full(deployment, Burst("fill", 1, 8, 100));
  full.Join();
  EXPECT_EQ(full.count(), 5);
  EXPECT_EQ(full.queue_unavailable(), 3) << Kinds(full.failure_kinds());

  ASSERT_TRUE(deployment.StartWorkers());
  ExpectAnsweredStoredOnceOrDeadLettered(deployment, full.accepted());
  auto stored = deployment.StoredIds();
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->ids.size(), 5u) << "a refused message was stored";
  Traffic drained(deployment, Burst("again", 1, 5));
  drained.Join();
  EXPECT_EQ(drained.failures(), 0) << Kinds(drained.failure_kinds());
  ExpectAnsweredStoredOnceOrDeadLettered(deployment, drained.accepted());
  deployment.StopAll();
}

TEST(FaultTest, ProxyStartsWhileRedisIsDownAndRecoversWithoutRestart) {
  auto options = FaultDeployment();
  options.redis_server = "redis_late";
  Deployment deployment(options);
  ASSERT_TRUE(deployment.Prepare());
  ASSERT_TRUE(Server("redis_late", "down"));
  ASSERT_TRUE(deployment.StartMainServer());
  ASSERT_TRUE(deployment.StartProxies());

  for (std::size_t p = 0; p < deployment.proxy_ports().size(); ++p) {
    EXPECT_EQ(deployment.ProxyReadiness(p), 503) << "proxy " << p + 1;
  }
  {
    Traffic traffic(deployment, Burst("refused", 1, 3, 100));
    traffic.Join();
    EXPECT_EQ(traffic.count(), 0);
    EXPECT_EQ(traffic.queue_unavailable(), 3 * options.proxies) << Kinds(traffic.failure_kinds());
  }

  ASSERT_TRUE(Server("redis_late", "up"));
  const auto up = Clock::now();
  EXPECT_TRUE(WaitFor(
      [&] {
        for (std::size_t p = 0; p < deployment.proxy_ports().size(); ++p) {
          if (deployment.ProxyReadiness(p) != 200) return false;
        }
        return true;
      },
      30s))
      << deployment.Outputs();
  const auto ready = Clock::now();
  ASSERT_TRUE(deployment.StartWorkers());
  Traffic traffic(deployment, Burst("accepted", 2, 50));
  traffic.Join();
  EXPECT_EQ(traffic.failures(), 0) << Kinds(traffic.failure_kinds());
  EXPECT_EQ(traffic.count(), 50 * 2 * options.proxies);

  ExpectAnsweredStoredOnceOrDeadLettered(deployment, traffic.accepted());
  deployment.StopAll();
  std::cout << "proxies ready " << Millis(ready - up) << " ms after Redis came up" << std::endl;
}

}  // namespace
}  // namespace msgbroker::testing
