#pragma once
// The separate-process deployment for the integration tests: `msgbroker main-server`, `msgbroker
// proxy` and `msgbroker worker` processes, each the real binary with its own YAML file, sharing a
// Redis queue (a `redis` test-server fixture) and one database (SQLite, or PostgreSQL or MariaDB
// from their fixtures). Every run is isolated from other tests on the same servers: its own Redis
// key prefix, and its own SQLite file, PostgreSQL schema or MariaDB database. Client threads
// (Traffic) send to the proxies; the checks at the end read the main server's admin API and the
// queue's dead letters in Redis.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "msgbroker/cli/data_dir.hpp"
#include "msgbroker/net/https_client.hpp"
#include "stored_messages.hpp"
#include "test_support.hpp"

namespace msgbroker::testing {

// The last `n` characters of a process's output, for failure messages.
std::string Tail(const std::string& text, std::size_t n = 4000);

long long Millis(std::chrono::steady_clock::duration d);

// One service process. While the deployment runs, a pump thread keeps reading its output, so a
// process that logs a lot never blocks on a full pipe; every access goes through the mutex.
class Service {
 public:
  Service(std::string name, std::string command, const std::filesystem::path& config);

  const std::string& name() const { return name_; }
  pid_t pid() const { return process_.pid(); }

  // The number N of the "<needle>N" start line, or 0 when the line did not come in time.
  int WaitStarted(const std::string& needle, std::chrono::milliseconds timeout);
  // Reads whatever output is there, waiting at most `timeout` for some.
  void Pump(std::chrono::milliseconds timeout);
  void Signal(int signal);
  // The exit code (128+signal when killed), or nullopt when it is still running after `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool exited();
  std::string Output();

 private:
  std::string name_;
  std::mutex mutex_;
  ChildProcess process_;
  bool exited_ = false;
};

enum class DatabaseKind { kSqlite, kPostgres, kMariadb };
// "sqlite", "postgres", "mariadb": also the name of the server fixture of the last two.
std::string_view DatabaseKindName(DatabaseKind kind);
// GoogleTest prints a test parameter with this.
void PrintTo(DatabaseKind kind, std::ostream* out);
// The three databases as test parameters, named by DatabaseKindName:
//   INSTANTIATE_TEST_SUITE_P(Databases, SomeTest, AllDatabases(), DatabaseTestName);
inline auto AllDatabases() {
  return ::testing::Values(DatabaseKind::kSqlite, DatabaseKind::kPostgres, DatabaseKind::kMariadb);
}
std::string DatabaseTestName(const ::testing::TestParamInfo<DatabaseKind>& info);

struct DeploymentOptions {
  DatabaseKind database = DatabaseKind::kSqlite;
  // The test-server fixtures (msgbroker_test_server) of the queue and of a PostgreSQL or MariaDB
  // database; an empty database_server means the shared one, DatabaseKindName(database).
  std::string redis_server = "redis";
  std::string database_server;
  int proxies = 2;
  int workers = 3;
  int batch_size = 50;      // messages a worker thread claims at once (each worker runs two)
  int max_attempts = 100;   // high, and with backoff_max 1s: an outage must not dead-letter
  std::string proxy_extra;  // YAML lines added to every proxy's section (two-space indent)
  std::size_t queue_max_messages = 0;  // queue.max_messages of every service; 0: the default
};

class Deployment {
 public:
  explicit Deployment(DeploymentOptions options = {});
  Deployment(const Deployment&) = delete;
  Deployment& operator=(const Deployment&) = delete;
  ~Deployment();  // the ChildProcess destructors SIGKILL whatever still runs

  // The data directory, the run's database (migrated, with the demo client registered) and the
  // configuration files; then the main server, the proxies and the workers, each waited for.
  ::testing::AssertionResult Start();
  // Start() in steps, for tests that start services at other times.
  ::testing::AssertionResult Prepare();
  // Starts the main server: on a free port the first time, on the same port again later.
  ::testing::AssertionResult StartMainServer();
  ::testing::AssertionResult StartProxies();
  ::testing::AssertionResult StartWorkers();
  // SIGTERM to the main server, which must exit 0 within 30 s.
  ::testing::AssertionResult StopMainServer();

  // SIGTERM: workers, then proxies, then the main server (those still running); each must exit 0
  // within 30 s.
  void StopAll();
  // SIGKILL, and waits for the exit.
  void Kill(Service& service);

  net::TlsClientConfig Demo() const;
  net::TlsClientConfig Admin() const;

  // Every stored message id, paging through the main server's admin API; nullopt on an error.
  std::optional<Stored> StoredIds() const;

