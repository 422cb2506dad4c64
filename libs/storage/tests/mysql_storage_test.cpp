// The MySQL/MariaDB backend against the real server of tests/servers/mariadb.sh. Each test runs
// in its own database (t_<random>), created in SetUp and dropped in TearDown. A missing server
// is a failure, never a skip.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "database_contract.hpp"
#include "msgbroker/storage/database.hpp"
#include "msgbroker/testing/test_servers.hpp"
#include "mysql_connection.hpp"
#include "mysql_database.hpp"
#include "sql_connection_pool.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage::testing {
namespace {

using namespace std::chrono_literals;
using sql::MysqlConnection;
using sql::MysqlConnectOptions;
using sql::SqlValue;

const SystemTime kT0{std::chrono::seconds{1'700'000'000}};

std::string RandomSuffix() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::string out;
  for (int i = 0; i < 16; ++i) out += kHex[device() % 16];
  return out;
}

Result<MysqlConnectOptions> ConnectOptionsFor(const std::string& url) {
  auto parsed = ParseDatabaseUrl(url);
  if (!parsed) return tl::unexpected(parsed.error());
  return sql::MysqlConnectOptionsFromUrl(*parsed, DatabaseOptions{});
}

std::unique_ptr<MysqlConnection> ConnectOrFail(const std::string& url) {
  auto options = ConnectOptionsFor(url);
  EXPECT_TRUE(options) << options.error().message;
  if (!options) return nullptr;
  auto connection = MysqlConnection::Connect(*options);
  EXPECT_TRUE(connection) << connection.error().message;
  return connection ? std::move(*connection) : nullptr;
}

// A port on 127.0.0.1 that nothing listens on (bound, then closed).
std::uint16_t ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A database of its own (t_<random>) on the fixture's server, dropped at the end, with an admin
// connection to it.
class MysqlBackend final : public TestBackend {
 public:
  static std::unique_ptr<MysqlBackend> Make() {
    auto base = msgbroker::testing::TestServerSetting("mariadb", "DATABASE_URL");
    if (!base) {
      ADD_FAILURE() << base.error().message;
      return nullptr;
    }
    auto password = msgbroker::testing::TestServerSetting("mariadb", "MYSQL_PASSWORD");
    if (!password) {
      ADD_FAILURE() << password.error().message;
      return nullptr;
    }
    auto admin = ConnectOrFail(*base);
    if (!admin) return nullptr;
    std::unique_ptr<MysqlBackend> backend(new MysqlBackend(*base, *password, std::move(admin)));
    backend->Exec("CREATE DATABASE " + backend->name_ +
                  " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    backend->Exec("USE " + backend->name_);
    backend->created_ = true;
    return backend;
  }
  ~MysqlBackend() override {
    if (created_) {
      auto dropped = admin_->ExecuteScript("DROP DATABASE IF EXISTS " + name_);
      EXPECT_TRUE(dropped) << dropped.error().message;
    }
  }

  std::string url() const override { return base_url_.substr(0, base_url_.rfind('/') + 1) + name_; }
  void Exec(const std::string& sql) override {
    auto done = admin_->ExecuteScript(sql);
    EXPECT_TRUE(done) << sql << ": " << done.error().message;
  }
  std::int64_t QueryInt(const std::string& sql) override {
    auto rows = admin_->Query(sql);
    EXPECT_TRUE(rows) << sql << ": " << rows.error().message;
    return rows ? rows->Int64(0, 0).value_or(-1) : -1;
  }
  void RejectKeyId(const std::string& key_id) override {
    Exec("ALTER TABLE messages ADD CONSTRAINT reject_key_id CHECK (key_id <> '" + key_id + "')");
  }

  const std::string& name() const { return name_; }
  const std::string& password() const { return password_; }
  MysqlConnection& admin() { return *admin_; }

 private:
  MysqlBackend(std::string base_url, std::string password, std::unique_ptr<MysqlConnection> admin)
      : base_url_(std::move(base_url)),
        password_(std::move(password)),
        name_("t_" + RandomSuffix()),
        admin_(std::move(admin)) {}

  std::string base_url_;
  std::string password_;
  std::string name_;
  std::unique_ptr<MysqlConnection> admin_;
  bool created_ = false;
};

std::unique_ptr<TestBackend> MakeMysqlBackend() { return MysqlBackend::Make(); }

INSTANTIATE_TEST_SUITE_P(Mysql, DatabaseContractTest,
                         ::testing::Values(BackendParam{"mysql", MakeMysqlBackend}),
                         BackendParamName);

class MysqlStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = MysqlBackend::Make();
    ASSERT_NE(backend_, nullptr);
    url_ = backend_->url();
    name_ = backend_->name();
    password_ = backend_->password();
  }

  DatabaseOptions Options() const {
    DatabaseOptions options;
    options.url = url_;
    options.pool_size = 4;
    options.pool_wait = 2s;
    return options;
  }

  std::shared_ptr<Database> OpenOrFail(DatabaseOptions options) {
    auto opened = OpenDatabase(options, clock_);
    EXPECT_TRUE(opened) << opened.error().message;
    return opened ? *opened : nullptr;
  }
  std::shared_ptr<Database> OpenOrFail() { return OpenOrFail(Options()); }

  // A connection to this test's database, behind the stores' back.
  std::unique_ptr<MysqlConnection> Raw() { return ConnectOrFail(url_); }

  std::int64_t QueryInt(MysqlConnection& connection, const std::string& sql) {
    auto rows = connection.Query(sql);
    EXPECT_TRUE(rows) << sql << ": " << rows.error().message;
    return rows ? rows->Int64(0, 0).value_or(-1) : -1;
  }

  MysqlConnection& admin() { return backend_->admin(); }

  FakeClock clock_;
  std::unique_ptr<MysqlBackend> backend_;
  std::string password_;
  std::string name_;
  std::string url_;
};

// ---- connection --------------------------------------------------------------------------------

TEST_F(MysqlStorageTest, ConnectionRoundTripsEveryValueType) {
  auto connection = Raw();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(connection->ExecuteScript(
      "CREATE TABLE v (i BIGINT NULL, t VARCHAR(100) NULL, b LONGBLOB NULL) ENGINE = InnoDB"));
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes += static_cast<char>(c);
  const SqlValue row1[] = {SqlValue(std::int64_t{-9'007'199'254'740'993}),
                           SqlValue(std::string("h\xC3\xA9llo \xF0\x9F\x98\x80 ' \\ \"")),
                           SqlValue(sql::SqlBlob{all_bytes + std::string(3, '\0')})};
  const SqlValue row2[] = {SqlValue(nullptr), SqlValue(nullptr), SqlValue(nullptr)};
  auto inserted = connection->Execute("INSERT INTO v (i, t, b) VALUES (?, ?, ?)", row1);
  ASSERT_TRUE(inserted) << inserted.error().message;
  EXPECT_EQ(*inserted, 1u);
  ASSERT_TRUE(connection->Execute("INSERT INTO v (i, t, b) VALUES (?, ?, ?)", row2));
  auto rows = connection->Query("SELECT i, t, b FROM v ORDER BY i IS NULL, i");
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(rows->Int64(0, 0), -9'007'199'254'740'993);
  EXPECT_EQ(rows->At(0, 1), row1[1]);
  EXPECT_EQ(rows->At(0, 2), row1[2]);
  EXPECT_TRUE(rows->IsNull(1, 0));
  EXPECT_TRUE(rows->IsNull(1, 1));
  EXPECT_TRUE(rows->IsNull(1, 2));
  // Prepared once, then reused: the INSERT ran twice, the SELECT runs twice.
  EXPECT_EQ(connection->cached_statements(), 2u);
  ASSERT_TRUE(connection->Query("SELECT i, t, b FROM v ORDER BY i IS NULL, i"));
  EXPECT_EQ(connection->cached_statements(), 2u);
}

TEST_F(MysqlStorageTest, DuplicateKeyErrorIsClassifiedAndNamesNoValue) {
  auto connection = Raw();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(connection->ExecuteScript("CREATE TABLE u (k VARCHAR(64) PRIMARY KEY)"));
  const SqlValue key[] = {SqlValue(std::string("secret-row-value"))};
  ASSERT_TRUE(connection->Execute("INSERT INTO u (k) VALUES (?)", key));
  auto again = connection->Execute("INSERT INTO u (k) VALUES (?)", key);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(connection->LastErrorKind(), sql::SqlErrorKind::kUniqueViolation);
  EXPECT_EQ(again.error().message.find("secret-row-value"), std::string::npos)
      << again.error().message;
  EXPECT_FALSE(connection->Broken());
  ASSERT_TRUE(connection->Query("SELECT 1"));
  EXPECT_EQ(connection->LastErrorKind(), sql::SqlErrorKind::kNone);
}

TEST_F(MysqlStorageTest, KilledConnectionIsBrokenAndThePoolReplacesIt) {
  auto victim = Raw();
  ASSERT_NE(victim, nullptr);
  const std::int64_t id = QueryInt(*victim, "SELECT CONNECTION_ID()");
  ASSERT_TRUE(admin().ExecuteScript("KILL CONNECTION " + std::to_string(id)));
  auto after = victim->Query("SELECT 1");
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(victim->LastErrorKind(), sql::SqlErrorKind::kConnectionLost);
  EXPECT_TRUE(victim->Broken());

  // Through the Database: kill every connection of the pool; the next calls get fresh ones.
  auto options = Options();
  options.pool_size = 1;
  auto db = OpenOrFail(options);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Ping());
  auto ids = admin().Query("SELECT id FROM information_schema.processlist WHERE db = '" + name_ +
                           "' AND id <> " + "CONNECTION_ID()");
  ASSERT_TRUE(ids) << ids.error().message;
  ASSERT_FALSE(ids->empty());
  for (std::size_t r = 0; r < ids->size(); ++r) {
    (void)admin().ExecuteScript("KILL CONNECTION " + std::to_string(*ids->Int64(r, 0)));
  }
  (void)db->Ping();  // may fail once: the pooled connection was killed
  EXPECT_TRUE(db->Ping());
  auto got = db->messages()->Get(MakeMessage(kT0).id);
  ASSERT_TRUE(got) << got.error().message;
}

TEST_F(MysqlStorageTest, UnreachableServerFailsQuicklyNamingHostAndPort) {
  const std::uint16_t port = ClosedPort();
  DatabaseOptions options;
  options.url = "mysql://msgbroker:hunter2-secret@127.0.0.1:" + std::to_string(port) + "/x";
  options.connect_timeout = 2s;
  const auto start = std::chrono::steady_clock::now();
  auto opened = OpenDatabase(options, clock_);
  ASSERT_FALSE(opened);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_NE(opened.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << opened.error().message;
  EXPECT_EQ(opened.error().message.find("hunter2-secret"), std::string::npos);
}

TEST_F(MysqlStorageTest, WrongPasswordIsUnavailableWithoutRepeatingIt) {
  std::string url = url_;
  url.replace(url.find(password_), password_.size(), "not-the-password-xyz");
  DatabaseOptions options = Options();
  options.url = url;
  auto opened = OpenDatabase(options, clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(opened.error().message.find("not-the-password-xyz"), std::string::npos)
      << opened.error().message;
}

TEST_F(MysqlStorageTest, UrlParametersAreCheckedAndMariadbSchemeWorks) {
  DatabaseOptions options = Options();
  options.url = url_ + "?sslmod=required";
  auto opened = OpenDatabase(options, clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kInvalidRequest);
  options.url = "mariadb" + url_.substr(url_.find("://"));
  auto db = OpenOrFail(options);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), sql::MysqlDialect().migrations.back().version);
}

TEST(MysqlUrlTest, TlsParametersAreParsedAndUnknownOnesRefused) {
  auto options = ConnectOptionsFor(
      "mysql://u:p@db.example:3307/broker?ssl-mode=VERIFY_IDENTITY"
      "&ssl-ca=%2Fetc%2Fca.pem");
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->host, "db.example");
  EXPECT_EQ(options->port, 3307);
  EXPECT_EQ(options->database, "broker");
  EXPECT_TRUE(options->tls_required);
  EXPECT_TRUE(options->tls_verify_server);
  EXPECT_EQ(options->tls_ca, "/etc/ca.pem");

  options = ConnectOptionsFor("mariadb://u@127.0.0.1/broker?ssl-mode=required");
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->port, 3306);
  EXPECT_TRUE(options->tls_required);
  EXPECT_FALSE(options->tls_verify_server);

  for (const char* bad : {"mysql://u@h/db?ssl-mode=sometimes", "mysql://u@h/db?sslmod=REQUIRED",
                          "mysql://u@h:3306/"}) {
    auto refused = ConnectOptionsFor(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidRequest) << bad;
  }
}

TEST_F(MysqlStorageTest, RequiredTlsIsEnforcedAgainstAServerWithoutIt) {
  // The test server has no TLS: a connection that requires it must fail, not fall back.
  for (const char* mode : {"REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"}) {
    DatabaseOptions options = Options();
    options.url = url_ + "?ssl-mode=" + mode;
    auto opened = OpenDatabase(options, clock_);
    ASSERT_FALSE(opened) << mode;
    EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
    EXPECT_EQ(opened.error().message.find(password_), std::string::npos);
  }
}

TEST_F(MysqlStorageTest, PoolExhaustionWaitsBoundedThenFails) {
  auto options = ConnectOptionsFor(url_);
  ASSERT_TRUE(options);
  sql::SqlConnector connector = [connect =
                                     *options]() -> Result<std::unique_ptr<sql::SqlConnection>> {
    auto connection = MysqlConnection::Connect(connect);
    if (!connection) return tl::unexpected(connection.error());
    return std::unique_ptr<sql::SqlConnection>(std::move(*connection));
  };
  sql::SqlConnectionPool pool(connector, 1, 300ms);
  auto held = pool.Acquire();
  ASSERT_TRUE(held) << held.error().message;
  const auto start = std::chrono::steady_clock::now();
  auto second = pool.Acquire();
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 3s);
}

