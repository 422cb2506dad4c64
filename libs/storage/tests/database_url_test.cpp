// ParseDatabaseUrl, DescribeDatabaseUrl and OpenDatabase's dispatch; the shared SQL layer's
// helpers (placeholders, typed rows) and its connection pool on fake connections.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "msgbroker/storage/database.hpp"
#include "sql_connection.hpp"
#include "sql_connection_pool.hpp"

namespace msgbroker::storage {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

DatabaseUrl ParseOk(std::string_view text) {
  auto url = ParseDatabaseUrl(text);
  EXPECT_TRUE(url) << text << ": " << url.error().message;
  return url ? *url : DatabaseUrl{};
}

Error ParseError(std::string_view text) {
  auto url = ParseDatabaseUrl(text);
  EXPECT_FALSE(url) << text;
  return url ? Error{} : url.error();
}

TEST(DatabaseUrl, PostgresWithEverything) {
  const DatabaseUrl url =
      ParseOk("postgresql://app:s3cr%40t%3Apw@db.example:6543/broker?sslmode=require&x=a%20b");
  EXPECT_EQ(url.scheme, "postgresql");
  EXPECT_EQ(url.user, "app");
  EXPECT_EQ(url.password, "s3cr@t:pw");
  EXPECT_EQ(url.host, "db.example");
  EXPECT_EQ(url.port, 6543);
  EXPECT_EQ(url.database, "broker");
  EXPECT_EQ(url.params, (std::map<std::string, std::string>{{"sslmode", "require"}, {"x", "a b"}}));
  EXPECT_EQ(DescribeDatabaseUrl(url), "postgresql://app@db.example:6543/broker");
}

TEST(DatabaseUrl, SchemeAliasesAndDefaults) {
  EXPECT_EQ(ParseOk("postgres://h/db").scheme, "postgresql");
  EXPECT_EQ(ParseOk("POSTGRESQL://h/db").scheme, "postgresql");
  EXPECT_EQ(ParseOk("mariadb://u@h/db").scheme, "mysql");
  EXPECT_EQ(ParseOk("mysql+pymysql://systemuser:pw@localhost/message_system").scheme, "mysql");
  const DatabaseUrl url = ParseOk("mysql://h");
  EXPECT_EQ(url.scheme, "mysql");
  EXPECT_EQ(url.host, "h");
  EXPECT_EQ(url.port, 0);
  EXPECT_EQ(url.user, "");
  EXPECT_EQ(url.password, "");
  EXPECT_EQ(url.database, "");
}

TEST(DatabaseUrl, UserWithoutPasswordAndIpv6Host) {
  const DatabaseUrl url = ParseOk("postgresql://app@[::1]:5433/db");
  EXPECT_EQ(url.user, "app");
  EXPECT_EQ(url.password, "");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 5433);
  EXPECT_EQ(DescribeDatabaseUrl(url), "postgresql://app@[::1]:5433/db");
  // An '@' in the password must be escaped, but the last '@' separates the host anyway.
  EXPECT_EQ(ParseOk("postgresql://u:p@ss@h/db").password, "p@ss");
}

TEST(DatabaseUrl, SqlitePaths) {
  DatabaseUrl url = ParseOk("sqlite:///var/lib/msgbroker/broker.db");
  EXPECT_EQ(url.scheme, "sqlite");
  EXPECT_EQ(url.database, "/var/lib/msgbroker/broker.db");
  EXPECT_EQ(ParseOk("sqlite:data/broker.db").database, "data/broker.db");
  EXPECT_EQ(ParseOk("sqlite:/abs/with%20space.db").database, "/abs/with space.db");
  EXPECT_EQ(DescribeDatabaseUrl(url), "sqlite:/var/lib/msgbroker/broker.db");
  EXPECT_THAT(ParseError("sqlite://relative/path").message, HasSubstr("three slashes"));
  EXPECT_THAT(ParseError("sqlite:").message, HasSubstr("empty"));
}

