#pragma once
// Shared by the storage tests: a temporary directory, a raw SQLite connection to poke at the file
// behind the adapter's back, and a builder for message rows.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/storage/sqlite_database.hpp"

namespace msgbroker::storage::testing {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "msgbroker-storage-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A plain sqlite3 connection for setting up and inspecting a database file in tests.
class RawDb {
 public:
  explicit RawDb(const fs::path& path, int busy_timeout_ms = 5'000) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path.string());
    }
    sqlite3_busy_timeout(db_, busy_timeout_ms);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void Exec(const std::string& sql) {
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
  }
  // The first column of the first row as text ("" when there is no row).
  std::string QueryText(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return {};
    }
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::int64_t QueryInt(const std::string& sql) { return std::stoll("0" + QueryText(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

inline SqliteOptions OptionsFor(const fs::path& path) {
  SqliteOptions options;
  options.path = path;
  options.reader_connections = 2;
  options.busy_timeout = std::chrono::milliseconds(2'000);
  return options;
}

inline std::shared_ptr<SqliteDatabase> OpenOrFail(const SqliteOptions& options,
                                                  const Clock& clock) {
  auto opened = SqliteDatabase::Open(options, clock);
  EXPECT_TRUE(opened) << opened.error().message;
  return opened ? *opened : nullptr;
}

inline ClientId MakeClientId(std::string_view id) {
  auto parsed = ClientId::Parse(id);
  if (!parsed) throw std::invalid_argument("bad client id in test");
  return *parsed;
}

// A delivered message queued at `queued_at` (stored 5 s later), with ciphertext-like bytes.
inline StoredMessage MakeMessage(SystemTime queued_at, std::string_view client = "acme") {
  StoredMessage m;
  m.id = MessageId::Generate(queued_at);
  m.client_id = MakeClientId(client);
  m.status = MessageStatus::kDelivered;
  m.sender_hmac = std::string(64, 'a');
  m.sender_masked = "+4915****5678";
  m.key_id = "k1";
  m.nonce = std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 12);
  m.content = std::string(
      "\x00\x10\x20"
      "ciphertext\xff",
      14);
  m.attempts = 1;
  m.queued_at = queued_at;
  m.delivered_at = queued_at + std::chrono::seconds(4);
  m.stored_at = queued_at + std::chrono::seconds(5);
  return m;
}

inline void ExpectSameMessage(const StoredMessage& actual, const StoredMessage& expected) {
  EXPECT_EQ(actual.id, expected.id);
  EXPECT_EQ(actual.client_id, expected.client_id);
  EXPECT_EQ(actual.status, expected.status);
  EXPECT_EQ(actual.sender_hmac, expected.sender_hmac);
  EXPECT_EQ(actual.sender_masked, expected.sender_masked);
  EXPECT_EQ(actual.key_id, expected.key_id);
  EXPECT_EQ(actual.nonce, expected.nonce);
  EXPECT_EQ(actual.content, expected.content);
  EXPECT_EQ(actual.attempts, expected.attempts);
  EXPECT_EQ(actual.last_error, expected.last_error);
  EXPECT_EQ(actual.queued_at, expected.queued_at);
  EXPECT_EQ(actual.delivered_at, expected.delivered_at);
  EXPECT_EQ(actual.failed_at, expected.failed_at);
  EXPECT_EQ(actual.stored_at, expected.stored_at);
}

}  // namespace msgbroker::storage::testing
