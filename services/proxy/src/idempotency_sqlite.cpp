// The local idempotency store of `msgbroker up`: one SQLite file in the data directory, in WAL
// mode, written by the store's own thread only. A row per (client id, key hash); expires_at is the
// lease end for a claim and the end of the ttl for a completed answer, so one purge removes both.
// synchronous=NORMAL: a process crash loses nothing that was committed; a power loss may lose the
// last answers, which only means a retry is processed again, with the same message ids.

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "idempotency_store_base.hpp"

namespace msgbroker::proxy {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS idempotency_keys (
  client_id TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
  fingerprint TEXT NOT NULL,
  token TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  content_type TEXT NOT NULL DEFAULT '',
  body BLOB NOT NULL DEFAULT x'',
  PRIMARY KEY (client_id, key_hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_keys_expires_at ON idempotency_keys (expires_at);
)sql";

// Rows purged per statement, and claims between purges.
constexpr int kPurgeBatch = 1000;
constexpr int kClaimsPerPurge = 256;

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Statement& Bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& BindBlob(int i, std::string_view data) {
    sqlite3_bind_blob(stmt_, i, data.data(), static_cast<int>(data.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int i, std::int64_t value) {
    sqlite3_bind_int64(stmt_, i, value);
    return *this;
  }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int column) {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    const int n = sqlite3_column_bytes(stmt_, column);
    return data == nullptr ? std::string() : std::string(data, static_cast<std::size_t>(n));
  }
  std::int64_t Int(int column) { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteIdempotencyStore final : public BlockingIdempotencyStore {
 public:
  SqliteIdempotencyStore(sqlite3* db, IdempotencyOptions options, const Clock& clock)
      : BlockingIdempotencyStore(options, clock), db_(db) {}
  ~SqliteIdempotencyStore() override {
    StopThread();
    sqlite3_close_v2(db_);
  }

  Status Init() {
    if (auto ok = Exec("PRAGMA journal_mode=WAL"); !ok) return ok;
    if (auto ok = Exec("PRAGMA synchronous=NORMAL"); !ok) return ok;
    if (auto ok = Exec(kSchema); !ok) return ok;
    if (auto purged = Purge(); !purged) return tl::unexpected(purged.error());
    StartThread();
    return Ok();
  }

 protected:
  Result<ClaimResult> Claim(const IdempotencyScope& scope, const std::string& fingerprint,
                            const std::string& token) override {
    if (++claims_ % kClaimsPerPurge == 0) {
      if (auto purged = Purge(); !purged) return tl::unexpected(purged.error());
    }
    const auto now = NowMs();
    if (auto ok = Exec("BEGIN IMMEDIATE"); !ok) return tl::unexpected(ok.error());
    auto result = ClaimInTransaction(scope, fingerprint, token, now);
    if (!result) {
      (void)Exec("ROLLBACK");
      return result;
    }
    if (auto ok = Exec("COMMIT"); !ok) {
      (void)Exec("ROLLBACK");
      return tl::unexpected(ok.error());
    }
    return result;
  }

  Status Complete(const IdempotencyScope& scope, const std::string& token,
                  const StoredAnswer& answer) override {
    Statement s(db_,
                "UPDATE idempotency_keys SET state = 'completed', expires_at = ?1, status = ?2, "
                "content_type = ?3, body = ?4 WHERE client_id = ?5 AND key_hash = ?6 AND "
                "token = ?7 AND state = 'in_flight'");
    if (!s.ok()) return Failure("prepare");
    s.Bind(1, NowMs() + TtlMs())
        .Bind(2, static_cast<std::int64_t>(answer.status))
        .Bind(3, answer.content_type)
        .BindBlob(4, answer.body)
        .Bind(5, scope.client_id)
        .Bind(6, scope.key_hash)
        .Bind(7, token);
    if (s.Step() != SQLITE_DONE) return Failure("complete");
    return Ok();
  }

  Status Release(const IdempotencyScope& scope, const std::string& token) override {
    Statement s(db_,
                "DELETE FROM idempotency_keys WHERE client_id = ?1 AND key_hash = ?2 AND "
                "token = ?3 AND state = 'in_flight'");
    if (!s.ok()) return Failure("prepare");
    s.Bind(1, scope.client_id).Bind(2, scope.key_hash).Bind(3, token);
    if (s.Step() != SQLITE_DONE) return Failure("release");
    return Ok();
  }

 private:
  Result<ClaimResult> ClaimInTransaction(const IdempotencyScope& scope,
                                         const std::string& fingerprint, const std::string& token,
                                         std::int64_t now) {
    {
      Statement s(db_,
                  "SELECT state, fingerprint, status, content_type, body FROM idempotency_keys "
                  "WHERE client_id = ?1 AND key_hash = ?2 AND expires_at > ?3");
      if (!s.ok()) return tl::unexpected(Failure("prepare").error());
      s.Bind(1, scope.client_id).Bind(2, scope.key_hash).Bind(3, now);
      const int rc = s.Step();
      if (rc == SQLITE_ROW) {
        ClaimResult live;
        live.state = s.Text(0) == "completed" ? ClaimState::kCompleted : ClaimState::kInFlight;
        live.fingerprint = s.Text(1);
        live.answer.status = static_cast<unsigned>(s.Int(2));
        live.answer.content_type = s.Text(3);
        live.answer.body = s.Text(4);
        return live;
      }
      if (rc != SQLITE_DONE) return tl::unexpected(Failure("claim").error());
    }
    Statement s(db_,
                "INSERT OR REPLACE INTO idempotency_keys (client_id, key_hash, state, fingerprint, "
                "token, expires_at) VALUES (?1, ?2, 'in_flight', ?3, ?4, ?5)");
    if (!s.ok()) return tl::unexpected(Failure("prepare").error());
    s.Bind(1, scope.client_id)
        .Bind(2, scope.key_hash)
        .Bind(3, fingerprint)
        .Bind(4, token)
        .Bind(5, now + LeaseMs());
    if (s.Step() != SQLITE_DONE) return tl::unexpected(Failure("claim").error());
    return ClaimResult{ClaimState::kClaimed, fingerprint, {}};
  }

  // Deletes expired rows, kPurgeBatch at a time, until none is left.
  Result<std::size_t> Purge() {
    std::size_t total = 0;
    for (;;) {
      Statement s(db_,
                  "DELETE FROM idempotency_keys WHERE (client_id, key_hash) IN (SELECT client_id, "
                  "key_hash FROM idempotency_keys WHERE expires_at <= ?1 LIMIT ?2)");
      if (!s.ok()) return tl::unexpected(Failure("prepare").error());
      s.Bind(1, NowMs()).Bind(2, static_cast<std::int64_t>(kPurgeBatch));
      if (s.Step() != SQLITE_DONE) return tl::unexpected(Failure("purge").error());
      const auto n = static_cast<std::size_t>(sqlite3_changes(db_));
      total += n;
      if (n < static_cast<std::size_t>(kPurgeBatch)) break;
    }
    if (total > 0) spdlog::debug("event=idempotency_purged rows={}", total);
    return total;
  }

  Status Exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message != nullptr ? message : sqlite3_errmsg(db_);
      sqlite3_free(message);
      return Fail(ErrorCode::kServiceUnavailable, "idempotency store: " + text);
    }
    return Ok();
  }

  Status Failure(std::string_view what) {
    return Fail(ErrorCode::kServiceUnavailable,
                "idempotency store: " + std::string(what) + ": " + sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  std::uint64_t claims_ = 0;
};

}  // namespace

Result<std::unique_ptr<IdempotencyStore>> OpenSqliteIdempotencyStore(
    const std::filesystem::path& file, IdempotencyOptions options, const Clock& clock) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Fail(ErrorCode::kServiceUnavailable,
                "idempotency store " + file.string() + ": " + reason);
  }
  sqlite3_busy_timeout(db, 5000);
  auto store = std::make_unique<SqliteIdempotencyStore>(db, options, clock);
  if (auto ok = store->Init(); !ok) {
    return Fail(ErrorCode::kServiceUnavailable,
                "idempotency store " + file.string() + ": " + ok.error().message);
  }
  return std::unique_ptr<IdempotencyStore>(std::move(store));
}

}  // namespace msgbroker::proxy
