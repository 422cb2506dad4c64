#include "sqlite_connection.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace msgbroker::storage::sqlite {
namespace {

ErrorCode CodeFor(int result) noexcept {
  switch (result & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kDataCorrupted;
    default:
      return ErrorCode::kDatabaseUnavailable;
  }
}

// SQLite treats a null pointer as NULL, so an empty value gets a non-null one.
const char* NonNull(std::string_view value) noexcept {
  return value.data() == nullptr ? "" : value.data();
}

}  // namespace

Statement::Statement(Statement&& other) noexcept
    : connection_(other.connection_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_result_(other.bind_result_),
      last_result_(other.last_result_) {}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Statement::Bind(int index, std::int64_t value) noexcept {
  const int result = sqlite3_bind_int64(stmt_, index, value);
  if (bind_result_ == SQLITE_OK) bind_result_ = result;
}

void Statement::BindText(int index, std::string_view value) noexcept {
  const int result =
      sqlite3_bind_text64(stmt_, index, NonNull(value), value.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (bind_result_ == SQLITE_OK) bind_result_ = result;
}

void Statement::BindBlob(int index, std::string_view value) noexcept {
  const int result = sqlite3_bind_blob64(stmt_, index, NonNull(value), value.size(), SQLITE_STATIC);
  if (bind_result_ == SQLITE_OK) bind_result_ = result;
}

void Statement::BindNull(int index) noexcept {
  const int result = sqlite3_bind_null(stmt_, index);
  if (bind_result_ == SQLITE_OK) bind_result_ = result;
}

Result<bool> Statement::Step() {
  if (bind_result_ != SQLITE_OK) {
    last_result_ = bind_result_;
    return tl::unexpected(connection_->LastError());
  }
  last_result_ = sqlite3_step(stmt_);
  if (last_result_ == SQLITE_ROW) return true;
  if (last_result_ == SQLITE_DONE) return false;
  return tl::unexpected(connection_->LastError());
}

Status Statement::Run() {
  auto stepped = Step();
  if (!stepped) return tl::unexpected(std::move(stepped.error()));
  return Ok();
}

void Statement::Reset() noexcept {
  sqlite3_reset(stmt_);
  bind_result_ = SQLITE_OK;
}

bool Statement::IsNull(int column) const noexcept {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::Int64(int column) const noexcept {
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), size);
}

std::string Statement::Blob(int column) const {
  const auto* blob = sqlite3_column_blob(stmt_, column);
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
  return blob == nullptr ? std::string() : std::string(static_cast<const char*>(blob), size);
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::filesystem::path& path,
                                                     const ConnectionOptions& options) {
  const int flags = SQLITE_OPEN_READWRITE | (options.writer ? SQLITE_OPEN_CREATE : 0) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  sqlite3* db = nullptr;
  const int opened = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  // The handle is owned from here on, whatever happened: sqlite3_close_v2 accepts a failed one.
  std::unique_ptr<Connection> connection(new Connection(db, path.string()));
  if (db == nullptr) {
    return Fail(ErrorCode::kDatabaseUnavailable,
                "cannot open database " + path.string() + ": " + sqlite3_errstr(opened));
  }
  if (opened != SQLITE_OK) {
    Error error = connection->LastError();
    error.message = "cannot open " + error.message;
    return tl::unexpected(std::move(error));
  }
  if (options.writer && sqlite3_db_readonly(db, "main") == 1) {
    return Fail(ErrorCode::kDatabaseUnavailable,
                "database " + path.string() + " is read-only: the file is not writable");
  }
  const auto timeout_ms = std::clamp<std::chrono::milliseconds::rep>(
      options.busy_timeout.count(), 0, std::numeric_limits<int>::max());
  sqlite3_busy_timeout(db, static_cast<int>(timeout_ms));
  const char* pragmas = options.writer ? "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"
                                       : "PRAGMA foreign_keys = ON; PRAGMA query_only = ON;";
  if (auto set = connection->Execute(pragmas); !set) return tl::unexpected(std::move(set.error()));
  return connection;
}

Connection::~Connection() {
  statements_.clear();
  sqlite3_close_v2(db_);
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  auto found = statements_.find(sql);
  if (found == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int prepared = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                            SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (prepared != SQLITE_OK) return tl::unexpected(LastError());
    found = statements_.emplace(std::string(sql), stmt).first;
  }
  return Statement(*this, found->second.get());
}

Status Connection::Execute(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return tl::unexpected(LastError());
  }
  return Ok();
}

std::int64_t Connection::changes() const noexcept { return sqlite3_changes64(db_); }

bool Connection::in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

Error Connection::LastError() const {
  return Error(CodeFor(sqlite3_extended_errcode(db_)),
               "database " + path_ + ": " + sqlite3_errmsg(db_));
}

Transaction::~Transaction() {
  if (open_ && connection_.in_transaction()) {
    // Nothing useful can be done if the rollback fails: the connection reports the next error.
    static_cast<void>(connection_.Execute("ROLLBACK"));
  }
}

Status Transaction::Begin(TransactionKind kind) {
  auto begun = connection_.Execute(kind == TransactionKind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
  open_ = static_cast<bool>(begun);
  return begun;
}

Status Transaction::Commit() {
  auto committed = connection_.Execute("COMMIT");
  if (committed) open_ = false;
  return committed;
}

}  // namespace msgbroker::storage::sqlite