TEST(DatabaseUrl, ErrorsAreClearAndNeverRepeatThePassword) {
  for (const char* bad : {"postgresql://u:hunter2@h:0/db", "postgresql://u:hunter2@h:99999/db",
                          "postgresql://u:hunter2@h:port/db", "postgresql://u:hunter2@h:/db",
                          "postgresql://u:hunter2%zz@h/db", "postgresql://u:hunter2@[::1/db",
                          "postgresql://u:hunter2@h/a/b", "oracle://u:hunter2@h/db",
                          "u:hunter2@h/db", "postgresql:u:hunter2@h/db", "nocolon"}) {
    const Error error = ParseError(bad);
    EXPECT_EQ(error.code, ErrorCode::kInvalidRequest) << bad;
    EXPECT_EQ(error.field, "url") << bad;
    EXPECT_THAT(error.message, Not(HasSubstr("hunter2"))) << bad;
    EXPECT_FALSE(error.message.empty());
  }
  EXPECT_THAT(ParseError("postgresql://h:0/db").message, HasSubstr("port"));
  EXPECT_THAT(ParseError("postgresql://u:p%4@h/db").message, HasSubstr("password"));
  EXPECT_THAT(ParseError("redis://h").message, HasSubstr("unsupported scheme 'redis'"));
}

TEST(OpenDatabase, RefusesAnUnknownSchemeAndABadUrl) {
  DatabaseOptions options;
  options.url = "oracle://h/db";
  auto refused = OpenDatabase(options, SystemClock::Instance());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidRequest);
  options.url = "";
  EXPECT_FALSE(OpenDatabase(options, SystemClock::Instance()));
}

TEST(SqlLayer, NumbersPlaceholdersOutsideQuotes) {
  EXPECT_EQ(sql::NumberPlaceholders("SELECT a FROM t WHERE b = ? AND c = '?' AND \"d?\" = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND \"d?\" = $2");
  EXPECT_EQ(sql::NumberPlaceholders("VALUES (?,?),(?,?)"), "VALUES ($1,$2),($3,$4)");
  EXPECT_EQ(sql::NumberPlaceholders("SELECT 'it''s ?', ?"), "SELECT 'it''s ?', $1");
}

TEST(SqlLayer, RowsHaveTypedGetters) {
  sql::SqlRows rows;
  rows.AddRow({std::int64_t{42}, std::string("17"), std::string("x1"), nullptr,
               sql::SqlBlob{std::string("\0a", 2)}});
  EXPECT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.Int64(0, 0), 42);
  EXPECT_EQ(rows.Int64(0, 1), 17);  // the text protocol's integers
  EXPECT_EQ(rows.Int64(0, 2), std::nullopt);
  EXPECT_EQ(rows.Int64(0, 3), std::nullopt);
  EXPECT_TRUE(rows.IsNull(0, 3));
  EXPECT_TRUE(rows.IsNull(0, 99));  // out of range reads as NULL
  EXPECT_EQ(rows.Text(0, 4), std::string_view("\0a", 2));
  EXPECT_EQ(rows.Blob(0, 4), std::string("\0a", 2));
  EXPECT_EQ(rows.Text(0, 0), "");
}

// A connection that only knows whether it has been broken.
class FakeConnection final : public sql::SqlConnection {
 public:
  explicit FakeConnection(std::atomic<int>& closed) : closed_(closed) {}
  ~FakeConnection() override { ++closed_; }
  Result<std::uint64_t> Execute(std::string_view, std::span<const sql::SqlValue>) override {
    return 0;
  }
  Result<sql::SqlRows> Query(std::string_view, std::span<const sql::SqlValue>) override {
    return sql::SqlRows{};
  }
  Status ExecuteScript(std::string_view) override { return Ok(); }
  Status Begin() override { return Ok(); }
  Status BeginReadSnapshot() override { return Ok(); }
  Status Commit() override { return Ok(); }
  Status Rollback() override { return Ok(); }
  Result<std::vector<bool>> InsertMessagesIgnoringDuplicates(
      std::span<const StoredMessage> rows) override {
    return std::vector<bool>(rows.size(), true);
  }
  Result<bool> TableExists(std::string_view) override { return false; }
  Status AcquireMigrationLock() override { return Ok(); }
  Status ReleaseMigrationLock() override { return Ok(); }
  sql::SqlErrorKind LastErrorKind() const noexcept override { return sql::SqlErrorKind::kNone; }
  bool Broken() const noexcept override { return broken; }

