// SqliteDatabase::Open: migrations, schema version checks, file errors and file settings.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string_view>

#include "msgbroker/core/time_format.hpp"
#include "msgbroker/storage/sqlite_database.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage {
namespace {

// Rows in schema_migrations of a fresh database: versions 1 to 4.
constexpr std::int64_t kAppliedMigrations = 4;

namespace fs = std::filesystem;

using ::testing::HasSubstr;
using testing::OpenOrFail;
using testing::OptionsFor;
using testing::RawDb;
using testing::TempDir;

// How an Open that should fail went, as the exit status of a RunAsNobody child.
enum OpenFailure : int {
  kFailedAsExpected = 0,
  kOpened = 1,
  kWrongErrorCode = 2,
  kPathNotNamed = 3,
  kCauseNotNamed = 4,
  kNotReachable = 5,  // nobody cannot get at the files: the test would fail for the wrong reason
};

// Opens the database at `path`: kFailedAsExpected when that failed as kDatabaseUnavailable with a
// message naming the path and `cause`; otherwise `report` says what happened instead.
int OpenFailsUnavailable(const fs::path& path, std::string_view cause, const Clock& clock,
                         std::string& report) {
  auto opened = SqliteDatabase::Open(OptionsFor(path), clock);
  if (opened) {
    report = "Open succeeded as uid " + std::to_string(::geteuid());
    return kOpened;
  }
  const Error& error = opened.error();
  report = std::string(ErrorCodeName(error.code)) + ": " + error.message;
  if (error.code != ErrorCode::kDatabaseUnavailable) return kWrongErrorCode;
  if (error.message.find(path.string()) == std::string::npos) return kPathNotNamed;
  if (error.message.find(cause) == std::string::npos) return kCauseNotNamed;
  return kFailedAsExpected;
}

// For a RunAsNobody body: kFailedAsExpected when nobody has `access` to `path`.
int NobodyCanAccess(const fs::path& path, int access, std::string& report) {
  if (::access(path.c_str(), access) == 0) return kFailedAsExpected;
  report = "nobody lacks access " + std::to_string(access) + " to " + path.string() + ": " +
           std::strerror(errno);
  return kNotReachable;
}

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
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM schema_migrations"), kAppliedMigrations);
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

// A database of schema version 1, its client tables as released, with client "acme" and its
// certificate "fp-old": what an upgrade starts from.
void CreateVersion1Database(const std::filesystem::path& path) {
  RawDb raw(path);
  raw.Exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);"
      "INSERT INTO schema_migrations VALUES (1, 0);"
      "CREATE TABLE clients (id TEXT NOT NULL PRIMARY KEY, domain TEXT NOT NULL, status TEXT "
      "NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')), created_at INTEGER NOT "
      "NULL) STRICT;"
      "CREATE TABLE client_certificates (fingerprint_sha256 TEXT NOT NULL PRIMARY KEY, "
      "client_id TEXT NOT NULL REFERENCES clients (id), serial_hex TEXT NOT NULL, not_before "
      "INTEGER NOT NULL, not_after INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN "
      "('active', 'revoked')), created_at INTEGER NOT NULL) STRICT;"
      "INSERT INTO clients VALUES ('acme', 'acme.example', 'active', 1);"
      "INSERT INTO client_certificates VALUES ('fp-old', 'acme', '0a', 1, 2000, 'active', 1);");
}

// A database at version 1 (before per-client rate limits) gets version 3 on open; its clients keep
// the configured default (NULL columns).
TEST_F(SqliteMigrationsTest, Version3AddsRateLimitColumnsToAnExistingDatabase) {
  CreateVersion1Database(DbPath());
  auto db = OpenOrFail(OptionsFor(DbPath()), clock_);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), SqliteDatabase::LatestSchemaVersion());
  auto client = db->clients()->GetClient(*ClientId::Parse("acme"));
  ASSERT_TRUE(client && *client);
  EXPECT_FALSE((*client)->rate_limit.has_value());
  ASSERT_TRUE(db->clients()->SetClientRateLimit((*client)->id, ClientRateLimit{2, 4}));
  RawDb raw(DbPath());
  EXPECT_EQ(raw.QueryInt("SELECT rate_burst FROM clients WHERE id = 'acme'"), 4);
}