// ---- migrations --------------------------------------------------------------------------------

TEST_F(MysqlStorageTest, FreshDatabaseIsMigratedAndReopenAppliesNothing) {
  {
    auto db = OpenOrFail();
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->schema_version(), sql::MysqlDialect().migrations.back().version);
  }
  auto db = OpenOrFail();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), sql::MysqlDialect().migrations.back().version);
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(QueryInt(*raw, "SELECT COUNT(*) FROM schema_migrations"),
            sql::MysqlDialect().migrations.back().version);
  EXPECT_EQ(QueryInt(*raw,
                     "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                     "DATABASE() AND engine = 'InnoDB' AND table_name IN ('messages', 'clients', "
                     "'client_certificates', 'schema_migrations', 'api_keys')"),
            5);
  EXPECT_EQ(QueryInt(*raw,
                     "SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics WHERE "
                     "table_schema = DATABASE() AND table_name = 'messages'"),
            5);
}

TEST_F(MysqlStorageTest, NewerSchemaIsRefusedUntouched) {
  ASSERT_NE(OpenOrFail(), nullptr);
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  ASSERT_TRUE(
      raw->ExecuteScript("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)"));
  auto opened = OpenDatabase(Options(), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDataCorrupted);
  EXPECT_NE(opened.error().message.find("99"), std::string::npos) << opened.error().message;
  EXPECT_EQ(QueryInt(*raw, "SELECT COUNT(*) FROM schema_migrations"),
            sql::MysqlDialect().migrations.back().version + 1);
}

