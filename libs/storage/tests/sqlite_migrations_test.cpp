// SqliteDatabase::Open: migrations, schema version checks, file errors and file settings.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "msgbroker/core/time_format.hpp"
#include "msgbroker/storage/sqlite_database.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage {
namespace {

namespace fs = std::filesystem;

using ::testing::HasSubstr;
using testing::OpenOrFail;
using testing::OptionsFor;
using testing::RawDb;
using testing::TempDir;

class SqliteMigrationsTest : public ::testing::Test {
 protected:
  fs::path DbPath() const { return dir_.path() / "broker.db"; }

  TempDir dir_;
  FakeClock clock_;
};

TEST_F(SqliteMigrationsTest, FreshOpenAppliesEveryMigration) {
  auto db = OpenOrFail(OptionsFor(DbPath()), clock_);
  ASSERT_NE(db, nullptr);
  EXPECT_GE(SqliteDatabase::LatestSchemaVersion(), 1);
  EXPECT_EQ(db->schema_version(), SqliteDatabase::LatestSchemaVersion());

  RawDb raw(DbPath());
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM schema_migrations"),
            SqliteDatabase::LatestSchemaVersion());
  EXPECT_EQ(raw.QueryInt("SELECT max(version) FROM schema_migrations"),
            SqliteDatabase::LatestSchemaVersion());
  EXPECT_EQ(raw.QueryInt("SELECT min(applied_at) FROM schema_migrations"),
            ToUnixMillis(clock_.Now()));
  for (const char* table : {"messages", "clients", "client_certificates"}) {
    EXPECT_EQ(raw.QueryInt(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                       "AND name = '") +
                           table + "'"),
              1)
        << table;
  }
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND "
                         "tbl_name = 'messages' AND sql IS NOT NULL"),
            4);
  EXPECT_EQ(raw.QueryText("PRAGMA journal_mode"), "wal");
}

TEST_F(SqliteMigrationsTest, ReopenDoesNotReapplyMigrations) {
  const auto first_open = ToUnixMillis(clock_.Now());
  OpenOrFail(OptionsFor(DbPath()), clock_).reset();
  clock_.Advance(std::chrono::hours(1));
  auto db = OpenOrFail(OptionsFor(DbPath()), clock_);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), SqliteDatabase::LatestSchemaVersion());

  RawDb raw(DbPath());
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM schema_migrations"),
            SqliteDatabase::LatestSchemaVersion());
  EXPECT_EQ(raw.QueryInt("SELECT max(applied_at) FROM schema_migrations"), first_open);
}

TEST_F(SqliteMigrationsTest, NewerSchemaIsRefusedAsCorrupted) {
  OpenOrFail(OptionsFor(DbPath()), clock_).reset();
  const int newer = SqliteDatabase::LatestSchemaVersion() + 1;
  RawDb(DbPath()).Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (" +
                       std::to_string(newer) + ", 0)");

  auto opened = SqliteDatabase::Open(OptionsFor(DbPath()), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDataCorrupted);
  EXPECT_THAT(opened.error().message,
              HasSubstr("database schema version " + std::to_string(newer) +
                        " is newer than this program supports (" +
                        std::to_string(SqliteDatabase::LatestSchemaVersion()) + ")"));
  EXPECT_THAT(opened.error().message, HasSubstr(DbPath().string()));
}

TEST_F(SqliteMigrationsTest, PendingMigrationWithMigrateOffIsAnError) {
  auto options = OptionsFor(DbPath());
  options.migrate = false;
  auto opened = SqliteDatabase::Open(options, clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(opened.error().message, HasSubstr(DbPath().string()));
  EXPECT_THAT(opened.error().message, HasSubstr("migrations are disabled"));

  // Nothing was created in the file.
  RawDb raw(DbPath());
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM sqlite_schema"), 0);
}

TEST_F(SqliteMigrationsTest, MigrateOffOpensAnUpToDateDatabase) {
  OpenOrFail(OptionsFor(DbPath()), clock_).reset();
  auto options = OptionsFor(DbPath());
  options.migrate = false;
  auto db = OpenOrFail(options, clock_);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), SqliteDatabase::LatestSchemaVersion());
  EXPECT_TRUE(db->messages()->Ping());
}

TEST_F(SqliteMigrationsTest, MissingDirectoryIsUnavailableNamingThePath) {
  const fs::path path = dir_.path() / "missing" / "broker.db";
  auto opened = SqliteDatabase::Open(OptionsFor(path), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(opened.error().message, HasSubstr(path.string()));
}

TEST_F(SqliteMigrationsTest, UnwritableDirectoryIsUnavailableNamingThePath) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  const fs::path locked = dir_.path() / "locked";
  fs::create_directory(locked);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  const fs::path path = locked / "broker.db";
  auto opened = SqliteDatabase::Open(OptionsFor(path), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(opened.error().message, HasSubstr(path.string()));
}

TEST_F(SqliteMigrationsTest, ReadOnlyFileIsUnavailableNamingThePath) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
  OpenOrFail(OptionsFor(DbPath()), clock_).reset();
  fs::permissions(DbPath(), fs::perms::owner_read);
  auto opened = SqliteDatabase::Open(OptionsFor(DbPath()), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(opened.error().message, HasSubstr(DbPath().string()));
}

TEST_F(SqliteMigrationsTest, DirectoryPathIsUnavailableNamingThePath) {
  const fs::path path = dir_.path() / "adir";
  fs::create_directory(path);
  auto opened = SqliteDatabase::Open(OptionsFor(path), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(opened.error().message, HasSubstr(path.string()));
}

TEST_F(SqliteMigrationsTest, FileThatIsNotADatabaseIsCorrupted) {
  {
    std::ofstream out(DbPath(), std::ios::binary);
    out << std::string(4096, 'x');
  }
  auto opened = SqliteDatabase::Open(OptionsFor(DbPath()), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDataCorrupted);
  EXPECT_THAT(opened.error().message, HasSubstr(DbPath().string()));
}

TEST_F(SqliteMigrationsTest, MemoryDatabaseIsRefused) {
  auto opened = SqliteDatabase::Open(OptionsFor(":memory:"), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
}

TEST_F(SqliteMigrationsTest, FilesAreOwnerOnlyWhateverTheUmask) {
  const mode_t old_umask = ::umask(0);
  auto db = OpenOrFail(OptionsFor(DbPath()), clock_);
  ::umask(old_umask);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->messages()->InsertBatch(std::vector{testing::MakeMessage(clock_.Now())}));
  for (const fs::path& path : {DbPath(), fs::path(DbPath().string() + "-wal")}) {
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
  }
}

TEST_F(SqliteMigrationsTest, ZeroReaderConnectionsStillServeReads) {
  auto options = OptionsFor(DbPath());
  options.reader_connections = 0;
  auto db = OpenOrFail(options, clock_);
  ASSERT_NE(db, nullptr);
  EXPECT_TRUE(db->messages()->Ping());
}

}  // namespace
}  // namespace msgbroker::storage
