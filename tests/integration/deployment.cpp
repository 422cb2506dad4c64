#include "deployment.hpp"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/storage/database.hpp"
#include "msgbroker/testing/test_servers.hpp"

namespace msgbroker::testing {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kStartTimeout = 60s;
constexpr auto kStopTimeout = 30s;
constexpr auto kStoreTimeout = 120s;

void WriteFile(const fs::path& path, const std::string& content, bool secret = false) {
  std::ofstream(path) << content;
  if (secret) fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

std::string RandomHex(int n) {
  static const char kHex[] = "0123456789abcdef";
  std::random_device random;
  std::string out;
  for (int i = 0; i < n; ++i) out += kHex[random() % 16];
  return out;
}

std::optional<double> Metric(const std::string& text, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + pattern + R"( ([0-9.eE+-]+))"))) {
    return std::nullopt;
  }
  return std::stod(m[1].str());
}

// The value of an unlabelled sample, found without a regex (quick: it decides when to freeze).
std::optional<double> Sample(const std::string& text, const std::string& name) {
  for (const std::string& prefix : {"\n" + name + " ", "\n" + name + "{} "}) {
    const auto at = text.find(prefix);
    if (at != std::string::npos) return std::strtod(text.c_str() + at + prefix.size(), nullptr);
  }
  return std::nullopt;
}

::testing::AssertionResult Failed(const Error& error) {
  return ::testing::AssertionFailure() << error.message;
}

}  // namespace

std::string Tail(const std::string& text, std::size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

long long Millis(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

Service::Service(std::string name, std::string command, const fs::path& config)
    : name_(std::move(name)),
      process_(MsgbrokerBinary(), {std::move(command), "--config", config.string()}) {}

int Service::WaitStarted(const std::string& needle, std::chrono::milliseconds timeout) {
  // In slices, so the pump thread keeps reading the other services meanwhile.
  const auto deadline = Clock::now() + timeout;
  std::optional<std::string> out;
  while (!out && Clock::now() < deadline) {
    std::lock_guard lock(mutex_);
    out = process_.WaitForOutput(needle, 50ms);
    if (!out && process_.Wait(0ms)) {
      exited_ = true;
      return 0;
    }
  }
  if (!out) return 0;
  std::smatch m;
  if (!std::regex_search(*out, m, std::regex(needle + R"((\d+))"))) return 0;
  return std::stoi(m[1].str());
}

void Service::Pump(std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  if (!exited_) process_.WaitForOutput("\x01never\x01", timeout);
}

void Service::Signal(int signal) {
  std::lock_guard lock(mutex_);
  process_.Signal(signal);
}

std::optional<int> Service::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (auto code = process_.Wait(50ms)) {
        exited_ = true;
        return code;
      }
    }
    if (Clock::now() >= deadline) return std::nullopt;
  }
}

bool Service::exited() {
  std::lock_guard lock(mutex_);
  return exited_;
}

std::string Service::Output() {
  std::lock_guard lock(mutex_);
  return process_.output();
}

std::string_view DatabaseKindName(DatabaseKind kind) {
  switch (kind) {
    case DatabaseKind::kSqlite:
      return "sqlite";
    case DatabaseKind::kPostgres:
      return "postgres";
    case DatabaseKind::kMariadb:
      return "mariadb";
  }
  return "unknown";
}

void PrintTo(DatabaseKind kind, std::ostream* out) { *out << DatabaseKindName(kind); }

std::string DatabaseTestName(const ::testing::TestParamInfo<DatabaseKind>& info) {
  return std::string(DatabaseKindName(info.param));
}

Deployment::Deployment(DeploymentOptions options) : options_(std::move(options)) {
  if (options_.database_server.empty()) {
    options_.database_server = std::string(DatabaseKindName(options_.database));
  }
  pump_ = std::thread([this] {
    while (!stop_pump_.load()) {
      const auto all = All();
      if (all.empty()) std::this_thread::sleep_for(10ms);
      for (const auto& service : all) service->Pump(10ms);
    }
  });
}

Deployment::~Deployment() {
  StopPump();
  // The run's schema or database goes once nothing uses it any more.
  {
    std::lock_guard lock(services_mutex_);
    main_.reset();
    proxies_.clear();
    workers_.clear();
  }
  if (!drop_scratch_.empty()) {
    auto [code, out] = RunShell(drop_scratch_);
    EXPECT_EQ(code, 0) << "dropping " << scratch_ << ": " << out;
  }
}