TEST_F(MysqlStorageTest, DisabledMigrationsRefuseAnEmptyDatabaseWithoutWriting) {
  DatabaseOptions options = Options();
  options.migrate = false;
  auto opened = OpenDatabase(options, clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(QueryInt(*raw,
                     "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                     "DATABASE()"),
            0);
}

TEST_F(MysqlStorageTest, ConcurrentOpensApplyEachMigrationOnce) {
  constexpr int kOpeners = 6;
  std::vector<std::thread> threads;
  std::atomic<int> succeeded{0};
  std::vector<std::string> errors(kOpeners);
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] {
      auto opened = OpenDatabase(Options(), clock_);
      if (opened && (*opened)->schema_version() == sql::MysqlDialect().migrations.back().version) {
        ++succeeded;
      } else if (!opened) {
        errors[i] = opened.error().message;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) EXPECT_EQ(error, "");
  EXPECT_EQ(succeeded.load(), kOpeners);
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(QueryInt(*raw, "SELECT COUNT(*) FROM schema_migrations"),
            sql::MysqlDialect().migrations.back().version);
}

// ---- messages ----------------------------------------------------------------------------------

class MysqlMessageStoreTest : public MysqlStorageTest {
 protected:
  void SetUp() override {
    MysqlStorageTest::SetUp();
    if (HasFatalFailure()) return;
    db_ = OpenOrFail();
    ASSERT_NE(db_, nullptr);
    store_ = db_->messages();
  }
  std::shared_ptr<Database> db_;
  std::shared_ptr<MessageStore> store_;
};

TEST_F(MysqlMessageStoreTest, InsertReportsNewRowsThenDuplicatesKeepTheOriginal) {
  std::vector<StoredMessage> first = {MakeMessage(kT0), MakeMessage(kT0 + 1s)};
  auto inserted = store_->InsertBatch(first);
  ASSERT_TRUE(inserted) << inserted.error().message;
  EXPECT_EQ(*inserted, (std::vector<bool>{true, true}));

  StoredMessage changed = first[1];
  changed.content = "other content";
  changed.attempts = 7;
  std::vector<StoredMessage> second = {MakeMessage(kT0 + 2s), changed, first[0]};
  auto again = store_->InsertBatch(second);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, (std::vector<bool>{true, false, false}));

  auto got = store_->Get(first[1].id);
  ASSERT_TRUE(got && *got);
  ExpectSameMessage(**got, first[1]);
}

TEST_F(MysqlMessageStoreTest, DuplicateWithinOneBatchKeepsTheFirst) {
  StoredMessage a = MakeMessage(kT0);
  StoredMessage a2 = a;
  a2.content = "second copy";
  std::vector<StoredMessage> batch = {a, MakeMessage(kT0 + 1s), a2};
  auto inserted = store_->InsertBatch(batch);
  ASSERT_TRUE(inserted) << inserted.error().message;
  EXPECT_EQ(*inserted, (std::vector<bool>{true, true, false}));
  auto got = store_->Get(a.id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->content, a.content);
}

TEST_F(MysqlMessageStoreTest, EmptyBatchIsOkAndRowWithoutIdIsRejected) {
  auto empty = store_->InsertBatch({});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  std::vector<StoredMessage> batch = {MakeMessage(kT0), StoredMessage{}};
  auto refused = store_->InsertBatch(batch);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidRequest);
}

