// PostgreSQL: the Database contract (database_contract_test.cpp) against the test server
// (tests/servers/postgres.sh), each test in its own schema (search_path in the URL), and what only
// a server has: a bounded pool, unreachable servers, wrong passwords, dropped connections.
// Settings come from the fixture; without them the tests fail, they never skip.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "database_contract.hpp"
#include "msgbroker/testing/test_servers.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string RandomSuffix() {
  static const char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 12; ++i) out += kHex[rd() % 16];
  return out;
}

// A schema of its own in the fixture's database, dropped at the end; an admin connection to it.
class PostgresBackend final : public TestBackend {
 public:
  static std::unique_ptr<PostgresBackend> Make() {
    auto base = msgbroker::testing::TestServerSetting("postgres", "DATABASE_URL");
    if (!base) {
      ADD_FAILURE() << base.error().message;
      return nullptr;
    }
    auto backend = std::unique_ptr<PostgresBackend>(new PostgresBackend(*base));
    if (PQstatus(backend->admin_) != CONNECTION_OK) {
      ADD_FAILURE() << "cannot connect to the test server: " << PQerrorMessage(backend->admin_);
      return nullptr;
    }
    PQsetNoticeProcessor(
        backend->admin_, [](void*, const char*) {}, nullptr);
    backend->Exec("CREATE SCHEMA " + backend->schema_);
    backend->Exec("SET search_path TO " + backend->schema_);
    return backend;
  }
  ~PostgresBackend() override {
    if (PQstatus(admin_) == CONNECTION_OK) {
      if (PQtransactionStatus(admin_) != PQTRANS_IDLE) PQclear(PQexec(admin_, "ROLLBACK"));
      PQclear(PQexec(admin_, ("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE").c_str()));
    }
    PQfinish(admin_);
  }

  std::string url() const override {
    return base_url_ + "?options=-c%20search_path%3D" + schema_ + "&application_name=" + schema_;
  }
  const std::string& base_url() const { return base_url_; }
  const std::string& schema() const { return schema_; }

  void Exec(const std::string& sql) override {
    PGresult* result = PQexec(admin_, sql.c_str());
    const auto status = PQresultStatus(result);
    EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        << sql << ": " << PQresultErrorMessage(result);
    PQclear(result);
  }
  std::int64_t QueryInt(const std::string& sql) override {
    PGresult* result = PQexec(admin_, sql.c_str());
    std::int64_t value = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0) {
      value = std::stoll(PQgetvalue(result, 0, 0));
    } else {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(result);
    }
    PQclear(result);
    return value;
  }
  void RejectKeyId(const std::string& key_id) override {
    Exec("ALTER TABLE messages ADD CONSTRAINT reject_key_id CHECK (key_id <> '" + key_id + "')");
  }

 private:
  explicit PostgresBackend(std::string base_url)
      : base_url_(std::move(base_url)),
        schema_("t_" + RandomSuffix()),
        admin_(PQconnectdb(base_url_.c_str())) {}

  std::string base_url_;
  std::string schema_;
  PGconn* admin_;
};

std::unique_ptr<TestBackend> MakePostgresBackend() { return PostgresBackend::Make(); }

INSTANTIATE_TEST_SUITE_P(Postgres, DatabaseContractTest,
                         ::testing::Values(BackendParam{"postgresql", MakePostgresBackend}),
                         BackendParamName);

// A loopback port nobody listens on (bound, then released).
std::uint16_t ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = PostgresBackend::Make();
    ASSERT_NE(backend_, nullptr);
  }
  DatabaseOptions Options(std::size_t pool_size = 4) const {
    DatabaseOptions options;
    options.url = backend_->url();
    options.pool_size = pool_size;
    return options;
  }
  FakeClock clock_;
  std::unique_ptr<PostgresBackend> backend_;
};