::testing::AssertionResult Deployment::Start() {
  for (auto step : {&Deployment::Prepare, &Deployment::StartMainServer, &Deployment::StartProxies,
                    &Deployment::StartWorkers}) {
    if (auto ok = (this->*step)(); !ok) return ok;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Deployment::Prepare() {
  auto redis_port = TestServerSetting(options_.redis_server, "REDIS_PORT");
  if (!redis_port) return Failed(redis_port.error());
  auto redis_password = TestServerSetting(options_.redis_server, "REDIS_PASSWORD");
  if (!redis_password) return Failed(redis_password.error());
  auto dir = cli::OpenOrCreateDataDir(tmp_ / "data", SystemClock::Instance());
  if (!dir) return Failed(dir.error());
  layout_ = dir->layout;

  // A key prefix of this run alone, so runs never see each other's messages.
  prefix_ = "mbtest-" + tmp_.path().filename().string() + ":";
  redis_port_ = *redis_port;
  redis_password_ = *redis_password;
  WriteFile(tmp_ / "redis-password", *redis_password, true);
  return CreateDatabase();
}

// SQLite: the data directory's file. PostgreSQL: a schema of this run in the fixture's database
// (search_path in the URL), as the storage tests do. MariaDB: a database of this run (the fixture's
// user may create t_*). Either is migrated here and given the data directory's demo client, whose
// certificate the proxies must find in the registry.
::testing::AssertionResult Deployment::CreateDatabase() {
  const std::string sqlite_url = "sqlite://" + layout_.database().string();
  std::string url = sqlite_url;
  if (options_.database != DatabaseKind::kSqlite) {
    auto env = TestServerEnv(options_.database_server);
    if (!env) return Failed(env.error());
    auto setting = [&](const std::string& key) {
      const auto it = env->find(key);
      return it == env->end() ? std::string() : it->second;
    };
    scratch_ = "t_" + RandomHex(12);
    std::string client;
    std::string create;
    if (options_.database == DatabaseKind::kPostgres) {
      client = "PGPASSWORD='" + setting("PGPASSWORD") + "' '" + setting("PG_BIN") +
               "/psql' -h 127.0.0.1 -p " + setting("PGPORT") + " -U " + setting("PGUSER") + " -d " +
               setting("PGDATABASE") + " -XAtq -v ON_ERROR_STOP=1 -c ";
      create = "CREATE SCHEMA " + scratch_;
      drop_scratch_ = client + "'DROP SCHEMA IF EXISTS " + scratch_ + " CASCADE'";
      url = setting("DATABASE_URL") + "?options=-c%20search_path%3D" + scratch_ +
            "&application_name=" + scratch_;
    } else {
      client = "MYSQL_PWD='" + setting("MYSQL_PASSWORD") +
               "' mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P " + setting("MYSQL_PORT") +
               " -u " + setting("MYSQL_USER") + " -e ";
      create = "CREATE DATABASE " + scratch_ + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
      drop_scratch_ = client + "'DROP DATABASE IF EXISTS " + scratch_ + "'";
      const std::string base = setting("DATABASE_URL");
      url = base.substr(0, base.rfind('/') + 1) + scratch_;
    }
    if (auto [code, out] = RunShell(client + "'" + create + "'"); code != 0) {
      drop_scratch_.clear();
      return ::testing::AssertionFailure()
             << create << " on the '" << options_.database_server << "' server: " << out;
    }
    const auto& clock = SystemClock::Instance();
    auto source = storage::OpenDatabase({.url = sqlite_url, .pool_size = 1}, clock);
    if (!source) return Failed(source.error());
    auto target = storage::OpenDatabase({.url = url, .pool_size = 1}, clock);
    if (!target) return Failed(target.error());
    auto identities = (*source)->clients()->ListIdentities();
    if (!identities) return Failed(identities.error());
    std::set<std::string> clients;
    for (const auto& identity : *identities) {
      if (clients.insert(identity.client.id.str()).second) {
        if (auto ok = (*target)->clients()->CreateClient(identity.client); !ok) {
          return Failed(ok.error());
        }
      }
      if (auto ok = (*target)->clients()->AddCertificate(identity.certificate); !ok) {
        return Failed(ok.error());
      }
    }
  }
  WriteFile(tmp_ / "database-url", url, true);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Deployment::StartMainServer() {
  const fs::path config = tmp_ / "main-server.yaml";
  WriteFile(config,
            "main_server:\n  listen: {host: 127.0.0.1, port: " + std::to_string(main_port_) +
                ", io_threads: 2}\n" + Tls(pki::ServiceRole::kMainServer) + DatabaseSection("") +
                "  secrets:\n    key_ring_file: " + layout_.key_ring().string() +
                "\n    sender_hmac_key_file: " + layout_.sender_key().string() +
                "\n    envelope_public_key_file: " + layout_.envelope_public_key().string() +
                "\n    envelope_secret_key_file: " + layout_.envelope_secret_key().string() +
                // The CA key: the main server publishes the CRL and serves the admin client API.
                "\n    ca_cert_file: " + layout_.ca_cert().string() +
                "\n    ca_key_file: " + layout_.ca_key().string() + "\n  audit_log_file: " +
                (tmp_ / "main-server-audit.log").string() + "\n  log_level: info\n");
  auto main = std::make_shared<Service>("main-server", "main-server", config);
  {
    std::lock_guard lock(services_mutex_);
    main_ = main;
  }
  const int port = main->WaitStarted("event=started service=main_server port=", kStartTimeout);
  if (port == 0 || (main_port_ != 0 && port != main_port_)) {
    return ::testing::AssertionFailure()
           << "main server did not start (on port " << main_port_ << "):\n"
           << Tail(main->Output());
  }
  main_port_ = port;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Deployment::StopMainServer() {
  auto main = Main();
  main->Signal(SIGTERM);
  const auto code = main->Wait(kStopTimeout);
  if (code != std::optional<int>(0)) {
    return ::testing::AssertionFailure()
           << "main server exit code " << (code ? std::to_string(*code) : "none") << ":\n"
           << Tail(main->Output());
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Deployment::StartProxies() {
  std::vector<std::shared_ptr<Service>> started;
  for (int i = 0; i < options_.proxies; ++i) {
    const std::string name = "proxy-" + std::to_string(i + 1);
    const fs::path config = tmp_ / (name + ".yaml");
    WriteFile(
        config,
        "proxy:\n  listen: {host: 127.0.0.1, port: 0, io_threads: 2}\n" +
            Tls(pki::ServiceRole::kProxy) + Queue() +
            DatabaseSection("    pool_size: 2\n    migrate: false\n") +
            "  secrets:\n    envelope_public_key_file: " + layout_.envelope_public_key().string() +
            "\n  registry_refresh_interval: 2s\n  log_level: info\n" + options_.proxy_extra);
    started.push_back(std::make_shared<Service>(name, "proxy", config));
    std::lock_guard lock(services_mutex_);
    proxies_.push_back(started.back());
  }
  for (auto& proxy : started) {
    const int port = proxy->WaitStarted("event=started service=proxy port=", kStartTimeout);
    if (port == 0) {
      return ::testing::AssertionFailure() << proxy->name() << " did not start:\n"
                                           << Tail(proxy->Output());
    }
    proxy_ports_.push_back(port);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Deployment::StartWorkers() {
  std::vector<std::shared_ptr<Service>> started;
  for (int i = 0; i < options_.workers; ++i) {
    const std::string name = "worker-" + std::to_string(i + 1);
    const fs::path config = tmp_ / (name + ".yaml");
    WriteFile(config, "worker:\n  metrics: {host: 127.0.0.1, port: 0}\n" +
                          Tls(pki::ServiceRole::kWorker) + Queue() +
                          "  main_server_url: https://127.0.0.1:" + std::to_string(main_port_) +
                          "\n  worker:\n    concurrency: 2\n    batch_size: " +
                          std::to_string(options_.batch_size) +
                          "\n    max_attempts: " + std::to_string(options_.max_attempts) +
                          "\n    backoff_base: 100ms\n    backoff_max: 1s\n"
                          "    visibility_timeout: 2s\n  log_level: info\n");
    started.push_back(std::make_shared<Service>(name, "worker", config));
    std::lock_guard lock(services_mutex_);
    workers_.push_back(started.back());
  }
  for (auto& worker : started) {
    const int port =
        worker->WaitStarted("event=started service=worker metrics_port=", kStartTimeout);
    if (port == 0) {
      return ::testing::AssertionFailure() << worker->name() << " did not start:\n"
                                           << Tail(worker->Output());
    }
    worker_ports_.push_back(port);
  }
  return ::testing::AssertionSuccess();
}

void Deployment::StopAll() {
  for (const auto& service : All()) {
    if (service == Main() || service->exited()) continue;
    service->Signal(SIGTERM);
    auto code = service->Wait(kStopTimeout);
    EXPECT_EQ(code, std::optional<int>(0)) << service->name() << ":\n" << Tail(service->Output());
  }
  if (auto main = Main(); main && !main->exited()) {
    EXPECT_TRUE(StopMainServer());
  }
}

void Deployment::Kill(Service& service) {
  service.Signal(SIGKILL);
  EXPECT_EQ(service.Wait(10s), std::optional<int>(128 + SIGKILL)) << service.name();
}

net::TlsClientConfig Deployment::Demo() const {
  const auto client = layout_.client_dir(cli::kDemoClientId);
  return {layout_.ca_cert(), client / "client.crt", client / "client.key"};
}

net::TlsClientConfig Deployment::Admin() const {
  return {layout_.ca_cert(), layout_.service_cert(pki::ServiceRole::kAdmin),
          layout_.service_key(pki::ServiceRole::kAdmin)};
}

std::optional<Stored> Deployment::StoredIds() const {
  net::HttpsClient admin({true, "127.0.0.1", static_cast<std::uint16_t>(main_port_)}, Admin(), 30s);
  return ReadStored(admin);
}

std::optional<Deployment::WorkerState> Deployment::Worker(std::size_t worker) const {
  net::HttpsClient client({false, "127.0.0.1", static_cast<std::uint16_t>(worker_ports_[worker])},
                          std::nullopt, 5s);
  auto r = client.Get("/metrics");
  if (!r || r->result_int() != 200) return std::nullopt;
  const std::string& text = r->body();
  auto processed = Sample(text, "worker_messages_processed_total");
  auto claimed = Sample(text, "worker_batch_size_count");
  auto settled = Sample(text, "worker_batch_duration_seconds_count");
  auto failures = Sample(text, "worker_batch_failures_total");
  if (!processed || !claimed || !settled || !failures) return std::nullopt;
  return WorkerState{*processed, *claimed - *settled, *failures};
}

std::optional<double> Deployment::Processed(std::size_t worker) const {
  auto state = Worker(worker);
  if (!state) return std::nullopt;
  return state->processed;
}

double Deployment::Duplicates() const {
  net::HttpsClient client({true, "127.0.0.1", static_cast<std::uint16_t>(main_port_)}, Admin(), 5s);
  auto r = client.Get("/metrics");
  if (!r || r->result_int() != 200) return -1;
  return Metric(r->body(), R"(main_server_delivery_items_total\{[^}]*outcome="duplicate"[^}]*\})")
      .value_or(0);
}

std::optional<std::string> Deployment::RedisCli(const std::string& args) const {
  auto [code, out] =
      RunShell("REDISCLI_AUTH='" + redis_password_ +
               "' redis-cli --no-auth-warning -h 127.0.0.1 -p " + redis_port_ + " --raw " + args);
  if (code != 0 || out.rfind("ERR", 0) == 0 || out.rfind("NOAUTH", 0) == 0 ||
      out.rfind("Could not connect", 0) == 0) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> Deployment::RateLimitKeys() const {
  return RedisCli("--scan --pattern '" + prefix_ + "ratelimit:*'");
}

std::map<std::string, std::string> Deployment::Leases() const {
  std::map<std::string, std::string> leases;
  auto out = RedisCli("ZRANGE '" + prefix_ + "leases' 0 -1 WITHSCORES");
  if (!out) return leases;
  std::istringstream lines(*out);
  std::string id;
  std::string deadline;
  while (std::getline(lines, id) && std::getline(lines, deadline)) leases[id] = deadline;
  return leases;
}

// The keys are RedisQueue's (libs/queue/src/redis_scripts.hpp): the zset `dead` lists them, the
// hash `msg:<id>` holds each one's reason. One script reads both, so the answer is consistent.
std::optional<std::map<std::string, std::string>> Deployment::DeadLetters() const {
  auto out = RedisCli(
      "EVAL \"local out = {} "
      "for _, id in ipairs(redis.call('ZRANGE', ARGV[1] .. 'dead', 0, -1)) do "
      "local reason = redis.call('HGET', ARGV[1] .. 'msg:' .. id, 'reason') or '' "
      "out[#out + 1] = id out[#out + 1] = string.gsub(reason, '\\n', ' ') end "
      "return out\" 0 '" +
      prefix_ + "'");
  if (!out) return std::nullopt;
  std::map<std::string, std::string> dead;
  std::istringstream lines(*out);
  std::string id;
  std::string reason;
  while (std::getline(lines, id) && std::getline(lines, reason)) dead[id] = reason;
  return dead;
}

int Deployment::ProxyReadiness(std::size_t i) const {
  net::HttpsClient client({true, "127.0.0.1", static_cast<std::uint16_t>(proxy_ports_[i])}, Demo(),
                          5s);
  auto r = client.Get("/readyz");
  return r ? r->result_int() : 0;
}

std::string Deployment::Outputs() {
  std::string all;
  for (const auto& service : All()) {
    all += "---- " + service->name() + "\n" + Tail(service->Output());
  }
  return all;
}

std::string Deployment::Tls(pki::ServiceRole role) const {
  return "  tls:\n    cert_file: " + layout_.service_cert(role).string() +
         "\n    key_file: " + layout_.service_key(role).string() +
         "\n    ca_file: " + layout_.ca_cert().string() + "\n";
}

std::string Deployment::Queue() const {
  const std::string capacity =
      options_.queue_max_messages == 0
          ? ""
          : "    max_messages: " + std::to_string(options_.queue_max_messages) + "\n";
  return "  queue:\n    type: redis\n" + capacity +
         "    redis:\n      host: 127.0.0.1\n      port: " + redis_port_ +
         "\n      password_file: " + (tmp_ / "redis-password").string() + "\n      key_prefix: \"" +
         prefix_ + "\"\n";
}

// The URL may hold a password, so it is in a file (the configuration refuses secrets inline).
std::string Deployment::DatabaseSection(const std::string& extra) const {
  return "  database:\n    url_file: " + (tmp_ / "database-url").string() + "\n" + extra;
}

std::vector<std::shared_ptr<Service>> Deployment::All() const {
  std::lock_guard lock(services_mutex_);
  std::vector<std::shared_ptr<Service>> all(workers_.begin(), workers_.end());
  all.insert(all.end(), proxies_.begin(), proxies_.end());
  if (main_) all.push_back(main_);
  return all;
}

std::shared_ptr<Service> Deployment::Main() const {
  std::lock_guard lock(services_mutex_);
  return main_;
}

void Deployment::StopPump() {
  stop_pump_ = true;
  if (pump_.joinable()) pump_.join();
}

Traffic::Traffic(const Deployment& deployment, TrafficOptions options)
    : options_(std::move(options)) {
  for (std::size_t p = 0; p < deployment.proxy_ports().size(); ++p) {
    for (int t = 0; t < options_.senders_per_proxy; ++t) {
      threads_.emplace_back([this, &deployment, p, t] { Send(deployment, p, t); });
    }
  }
}

Traffic::~Traffic() {
  Stop();
  Join();
}

void Traffic::Send(const Deployment& deployment, std::size_t proxy, int thread) {
  net::HttpsClient client(
      {true, "127.0.0.1", static_cast<std::uint16_t>(deployment.proxy_ports()[proxy])},
      deployment.Demo(), 10s);
  const auto deadline = Clock::now() + options_.max_duration;
  for (int i = 0; i < options_.per_thread && !stop_.load() && Clock::now() < deadline; ++i) {
    if (i > 0 && options_.pause.count() > 0) std::this_thread::sleep_for(options_.pause);
    auto r = client.PostJson(
        "/api/v1/messages",
        nlohmann::json{
            {"sender_number", "+4915112345678"},
            {"message_body", options_.tag + " proxy " + std::to_string(proxy) + " sender " +
                                 std::to_string(thread) + " #" + std::to_string(i)}}
            .dump());
    std::lock_guard lock(mutex_);
    if (r && r->result_int() == 202) {
      accepted_.insert(nlohmann::json::parse(r->body())["message_id"].get<std::string>());
      ++count_;
      continue;
    }
    std::string kind;
    if (r) {
      const auto body = nlohmann::json::parse(r->body(), nullptr, false);
      const std::string code = body.is_object() && body.contains("error")
                                   ? body["error"].value("code", std::string("?"))
                                   : std::string("(no JSON error)");
      const bool retry_after = r->find(net::http::field::retry_after) != r->end();
      kind = std::to_string(r->result_int()) + " " + code +
             (retry_after ? " with Retry-After" : " without Retry-After");
      if (r->result_int() == 503 && retry_after && code == "QUEUE_UNAVAILABLE") {
        ++queue_unavailable_;
      }
      if (first_failure_.empty())
        first_failure_ = std::to_string(r->result_int()) + " " + r->body();
    } else {
      kind = "transport: " + r.error().message.substr(0, 60);
      if (first_failure_.empty()) first_failure_ = r.error().message;
    }
    ++failure_kinds_[kind];
    if (++failures_ > options_.max_failures) return;
  }
}

void Traffic::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::set<std::string> Traffic::accepted() {
  std::lock_guard lock(mutex_);
  return accepted_;
}

int Traffic::failures() {
  std::lock_guard lock(mutex_);
  return failures_;
}

std::string Traffic::first_failure() {
  std::lock_guard lock(mutex_);
  return first_failure_;
}

int Traffic::queue_unavailable() {
  std::lock_guard lock(mutex_);
  return queue_unavailable_;
}

std::map<std::string, int> Traffic::failure_kinds() {
  std::lock_guard lock(mutex_);
  return failure_kinds_;
}

void ExpectStoredExactlyOnce(Deployment& deployment, const std::set<std::string>& accepted,
                             Stored& stored, bool exact) {
  const bool complete = WaitFor(
      [&] {
        auto now = deployment.StoredIds();
        if (!now) return false;
        stored = std::move(*now);
        return std::includes(stored.ids.begin(), stored.ids.end(), accepted.begin(),
                             accepted.end());
      },
      kStoreTimeout, 250ms);
  ASSERT_TRUE(complete) << "accepted " << accepted.size() << ", stored " << stored.ids.size()
                        << "\n"
                        << deployment.Outputs();
  const std::set<std::string> unique(stored.ids.begin(), stored.ids.end());
  EXPECT_EQ(unique.size(), stored.ids.size()) << "a message was stored twice";
  if (exact) {
    EXPECT_EQ(stored.ids.size(), accepted.size()) << "stored a message that was never accepted";
  }
  EXPECT_EQ(stored.not_delivered.size(), 0u);
}

void ExpectAnsweredStoredOnceOrDeadLettered(Deployment& deployment,
                                            const std::set<std::string>& accepted) {
  Stored stored;
  std::map<std::string, std::string> dead;
  std::vector<std::string> missing;
  const bool settled = WaitFor(
      [&] {
        auto ids = deployment.StoredIds();
        auto letters = deployment.DeadLetters();
        if (!ids || !letters) return false;
        stored = std::move(*ids);
        dead = std::move(*letters);
        missing.clear();
        for (const auto& id : accepted) {
          if (!stored.ids.contains(id) && !dead.contains(id)) missing.push_back(id);
        }
        return missing.empty();
      },
      kStoreTimeout, 250ms);
  ASSERT_TRUE(settled) << missing.size() << " of " << accepted.size()
                       << " accepted messages neither stored nor dead-lettered (first "
                       << (missing.empty() ? "" : missing.front()) << "); stored "
                       << stored.ids.size() << ", dead " << dead.size() << "\n"
                       << deployment.Outputs();
  const std::set<std::string> unique(stored.ids.begin(), stored.ids.end());
  EXPECT_EQ(unique.size(), stored.ids.size()) << "a message was stored twice";
  for (const auto& [id, reason] : dead) {
    EXPECT_FALSE(reason.empty()) << "dead letter " << id << " has no reason";
    EXPECT_TRUE(!unique.contains(id) || stored.not_delivered.contains(id))
        << id << " was stored as delivered and dead-lettered (" << reason << ")";
  }
  for (const auto& id : stored.not_delivered) {
    EXPECT_TRUE(dead.contains(id)) << id << " was stored as not delivered but is no dead letter";
  }
  std::size_t unanswered = 0;
  for (const auto& id : unique) unanswered += accepted.contains(id) ? 0 : 1;
  std::cout << "accepted " << accepted.size() << ": stored " << unique.size() << " ("
            << stored.redelivered << " on a later attempt, at most " << stored.max_attempts
            << " attempts; " << unanswered << " stored without a 202 to the client), "
            << dead.size() << " dead-lettered";
  for (const auto& [id, reason] : dead) {
    std::cout << "; e.g. " << id << ": " << reason;
    break;
  }
  std::cout << std::endl;
}

}  // namespace msgbroker::testing