TEST_F(SqliteMigrationsTest, ReopenDoesNotReapplyMigrations) {
  const auto first_open = ToUnixMillis(clock_.Now());
  OpenOrFail(OptionsFor(DbPath()), clock_).reset();
  clock_.Advance(std::chrono::hours(1));
  auto db = OpenOrFail(OptionsFor(DbPath()), clock_);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), SqliteDatabase::LatestSchemaVersion());

  RawDb raw(DbPath());
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM schema_migrations"), kAppliedMigrations);
  EXPECT_EQ(raw.QueryInt("SELECT max(applied_at) FROM schema_migrations"), first_open);
}

// A database of schema version 1 (its client tables as released) with a certificate in it gains
// the lifecycle columns and the service_certificates table, and keeps the certificate.
TEST_F(SqliteMigrationsTest, Version2UpgradesAVersion1DatabaseKeepingItsCertificates) {
  CreateVersion1Database(DbPath());
  auto db = OpenOrFail(OptionsFor(DbPath()), clock_);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), SqliteDatabase::LatestSchemaVersion());
  auto found = db->certificates()->FindByFingerprint("fp-old");
  ASSERT_TRUE(found && *found) << (found ? "not found" : found.error().message);
  EXPECT_EQ((*found)->owner, "acme");
  EXPECT_EQ((*found)->domain, "acme.example");
  EXPECT_EQ((*found)->status, CertificateStatus::kActive);
  EXPECT_FALSE((*found)->revoked_at.has_value());
  EXPECT_FALSE((*found)->revoke_after.has_value());
  auto services = db->certificates()->List({.kind = CertificateKind::kService});
  ASSERT_TRUE(services) << services.error().message;
  EXPECT_EQ(services->total, 0u);
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

// Root ignores permissions, so as root these two hand the temporary directory to nobody (who then
// stands where its owner stands in a run without root) and open the database as nobody.

TEST_F(SqliteMigrationsTest, UnwritableDirectoryIsUnavailableNamingThePath) {
  const bool as_root = ::geteuid() == 0;
  const fs::path locked = dir_.path() / "locked";
  fs::create_directory(locked);
  if (as_root) {
    ASSERT_TRUE(testing::GiveTreeToNobody(dir_.path()));
  }
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  const fs::path path = locked / "broker.db";
  const std::string_view cause = "Permission denied";
  if (as_root) {
    const auto outcome = testing::RunAsNobody([&](std::string& report) {
      if (int reach = NobodyCanAccess(locked, X_OK, report); reach != kFailedAsExpected) {
        return reach;
      }
      return OpenFailsUnavailable(path, cause, clock_, report);
    });
    EXPECT_EQ(outcome.exit_code, kFailedAsExpected) << outcome.report;
    return;
  }
  auto opened = SqliteDatabase::Open(OptionsFor(path), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(opened.error().message, HasSubstr(path.string()));
  EXPECT_THAT(opened.error().message, HasSubstr(cause));
}

TEST_F(SqliteMigrationsTest, ReadOnlyFileIsUnavailableNamingThePath) {
  const bool as_root = ::geteuid() == 0;
  OpenOrFail(OptionsFor(DbPath()), clock_).reset();
  // With the -wal and -shm files, if any were left, so only the database file's mode is in the way.
  if (as_root) {
    ASSERT_TRUE(testing::GiveTreeToNobody(dir_.path()));
  }
  fs::permissions(DbPath(), fs::perms::owner_read);
  const std::string_view cause = "is read-only";
  if (as_root) {
    const auto outcome = testing::RunAsNobody([&](std::string& report) {
      // The directory stays writable, as SQLite needs it for the -wal and -shm files of a
      // writable database: with it locked too, Open would fail even if the file were writable.
      if (int reach = NobodyCanAccess(dir_.path(), W_OK | X_OK, report);
          reach != kFailedAsExpected) {
        return reach;
      }
      if (int reach = NobodyCanAccess(DbPath(), R_OK, report); reach != kFailedAsExpected) {
        return reach;
      }
      return OpenFailsUnavailable(DbPath(), cause, clock_, report);
    });
    EXPECT_EQ(outcome.exit_code, kFailedAsExpected) << outcome.report;
    return;
  }
  auto opened = SqliteDatabase::Open(OptionsFor(DbPath()), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(opened.error().message, HasSubstr(DbPath().string()));
  EXPECT_THAT(opened.error().message, HasSubstr(cause));
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