  struct WorkerState {
    double processed = 0;  // messages it delivered and acknowledged
    double in_hand = 0;    // batches claimed and not yet settled
    double failures = 0;   // batches whose delivery failed (worker_batch_failures_total)
  };
  std::optional<WorkerState> Worker(std::size_t worker) const;
  std::optional<double> Processed(std::size_t worker) const;
  // Delivery items the main server answered "duplicate" (already stored): redeliveries.
  double Duplicates() const;

  // The queue's leases in Redis: message id -> lease deadline (empty when redis-cli failed).
  std::map<std::string, std::string> Leases() const;
  // The queue's dead letters in Redis: message id -> reason; nullopt when redis-cli failed.
  std::optional<std::map<std::string, std::string>> DeadLetters() const;

  // The proxies' shared rate limit buckets in Redis (docs/adr/0011): the keys under the run's
  // prefix, one a line; nullopt when redis-cli failed.
  std::optional<std::string> RateLimitKeys() const;

  // The HTTP status of GET /readyz on proxy `i`, or 0 when it did not answer.
  int ProxyReadiness(std::size_t i) const;

  std::string Outputs();

  const std::vector<int>& proxy_ports() const { return proxy_ports_; }
  int main_server_port() const { return main_port_; }
  const cli::DataDirLayout& layout() const { return layout_; }
  Service& worker(std::size_t i) { return *workers_[i]; }

 private:
  ::testing::AssertionResult CreateDatabase();
  std::string Tls(pki::ServiceRole role) const;
  std::string Queue() const;
  std::string DatabaseSection(const std::string& extra) const;
  std::vector<std::shared_ptr<Service>> All() const;
  std::shared_ptr<Service> Main() const;
  std::optional<std::string> RedisCli(const std::string& args) const;
  void StopPump();

  DeploymentOptions options_;
  TempDir tmp_{"msgbroker-mp"};
  cli::DataDirLayout layout_;
  std::string prefix_;
  std::string redis_port_;
  std::string redis_password_;
  // The run's own PostgreSQL schema or MariaDB database, dropped by the destructor; "" for SQLite.
  std::string scratch_;
  std::string drop_scratch_;  // the shell command that drops it
  int main_port_ = 0;
  std::vector<int> proxy_ports_;
  std::vector<int> worker_ports_;

  mutable std::mutex services_mutex_;  // guards the three below (the pump thread reads them)
  std::shared_ptr<Service> main_;
  std::vector<std::shared_ptr<Service>> proxies_;
  std::vector<std::shared_ptr<Service>> workers_;

  std::atomic<bool> stop_pump_{false};
  std::thread pump_;
};

struct TrafficOptions {
  std::string tag;
  int senders_per_proxy = 3;
  int per_thread = 150;                    // the most messages one thread sends
  std::chrono::milliseconds pause{0};      // between one thread's sends: paces a long run
  std::chrono::seconds max_duration{180};  // a thread stops sending after this long
  int max_failures = 20;                   // all threads stop after this many failed sends
};

// Client threads sending single messages to every proxy at once, each over its own connection.
class Traffic {
 public:
  Traffic(const Deployment& deployment, TrafficOptions options);
  ~Traffic();

  void Stop() { stop_ = true; }
  void Join();
  int count() const { return count_.load(); }  // answered 202
  std::set<std::string> accepted();
  int failures();
  std::string first_failure();
  // 503 answers with a Retry-After header and the error code QUEUE_UNAVAILABLE.
  int queue_unavailable();
  // Every failed send, by kind ("503 QUEUE_UNAVAILABLE", "transport: ...").
  std::map<std::string, int> failure_kinds();

 private:
  void Send(const Deployment& deployment, std::size_t proxy, int thread);

  TrafficOptions options_;
  std::mutex mutex_;
  std::set<std::string> accepted_;
  std::atomic<int> count_{0};
  int failures_ = 0;
  int queue_unavailable_ = 0;
  std::map<std::string, int> failure_kinds_;
  std::string first_failure_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// Waits until every accepted id is stored; then checks that each is stored exactly once, and (with
// `exact`) that nothing else was stored.
void ExpectStoredExactlyOnce(Deployment& deployment, const std::set<std::string>& accepted,
                             Stored& stored, bool exact = true);

// The end of every fault test: waits until every accepted id is stored or dead-lettered, then
// checks that none is stored twice, that every dead letter (and every row stored as not
// delivered) has a reason, and that no message is both stored as delivered and dead. Messages
// stored that no client saw a 202 for are allowed (a proxy that lost Redis's answer says 503
// although the message is queued: the client retries, at least once) and reported.
void ExpectAnsweredStoredOnceOrDeadLettered(Deployment& deployment,
                                            const std::set<std::string>& accepted);

}  // namespace msgbroker::testing
