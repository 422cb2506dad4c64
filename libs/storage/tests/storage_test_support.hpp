#pragma once
// Shared by the storage tests: a temporary directory, a raw SQLite connection to poke at the file
// behind the adapter's back, a builder for message rows, and a way to run a check as an
// unprivileged user when the tests run as root.

#include <grp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
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

// Root ignores file and directory permissions, so a test about them that runs as root (as CI does)
// does its check in a forked child that has become `nobody`.
inline constexpr uid_t kNobodyUid = 65534;
inline constexpr gid_t kNobodyGid = 65534;

// Exit statuses RunAsNobody keeps for itself; a body returns its own, smaller, codes.
inline constexpr int kChildCannotDropPrivileges = 125;
inline constexpr int kChildThrew = 126;

struct ChildOutcome {
  int exit_code = -1;  // the child's exit status; -1 when it did not exit normally
  std::string report;  // what the child said about its outcome, or why there is no exit status
};

// Forks a child that drops every group, then its gid, then its uid to nobody, makes sure it is no
// longer root, runs `body` and exits with its return value after sending `report` back through a
// pipe. The child leaves with _exit: no gtest code, atexit handler or destructor of the parent's
// objects (say, a TempDir) runs in it, so `body` must report through its return value and `report`,
// never through gtest assertions. Call it only while the process has a single thread.
inline ChildOutcome RunAsNobody(const std::function<int(std::string& report)>& body) {
  ChildOutcome outcome;
  int fds[2];
  if (::pipe(fds) != 0) {
    outcome.report = std::string("pipe failed: ") + std::strerror(errno);
    return outcome;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    outcome.report = std::string("fork failed: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return outcome;
  }
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    int code = kChildCannotDropPrivileges;
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobodyGid) != 0 || ::setuid(kNobodyUid) != 0) {
      report = std::string("cannot become nobody: ") + std::strerror(errno);
    } else if (::geteuid() == 0 || ::getuid() == 0 || ::getegid() == 0) {
      report = "still root after dropping privileges";
    } else {
      try {
        code = body(report);
      } catch (const std::exception& e) {
        code = kChildThrew;
        report = std::string("threw: ") + e.what();
      } catch (...) {
        code = kChildThrew;
        report = "threw a non-standard exception";
      }
    }
    for (std::size_t sent = 0; sent < report.size();) {
      const ssize_t n = ::write(fds[1], report.data() + sent, report.size() - sent);
      if (n <= 0 && errno != EINTR) break;
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  char buffer[512];
  for (;;) {
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n > 0) {
      outcome.report.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      outcome.report += std::string(" (waitpid failed: ") + std::strerror(errno) + ")";
      return outcome;
    }
  }
  if (WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.report += std::string(" (child killed by signal ") + std::to_string(WTERMSIG(status)) +
                      ": " + ::strsignal(WTERMSIG(status)) + ")";
  }
  return outcome;
}

// Hands `root` and everything under it to nobody, so that nobody stands where the owner of the
// temporary directory stands in a run without root. False, with a gtest failure, when it cannot.
inline bool GiveTreeToNobody(const fs::path& root) {
  std::error_code ec;
  auto give = [](const fs::path& path) {
    if (::lchown(path.c_str(), kNobodyUid, kNobodyGid) == 0) return true;
    ADD_FAILURE() << "cannot chown " << path << " to nobody: " << std::strerror(errno);
    return false;
  };
  if (!give(root)) return false;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!give(it->path())) return false;
  }
  if (ec) ADD_FAILURE() << "cannot list " << root << ": " << ec.message();
  return !ec;
}

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