  bool broken = false;

 private:
  std::atomic<int>& closed_;
};

struct FakeServer {
  std::atomic<int> opened{0};
  std::atomic<int> closed{0};
  std::atomic<bool> down{false};
  sql::SqlConnector connector() {
    return [this]() -> Result<std::unique_ptr<sql::SqlConnection>> {
      if (down) return Fail(ErrorCode::kDatabaseUnavailable, "cannot connect to fake:1");
      ++opened;
      return std::unique_ptr<sql::SqlConnection>(new FakeConnection(closed));
    };
  }
};

TEST(SqlConnectionPool, OpensOnDemandAndReuses) {
  FakeServer server;
  sql::SqlConnectionPool pool(server.connector(), 2, std::chrono::milliseconds(100));
  EXPECT_EQ(server.opened, 0);
  for (int i = 0; i < 5; ++i) {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease);
  }
  EXPECT_EQ(server.opened, 1);
  {
    auto a = pool.Acquire();
    auto b = pool.Acquire();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(pool.open_connections(), 2u);
  }
  EXPECT_EQ(server.opened, 2);
}

TEST(SqlConnectionPool, AnExhaustedPoolWaitsThenTimesOut) {
  FakeServer server;
  sql::SqlConnectionPool pool(server.connector(), 1, std::chrono::milliseconds(200));
  auto held = pool.Acquire();
  ASSERT_TRUE(held);
  const auto start = std::chrono::steady_clock::now();
  auto refused = pool.Acquire();
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(refused.error().message, HasSubstr("timed out waiting for a database connection"));
  EXPECT_GE(waited, std::chrono::milliseconds(190));
  EXPECT_LT(waited, std::chrono::seconds(2));
}

TEST(SqlConnectionPool, AWaiterGetsTheReleasedConnection) {
  FakeServer server;
  sql::SqlConnectionPool pool(server.connector(), 1, std::chrono::seconds(5));
  std::optional<sql::SqlConnectionPool::Lease> held;
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease);
    held.emplace(std::move(*lease));
  }
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    held.reset();
  });
  auto next = pool.Acquire();
  releaser.join();
  ASSERT_TRUE(next);
  EXPECT_EQ(server.opened, 1);
}

TEST(SqlConnectionPool, BrokenConnectionsAreClosedAndReplaced) {
  FakeServer server;
  sql::SqlConnectionPool pool(server.connector(), 1, std::chrono::milliseconds(100));
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease);
    static_cast<FakeConnection&>(**lease).broken = true;
  }
  EXPECT_EQ(server.closed, 1);
  EXPECT_EQ(pool.open_connections(), 0u);
  auto fresh = pool.Acquire();
  ASSERT_TRUE(fresh);
  EXPECT_FALSE((*fresh)->Broken());
  EXPECT_EQ(server.opened, 2);
}

TEST(SqlConnectionPool, AFailedConnectFreesItsSlot) {
  FakeServer server;
  server.down = true;
  sql::SqlConnectionPool pool(server.connector(), 1, std::chrono::milliseconds(100));
  auto refused = pool.Acquire();
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("cannot connect"));
  server.down = false;
  EXPECT_TRUE(pool.Acquire());
}

}  // namespace
}  // namespace msgbroker::storage