TEST_F(PostgresTest, AnExhaustedPoolWaitsBoundedlyThenFails) {
  DatabaseOptions options = Options(1);
  options.pool_wait = std::chrono::milliseconds(300);
  auto db = OpenDatabase(options, clock_);
  ASSERT_TRUE(db) << db.error().message;
  auto store = (*db)->messages();
  const StoredMessage m = MakeMessage(clock_.Now());
  ASSERT_TRUE(store->InsertBatch(std::vector<StoredMessage>{m}));

  // The only connection blocks behind a table lock held by the admin connection.
  backend_->Exec("BEGIN");
  backend_->Exec("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE");
  std::thread holder([&] {
    auto got = store->Get(m.id);
    EXPECT_TRUE(got && *got);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  auto refused = store->Ping();
  const auto waited = std::chrono::steady_clock::now() - start;
  backend_->Exec("COMMIT");
  holder.join();

  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(refused.error().message, HasSubstr("timed out waiting for a database connection"));
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::seconds(3));
  EXPECT_TRUE(store->Ping());
}

TEST_F(PostgresTest, AnUnreachableServerIsAClearError) {
  const std::uint16_t port = ClosedPort();
  DatabaseOptions options;
  options.url = "postgresql://app:Secret-Pw-123@127.0.0.1:" + std::to_string(port) + "/broker";
  options.connect_timeout = std::chrono::milliseconds(2'000);
  const auto start = std::chrono::steady_clock::now();
  auto refused = OpenDatabase(options, clock_);
  ASSERT_FALSE(refused);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(refused.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(refused.error().message,
              HasSubstr("cannot connect to PostgreSQL at 127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(refused.error().message, Not(HasSubstr("Secret-Pw-123")));
}

TEST_F(PostgresTest, AWrongPasswordIsRefusedWithoutRepeatingIt) {
  auto url = ParseDatabaseUrl(backend_->base_url());
  ASSERT_TRUE(url);
  DatabaseOptions options;
  options.url = "postgresql://" + url->user + ":Wrong-Pw-987@" + url->host + ":" +
                std::to_string(url->port) + "/" + url->database;
  auto refused = OpenDatabase(options, clock_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(refused.error().message, HasSubstr("password authentication failed"));
  EXPECT_THAT(refused.error().message, Not(HasSubstr("Wrong-Pw-987")));
  EXPECT_THAT(refused.error().message, Not(HasSubstr(backend_->base_url())));
}

TEST_F(PostgresTest, AnUnknownConnectionParameterIsNamed) {
  DatabaseOptions options = Options();
  options.url += "&bogus_option=1";
  auto refused = OpenDatabase(options, clock_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(refused.error().message, HasSubstr("bogus_option"));
}

TEST_F(PostgresTest, DroppedConnectionsAreReplaced) {
  auto db = OpenDatabase(Options(2), clock_);
  ASSERT_TRUE(db) << db.error().message;
  auto store = (*db)->messages();
  ASSERT_TRUE(store->Ping());
  backend_->QueryInt(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" +
      backend_->schema() + "'");
  // The call on a dropped connection fails and the pool discards it; a fresh one follows.
  bool recovered = false;
  for (int attempt = 0; attempt < 3 && !recovered; ++attempt) {
    auto pinged = store->Ping();
    if (!pinged) {
      EXPECT_EQ(pinged.error().code, ErrorCode::kDatabaseUnavailable);
    }
    recovered = pinged.has_value();
  }
  EXPECT_TRUE(recovered);
  const StoredMessage m = MakeMessage(clock_.Now());
  auto inserted = store->InsertBatch(std::vector<StoredMessage>{m});
  ASSERT_TRUE(inserted) << inserted.error().message;
}

TEST_F(PostgresTest, TheSchemaUsesPostgresTypes) {
  auto db = OpenDatabase(Options(), clock_);
  ASSERT_TRUE(db) << db.error().message;
  const std::string schema = backend_->schema();
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM information_schema.columns WHERE "
                               "table_schema = '" +
                               schema +
                               "' AND table_name = 'messages' AND column_name IN ('nonce', "
                               "'content') AND data_type = 'bytea'"),
            2);
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM pg_indexes WHERE schemaname = '" + schema +
                               "' AND tablename = 'messages'"),
            5);  // the primary key and the four list indexes
}

}  // namespace
}  // namespace msgbroker::storage::testing