TEST_F(MysqlMessageStoreTest, FailureInTheMiddleOfABatchRollsBackEveryRow) {
  std::vector<StoredMessage> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(MakeMessage(kT0 + std::chrono::seconds(i)));
  batch[3].sender_masked = std::string(300, 'x');  // longer than the column: strict mode refuses
  auto inserted = store_->InsertBatch(batch);
  ASSERT_FALSE(inserted);
  EXPECT_EQ(inserted.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(inserted.error().message.find(std::string(300, 'x')), std::string::npos);
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(QueryInt(*raw, "SELECT COUNT(*) FROM messages"), 0);
  // The store still works afterwards.
  batch[3].sender_masked = "+49****";
  auto retried = store_->InsertBatch(batch);
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_EQ(std::count(retried->begin(), retried->end(), true), 5);
}

TEST_F(MysqlMessageStoreTest, BinaryNonceAndContentRoundTripExactly) {
  StoredMessage m = MakeMessage(kT0);
  m.nonce = std::string("\0\0\xff\x00\x01\x80\x7f\0abc\0", 12);
  m.content.clear();
  for (int i = 0; i < 3 * 256; ++i) m.content += static_cast<char>(i % 256);
  m.content += std::string(1 << 20, '\0');  // 1 MiB of NULs
  m.last_error = "it's \"quoted\" \\ and \xC3\xA9";
  m.delivered_at.reset();
  m.failed_at = kT0 + 9s;
  m.status = MessageStatus::kFailed;
  m.attempts = 4'294'967'295u;
  std::vector<StoredMessage> batch = {m};
  ASSERT_TRUE(store_->InsertBatch(batch));
  auto got = store_->Get(m.id);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(*got);
  ExpectSameMessage(**got, m);
}

TEST_F(MysqlMessageStoreTest, LargeBatchSpanningChunksReportsEveryRow) {
  std::vector<StoredMessage> existing;
  for (int i = 0; i < 300; ++i) existing.push_back(MakeMessage(kT0 + std::chrono::seconds(i)));
  ASSERT_TRUE(store_->InsertBatch(existing));
  std::vector<StoredMessage> batch;
  std::vector<bool> expected;
  for (int i = 0; i < 700; ++i) {
    if (i % 3 == 0) {
      batch.push_back(existing[static_cast<std::size_t>(i) % existing.size()]);
      expected.push_back(false);
    } else {
      batch.push_back(MakeMessage(kT0 + std::chrono::seconds(1000 + i)));
      expected.push_back(true);
    }
  }
  auto inserted = store_->InsertBatch(batch);
  ASSERT_TRUE(inserted) << inserted.error().message;
  EXPECT_EQ(*inserted, expected);
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(QueryInt(*raw, "SELECT COUNT(*) FROM messages"), 300 + 466);
}

TEST_F(MysqlMessageStoreTest, ConcurrentOverlappingBatchesInsertEachIdExactlyOnce) {
  constexpr int kThreads = 6;
  constexpr int kRounds = 10;
  constexpr int kBatch = 40;
  // Every round, all threads insert shuffled copies of the same ids, plus ids of their own.
  std::atomic<int> failures{0};
  std::vector<std::map<std::string, int>> counts(kThreads);
  std::vector<std::vector<StoredMessage>> shared(kRounds);
  for (int r = 0; r < kRounds; ++r) {
    for (int i = 0; i < kBatch; ++i) {
      shared[r].push_back(MakeMessage(kT0 + std::chrono::seconds(r * 100 + i)));
    }
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      for (int r = 0; r < kRounds; ++r) {
        std::vector<StoredMessage> batch = shared[r];
        std::shuffle(batch.begin(), batch.end(), random);
        batch.push_back(MakeMessage(kT0 + std::chrono::seconds(r * 100 + 99)));
        bool stored = false;
        for (int attempt = 0; attempt < 5 && !stored; ++attempt) {
          auto inserted = store_->InsertBatch(batch);
          if (!inserted) continue;  // a deadlock victim: the caller retries, as the worker does
          for (std::size_t i = 0; i < batch.size(); ++i) {
            if ((*inserted)[i]) ++counts[t][batch[i].id.str()];
          }
          stored = true;
        }
        if (!stored) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::map<std::string, int> total;
  for (const auto& per_thread : counts) {
    for (const auto& [id, n] : per_thread) total[id] += n;
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(total.size(), static_cast<std::size_t>(kRounds * kBatch + kThreads * kRounds));
  for (const auto& [id, n] : total) EXPECT_EQ(n, 1) << id;
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(QueryInt(*raw, "SELECT COUNT(*) FROM messages"),
            static_cast<std::int64_t>(total.size()));
}

TEST_F(MysqlMessageStoreTest, GetOfUnknownIdIsEmptyAndPingSucceeds) {
  auto got = store_->Get(MakeMessage(kT0).id);
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got);
  EXPECT_TRUE(store_->Ping());
}

class MysqlMessageListTest : public MysqlMessageStoreTest {
 protected:
  void SetUp() override {
    MysqlMessageStoreTest::SetUp();
    if (HasFatalFailure()) return;
    // 30 rows: clients acme/beta alternate, every third failed, senders a/b by halves.
    for (int i = 0; i < 30; ++i) {
      StoredMessage m = MakeMessage(kT0 + std::chrono::seconds(i), i % 2 == 0 ? "acme" : "beta");
      if (i % 3 == 0) m.status = MessageStatus::kFailed;
      m.sender_hmac = std::string(64, i < 15 ? 'a' : 'b');
      rows_.push_back(m);
    }
    // Two rows with the same queued_at: ordered by id descending.
    StoredMessage tie1 = MakeMessage(kT0 + 100s);
    StoredMessage tie2 = MakeMessage(kT0 + 100s);
    rows_.push_back(tie1);
    rows_.push_back(tie2);
    ASSERT_TRUE(store_->InsertBatch(rows_));
  }

  MessagePage ListOrFail(const MessageQuery& query) {
    auto page = store_->List(query);
    EXPECT_TRUE(page) << page.error().message;
    return page ? *page : MessagePage{};
  }

  std::vector<StoredMessage> rows_;
};

TEST_F(MysqlMessageListTest, NoFilterListsEverythingNewestFirst) {
  MessageQuery query;
  query.page_size = 500;
  MessagePage page = ListOrFail(query);
  EXPECT_EQ(page.total, rows_.size());
  ASSERT_EQ(page.items.size(), rows_.size());
  for (std::size_t i = 1; i < page.items.size(); ++i) {
    const auto& a = page.items[i - 1];
    const auto& b = page.items[i];
    EXPECT_TRUE(a.queued_at > b.queued_at ||
                (a.queued_at == b.queued_at && a.id.str() > b.id.str()))
        << i;
  }
  ExpectSameMessage(page.items.back(), rows_.front());
}

TEST_F(MysqlMessageListTest, FiltersSelectAndCombine) {
  MessageQuery failed;
  failed.status = MessageStatus::kFailed;
  EXPECT_EQ(ListOrFail(failed).total, 10u);

  MessageQuery acme;
  acme.client_id = MakeClientId("acme");
  EXPECT_EQ(ListOrFail(acme).total, 15u + 2u);

  MessageQuery sender;
  sender.sender_hmac = std::string(64, 'b');
  EXPECT_EQ(ListOrFail(sender).total, 15u);

  MessageQuery window;
  window.from = kT0 + 10s;
  window.to = kT0 + 20s;
  MessagePage in_window = ListOrFail(window);
  EXPECT_EQ(in_window.total, 10u);
  ASSERT_FALSE(in_window.items.empty());
  EXPECT_EQ(in_window.items.front().queued_at, kT0 + 19s);
  EXPECT_EQ(in_window.items.back().queued_at, kT0 + 10s);

  MessageQuery all;
  all.status = MessageStatus::kFailed;
  all.client_id = MakeClientId("acme");
  all.from = kT0 + 6s;
  all.sender_hmac = std::string(64, 'b');
  MessagePage combined = ListOrFail(all);
  // i in [15, 30), even, multiple of 3: 18, 24.
  EXPECT_EQ(combined.total, 2u);
  ASSERT_EQ(combined.items.size(), 2u);
  EXPECT_EQ(combined.items[0].queued_at, kT0 + 24s);
}

TEST_F(MysqlMessageListTest, PagesSplitTheOrderedResultWithTotals) {
  MessageQuery query;
  query.page_size = 500;
  const MessagePage everything = ListOrFail(query);
  query.page_size = 7;
  std::vector<std::string> paged;
  for (std::size_t p = 1; p <= 5; ++p) {
    query.page = p;
    MessagePage page = ListOrFail(query);
    EXPECT_EQ(page.total, rows_.size());
    EXPECT_EQ(page.page, p);
    EXPECT_EQ(page.page_size, 7u);
    for (const auto& m : page.items) paged.push_back(m.id.str());
  }
  ASSERT_EQ(paged.size(), everything.items.size());
  for (std::size_t i = 0; i < paged.size(); ++i) EXPECT_EQ(paged[i], everything.items[i].id.str());

  query.page = 6;
  MessagePage beyond = ListOrFail(query);
  EXPECT_TRUE(beyond.items.empty());
  EXPECT_EQ(beyond.total, rows_.size());
}

TEST_F(MysqlMessageListTest, PageAndPageSizeAreValidated) {
  MessageQuery query;
  query.page = 0;
  auto page = store_->List(query);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code, ErrorCode::kInvalidQuery);
  EXPECT_EQ(page.error().field, "page");
  query.page = 1;
  query.page_size = 501;
  page = store_->List(query);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().field, "page_size");
}

TEST_F(MysqlMessageListTest, InjectionInFilterValuesIsJustAValue) {
  for (const std::string& evil :
       std::vector<std::string>{"' OR '1'='1", "x'; DROP TABLE messages; --", "\\' OR 1=1 #",
                                "\" OR \"\"=\"", std::string("a\0b", 3)}) {
    MessageQuery query;
    query.sender_hmac = evil;
    MessagePage page = ListOrFail(query);
    EXPECT_EQ(page.total, 0u) << evil;
  }
  StoredMessage m = MakeMessage(kT0 + 500s);
  m.sender_hmac = "' OR '1'='1";
  m.last_error = "x'); DROP TABLE messages; --";
  std::vector<StoredMessage> batch = {m};
  ASSERT_TRUE(store_->InsertBatch(batch));
  MessageQuery query;
  query.sender_hmac = m.sender_hmac;
  MessagePage page = ListOrFail(query);
  ASSERT_EQ(page.total, 1u);
  ExpectSameMessage(page.items[0], m);
}

// ---- registry ----------------------------------------------------------------------------------

class MysqlClientRegistryTest : public MysqlStorageTest {
 protected:
  void SetUp() override {
    MysqlStorageTest::SetUp();
    if (HasFatalFailure()) return;
    db_ = OpenOrFail();
    ASSERT_NE(db_, nullptr);
    registry_ = db_->clients();
  }

  static Client MakeClient(std::string_view id, SystemTime created = kT0) {
    Client c;
    c.id = MakeClientId(id);
    c.domain = std::string(id) + ".example";
    c.created_at = created;
    return c;
  }
  static ClientCertificate MakeCertificate(std::string_view client, std::string fingerprint,
                                           SystemTime created = kT0) {
    ClientCertificate cert;
    cert.fingerprint_sha256 = std::move(fingerprint);
    cert.client_id = MakeClientId(client);
    cert.serial_hex = "01ab";
    cert.not_before = kT0;
    cert.not_after = kT0 + std::chrono::hours(24 * 365);
    cert.created_at = created;
    return cert;
  }

  std::shared_ptr<Database> db_;
  std::shared_ptr<ClientRegistry> registry_;
};

TEST_F(MysqlClientRegistryTest, ClientsAndCertificatesRoundTrip) {
  ASSERT_TRUE(registry_->CreateClient(MakeClient("zeta")));
  Client acme = MakeClient("acme");
  acme.domain = "o'brien\"; DROP TABLE clients; --";
  ASSERT_TRUE(registry_->CreateClient(acme));
  ASSERT_TRUE(registry_->AddCertificate(MakeCertificate("acme", std::string(64, 'f'), kT0 + 2s)));
  ASSERT_TRUE(registry_->AddCertificate(MakeCertificate("acme", std::string(64, 'e'), kT0 + 1s)));
  ASSERT_TRUE(registry_->AddCertificate(MakeCertificate("zeta", std::string(64, '0'))));

  auto got = registry_->GetClient(acme.id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->domain, acme.domain);
  EXPECT_EQ((*got)->created_at, kT0);
  EXPECT_EQ((*got)->status, ClientStatus::kActive);

  auto clients = registry_->ListClients();
  ASSERT_TRUE(clients);
  ASSERT_EQ(clients->size(), 2u);
  EXPECT_EQ((*clients)[0].id.str(), "acme");

  auto certs = registry_->ListCertificates(acme.id);
  ASSERT_TRUE(certs);
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ((*certs)[0].fingerprint_sha256, std::string(64, 'e'));  // by created_at

  auto identity = registry_->FindByFingerprint(std::string(64, 'f'));
  ASSERT_TRUE(identity && *identity);
  EXPECT_EQ((*identity)->client.id.str(), "acme");
  EXPECT_EQ((*identity)->certificate.not_after, kT0 + std::chrono::hours(24 * 365));
  auto none = registry_->FindByFingerprint("' OR '1'='1");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  auto identities = registry_->ListIdentities();
  ASSERT_TRUE(identities);
  ASSERT_EQ(identities->size(), 3u);
  EXPECT_EQ((*identities)[0].client.id.str(), "acme");
  EXPECT_EQ((*identities)[2].client.id.str(), "zeta");
}

TEST_F(MysqlClientRegistryTest, ErrorsMapToProductCodes) {
  ASSERT_TRUE(registry_->CreateClient(MakeClient("acme")));
  auto taken = registry_->CreateClient(MakeClient("acme"));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kAlreadyExists);

  auto orphan = registry_->AddCertificate(MakeCertificate("nobody", std::string(64, '1')));
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(registry_->AddCertificate(MakeCertificate("acme", std::string(64, '2'))));
  auto known = registry_->AddCertificate(MakeCertificate("acme", std::string(64, '2')));
  ASSERT_FALSE(known);
  EXPECT_EQ(known.error().code, ErrorCode::kAlreadyExists);

  auto unknown = registry_->SetClientStatus(MakeClientId("nobody"), ClientStatus::kSuspended);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

TEST_F(MysqlClientRegistryTest, SetClientStatusTwiceIsOk) {
  ASSERT_TRUE(registry_->CreateClient(MakeClient("acme")));
  ASSERT_TRUE(registry_->SetClientStatus(MakeClientId("acme"), ClientStatus::kSuspended));
  ASSERT_TRUE(registry_->SetClientStatus(MakeClientId("acme"), ClientStatus::kSuspended));
  auto got = registry_->GetClient(MakeClientId("acme"));
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->status, ClientStatus::kSuspended);
}

}  // namespace
}  // namespace msgbroker::storage::testing
