#include "mysql_connection.hpp"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <unordered_set>
#include <utility>

#include "sql_stores.hpp"

namespace msgbroker::storage::sql {
namespace {

// A connection keeps at most this many prepared statements; beyond, it closes them all and
// starts over (the multi-row INSERT has one text per row count).
constexpr std::size_t kMaxCachedStatements = 128;
// Rows per multi-row INSERT / per SELECT ... IN (...), and the payload bytes of one INSERT
// (well under the server's max_allowed_packet, 16 MiB by default).
constexpr std::size_t kInsertChunkRows = 250;
constexpr std::size_t kInsertChunkBytes = 4u << 20;
// A batch that keeps colliding with concurrent inserts of the same ids is retried this often.
constexpr int kInsertAttempts = 4;
// Below the read timeout (MysqlConnectOptions::io_timeout), so a long wait is not a lost
// connection.
constexpr std::int64_t kMigrationLockSeconds = 30;
// A per-database lock name (GET_LOCK names are server-wide), within MySQL's 64 characters.
constexpr std::string_view kMigrationLockName =
    "CONCAT('msgbroker_migrations_', LEFT(SHA2(DATABASE(), 256), 32))";
constexpr std::string_view kSessionSetup =
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';"
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;"
    "SET SESSION time_zone = '+00:00'";

void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

unsigned int WholeSeconds(std::chrono::milliseconds ms) {
  const auto seconds = (ms.count() + 999) / 1000;
  return static_cast<unsigned int>(std::clamp<std::int64_t>(seconds, 1, 86'400));
}

bool IsConnectionLost(unsigned code) {
  switch (code) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_COMMANDS_OUT_OF_SYNC:
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
    case 4031:  // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
      return true;
    default:
      return false;
  }
}

// Server messages that quote the offending value: replaced, so errors never carry row contents.
std::string_view WithheldMessage(unsigned code) {
  switch (code) {
    case ER_DUP_ENTRY:
    case ER_DUP_ENTRY_WITH_KEY_NAME:
      return "duplicate key";
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
    case ER_TRUNCATED_WRONG_VALUE:
      return "a value does not fit its column";
    default:
      return {};
  }
}

bool IsIntegerType(enum_field_types type) {
  switch (type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
      return true;
    default:
      return false;
  }
}

constexpr unsigned kBinaryCharset = 63;

bool IsBinaryType(const MYSQL_FIELD& field) {
  switch (field.type) {
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VARCHAR:
      return field.charsetnr == kBinaryCharset;
    default:
      return false;
  }
}

std::string Placeholders(std::size_t n) {
  std::string out = "(";
  for (std::size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ",?";
  out += ')';
  return out;
}

std::size_t PayloadBytes(const StoredMessage& m) {
  return 256 + m.id.str().size() + m.client_id.str().size() + m.sender_hmac.size() +
         m.sender_masked.size() + m.key_id.size() + m.nonce.size() + m.content.size() +
         m.last_error.size();
}

}  // namespace

void MysqlConnection::StatementCloser::operator()(st_mysql_stmt* stmt) const noexcept {
  mysql_stmt_close(stmt);
}

Result<std::unique_ptr<MysqlConnection>> MysqlConnection::Connect(
    const MysqlConnectOptions& options) {
  InitLibraryOnce();
  const std::string endpoint = options.host + ":" + std::to_string(options.port);
  MYSQL* mysql = mysql_init(nullptr);
  if (mysql == nullptr) {
    return Fail(ErrorCode::kDatabaseUnavailable,
                "cannot connect to MySQL/MariaDB at " + endpoint + ": out of memory");
  }
  const unsigned int connect_timeout = WholeSeconds(options.connect_timeout);
  const unsigned int io_timeout = WholeSeconds(options.io_timeout);
  const my_bool off = 0;
  const my_bool on = 1;
  mysql_optionsv(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_optionsv(mysql, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
  mysql_optionsv(mysql, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  mysql_optionsv(mysql, MYSQL_OPT_RECONNECT, &off);
  mysql_optionsv(mysql, MYSQL_OPT_LOCAL_INFILE, &off);
  mysql_optionsv(mysql, MYSQL_ENABLE_CLEARTEXT_PLUGIN, &off);  // never send the password as is
  mysql_optionsv(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (options.tls_required || options.tls_verify_server) {
    mysql_optionsv(mysql, MYSQL_OPT_SSL_ENFORCE, &on);
  }
  if (options.tls_verify_server) mysql_optionsv(mysql, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
  if (!options.tls_ca.empty()) mysql_optionsv(mysql, MYSQL_OPT_SSL_CA, options.tls_ca.c_str());

  const char* database = options.database.empty() ? nullptr : options.database.c_str();
  if (mysql_real_connect(mysql, options.host.c_str(), options.user.c_str(),
                         options.password.c_str(), database, options.port, nullptr,
                         CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS) == nullptr) {
    std::string message = "cannot connect to MySQL/MariaDB at " + endpoint + ": " +
                          mysql_error(mysql) + " (error " + std::to_string(mysql_errno(mysql)) +
                          ")";
    mysql_close(mysql);
    return Fail(ErrorCode::kDatabaseUnavailable, std::move(message));
  }
  // Connector/C 3.3 refuses a server without TLS only when it also verifies the certificate;
  // with ssl-mode=REQUIRED alone it falls back to clear text, which we refuse here.
  if ((options.tls_required || options.tls_verify_server) &&
      mysql_get_ssl_cipher(mysql) == nullptr) {
    mysql_close(mysql);
    return Fail(ErrorCode::kDatabaseUnavailable,
                "cannot connect to MySQL/MariaDB at " + endpoint +
                    ": TLS is required (ssl-mode) but the server did not negotiate it");
  }
  std::unique_ptr<MysqlConnection> connection(new MysqlConnection(mysql, endpoint));
  if (auto set = connection->RunText(kSessionSetup); !set) {
    return tl::unexpected(std::move(set.error()));
  }
  return connection;
}

MysqlConnection::~MysqlConnection() {
  statements_.clear();
  mysql_close(mysql_);
}

std::string MysqlConnection::server_version() const { return mysql_get_server_info(mysql_); }

Error MysqlConnection::Classify(std::string_view what, unsigned code, std::string_view message) {
  switch (code) {
    case ER_DUP_ENTRY:
    case ER_DUP_ENTRY_WITH_KEY_NAME:
      last_error_kind_ = SqlErrorKind::kUniqueViolation;
      break;
    case ER_NO_REFERENCED_ROW_2:
    case ER_NO_REFERENCED_ROW:
      last_error_kind_ = SqlErrorKind::kForeignKeyViolation;
      break;
    default:
      last_error_kind_ = SqlErrorKind::kOther;
      break;
  }
  if (IsConnectionLost(code)) {
    last_error_kind_ = SqlErrorKind::kConnectionLost;
    broken_ = true;
  } else if (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) {
    // A client-side failure leaves the protocol state unknown: let the pool replace us.
    broken_ = true;
  }
  const std::string_view withheld = WithheldMessage(code);
  return Error(ErrorCode::kDatabaseUnavailable,
               "MySQL/MariaDB " + endpoint_ + ": " + std::string(what) + ": " +
                   std::string(withheld.empty() ? message : withheld) + " (error " +
                   std::to_string(code) + ")");
}

Error MysqlConnection::Failed(std::string_view what) {
  return Classify(what, mysql_errno(mysql_), mysql_error(mysql_));
}

Error MysqlConnection::FailedStatement(std::string_view what, st_mysql_stmt* stmt) {
  return Classify(what, mysql_stmt_errno(stmt), mysql_stmt_error(stmt));
}

Status MysqlConnection::RunText(std::string_view sql) {
  if (broken_)
    return Fail(ErrorCode::kDatabaseUnavailable,
                "MySQL/MariaDB " + endpoint_ + ": the connection was lost");
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return tl::unexpected(Failed("query"));
  for (;;) {
    if (MYSQL_RES* result = mysql_store_result(mysql_); result != nullptr) {
      mysql_free_result(result);
    } else if (mysql_field_count(mysql_) != 0) {
      return tl::unexpected(Failed("query"));
    }
    const int next = mysql_next_result(mysql_);
    if (next == -1) break;
    if (next > 0) return tl::unexpected(Failed("query"));
  }
  Succeeded();
  return Ok();
}

Result<st_mysql_stmt*> MysqlConnection::Prepare(std::string_view sql) {
  if (broken_) {
    return Fail(ErrorCode::kDatabaseUnavailable,
                "MySQL/MariaDB " + endpoint_ + ": the connection was lost");
  }
  if (auto found = statements_.find(sql); found != statements_.end()) return found->second.get();
  if (statements_.size() >= kMaxCachedStatements) statements_.clear();
  StatementPtr stmt(mysql_stmt_init(mysql_));
  if (!stmt) return tl::unexpected(Failed("prepare"));
  if (mysql_stmt_prepare(stmt.get(), sql.data(), sql.size()) != 0) {
    return tl::unexpected(FailedStatement("prepare", stmt.get()));
  }
  const my_bool update_max_length = 1;
  mysql_stmt_attr_set(stmt.get(), STMT_ATTR_UPDATE_MAX_LENGTH, &update_max_length);
  st_mysql_stmt* raw = stmt.get();
  statements_.emplace(std::string(sql), std::move(stmt));
  return raw;
}

Status MysqlConnection::Run(st_mysql_stmt* stmt, std::span<const SqlValue> params) {
  const unsigned long expected = mysql_stmt_param_count(stmt);
  if (expected != params.size()) {
    last_error_kind_ = SqlErrorKind::kOther;
    return Fail(ErrorCode::kInternal, "statement expects " + std::to_string(expected) +
                                          " parameters, got " + std::to_string(params.size()));
  }
  std::vector<MYSQL_BIND> binds(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    MYSQL_BIND& bind = binds[i];
    std::visit(
        [&bind](const auto& value) {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            bind.buffer_type = MYSQL_TYPE_NULL;
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            bind.buffer_type = MYSQL_TYPE_LONGLONG;
            bind.buffer = const_cast<std::int64_t*>(&value);  // read only
          } else if constexpr (std::is_same_v<T, std::string>) {
            bind.buffer_type = MYSQL_TYPE_STRING;
            bind.buffer = const_cast<char*>(value.data());  // read only
            bind.buffer_length = value.size();
          } else {
            bind.buffer_type = MYSQL_TYPE_BLOB;
            bind.buffer = const_cast<char*>(value.bytes.data());  // read only
            bind.buffer_length = value.bytes.size();
          }
        },
        params[i]);
  }
  if (!binds.empty() && mysql_stmt_bind_param(stmt, binds.data()) != 0) {
    return tl::unexpected(FailedStatement("bind", stmt));
  }
  if (mysql_stmt_execute(stmt) != 0) return tl::unexpected(FailedStatement("execute", stmt));
  return Ok();
}

Result<SqlRows> MysqlConnection::FetchAll(st_mysql_stmt* stmt) {
  SqlRows rows;
  std::unique_ptr<MYSQL_RES, decltype(&mysql_free_result)> meta(mysql_stmt_result_metadata(stmt),
                                                                &mysql_free_result);
  if (!meta) {
    if (mysql_stmt_errno(stmt) != 0) return tl::unexpected(FailedStatement("fetch", stmt));
    Succeeded();
    return rows;  // a statement without a result set
  }
  if (mysql_stmt_store_result(stmt) != 0) return tl::unexpected(FailedStatement("fetch", stmt));
  struct Freer {
    st_mysql_stmt* stmt;
    ~Freer() { mysql_stmt_free_result(stmt); }
  } freer{stmt};

  const unsigned columns = mysql_num_fields(meta.get());
  const MYSQL_FIELD* fields = mysql_fetch_fields(meta.get());
  std::vector<MYSQL_BIND> binds(columns);
  std::vector<std::int64_t> integers(columns);
  std::vector<std::string> buffers(columns);
  std::vector<unsigned long> lengths(columns);
  std::vector<my_bool> nulls(columns);
  std::vector<my_bool> errors(columns);
  for (unsigned c = 0; c < columns; ++c) {
    MYSQL_BIND& bind = binds[c];
    bind.length = &lengths[c];
    bind.is_null = &nulls[c];
    bind.error = &errors[c];
    if (IsIntegerType(fields[c].type)) {
      bind.buffer_type = MYSQL_TYPE_LONGLONG;
      bind.buffer = &integers[c];
    } else {
      buffers[c].resize(std::max<unsigned long>(fields[c].max_length, 1));
      bind.buffer_type = MYSQL_TYPE_BLOB;
      bind.buffer = buffers[c].data();
      bind.buffer_length = buffers[c].size();
    }
  }
  if (mysql_stmt_bind_result(stmt, binds.data()) != 0) {
    return tl::unexpected(FailedStatement("fetch", stmt));
  }
  rows.Reserve(static_cast<std::size_t>(mysql_stmt_num_rows(stmt)));
  for (;;) {
    const int fetched = mysql_stmt_fetch(stmt);
    if (fetched == MYSQL_NO_DATA) break;
    if (fetched == 1) return tl::unexpected(FailedStatement("fetch", stmt));
    SqlRows::Row row;
    row.reserve(columns);
    for (unsigned c = 0; c < columns; ++c) {
      if (nulls[c]) {
        row.emplace_back(nullptr);
        continue;
      }
      if (binds[c].buffer_type == MYSQL_TYPE_LONGLONG) {
        row.emplace_back(integers[c]);
        continue;
      }
      std::string bytes;
      if (lengths[c] <= buffers[c].size()) {
        bytes.assign(buffers[c].data(), lengths[c]);
      } else {  // MYSQL_DATA_TRUNCATED: fetch this column whole
        bytes.resize(lengths[c]);
        MYSQL_BIND whole{};
        unsigned long length = 0;
        whole.buffer_type = MYSQL_TYPE_BLOB;
        whole.buffer = bytes.data();
        whole.buffer_length = bytes.size();
        whole.length = &length;
        if (mysql_stmt_fetch_column(stmt, &whole, c, 0) != 0) {
          return tl::unexpected(FailedStatement("fetch", stmt));
        }
      }
      if (IsBinaryType(fields[c])) {
        row.emplace_back(SqlBlob{std::move(bytes)});
      } else {
        row.emplace_back(std::move(bytes));
      }
    }
    rows.AddRow(std::move(row));
  }
  Succeeded();
  return rows;
}

Result<std::uint64_t> MysqlConnection::Execute(std::string_view sql,
                                               std::span<const SqlValue> params) {
  auto stmt = Prepare(sql);
  if (!stmt) return tl::unexpected(std::move(stmt.error()));
  if (auto ran = Run(*stmt, params); !ran) return tl::unexpected(std::move(ran.error()));
  const std::uint64_t affected = mysql_stmt_affected_rows(*stmt);
  if (mysql_stmt_field_count(*stmt) != 0) {
    // Rows nobody asked for: read and drop them so the connection stays in sync.
    if (auto drained = FetchAll(*stmt); !drained) return tl::unexpected(drained.error());
    return 0;
  }
  Succeeded();
  return affected;
}

Result<SqlRows> MysqlConnection::Query(std::string_view sql, std::span<const SqlValue> params) {
  auto stmt = Prepare(sql);
  if (!stmt) return tl::unexpected(std::move(stmt.error()));
  if (auto ran = Run(*stmt, params); !ran) return tl::unexpected(std::move(ran.error()));
  return FetchAll(*stmt);
}

Status MysqlConnection::ExecuteScript(std::string_view sql) { return RunText(sql); }

Status MysqlConnection::Begin() { return RunText("START TRANSACTION"); }

// The session runs READ COMMITTED (writes take no gap locks); a snapshot needs REPEATABLE READ,
// set for this one transaction.
Status MysqlConnection::BeginReadSnapshot() {
  return RunText(
      "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;"
      "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
}

Status MysqlConnection::Commit() { return RunText("COMMIT"); }

Status MysqlConnection::Rollback() { return RunText("ROLLBACK"); }

// Which rows are new, in the caller's READ COMMITTED transaction:
//  1. SAVEPOINT;
//  2. SELECT id ... WHERE id IN (...) LOCK IN SHARE MODE, per chunk: the ids that exist. A
//     locking read sees the latest committed rows and waits for a transaction that inserted one
//     of these ids and has not finished; the share lock keeps the found rows in place.
//  3. flags: new = not found and not earlier in this batch;
//  4. one plain multi-row INSERT per chunk of the new rows only (sorted by id, so concurrent
//     batches lock in the same order). No IGNORE: a CHECK, NOT NULL or length error stays an
//     error.
//  5. A concurrent transaction may still insert one of "our" new ids between 2 and 4: our INSERT
//     then waits for it and fails with ER_DUP_ENTRY once it commits. Then ROLLBACK TO SAVEPOINT
//     and start again at 2, which now sees that row (bounded by kInsertAttempts).
Result<std::vector<bool>> MysqlConnection::InsertMessagesIgnoringDuplicates(
    std::span<const StoredMessage> rows) {
  if (rows.empty()) return std::vector<bool>{};
  if (auto saved = RunText("SAVEPOINT msgbroker_insert"); !saved) {
    return tl::unexpected(std::move(saved.error()));
  }
  for (int attempt = 1;; ++attempt) {
    // 2. the ids that exist
    std::unordered_set<std::string> existing;
    for (std::size_t begin = 0; begin < rows.size(); begin += kInsertChunkRows) {
      const std::size_t n = std::min(kInsertChunkRows, rows.size() - begin);
      std::vector<SqlValue> ids;
      ids.reserve(n);
      for (std::size_t i = begin; i < begin + n; ++i) ids.emplace_back(rows[i].id.str());
      auto found = Query(
          "SELECT id FROM messages WHERE id IN " + Placeholders(n) + " LOCK IN SHARE MODE", ids);
      if (!found) return tl::unexpected(std::move(found.error()));
      for (std::size_t r = 0; r < found->size(); ++r) existing.emplace(found->Text(r, 0));
    }
    // 3. the flags
    std::vector<bool> inserted(rows.size(), false);
    std::vector<std::size_t> fresh;
    std::unordered_set<std::string_view> seen;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::string& id = rows[i].id.str();
      if (existing.contains(id) || !seen.insert(id).second) continue;
      inserted[i] = true;
      fresh.push_back(i);
    }
    std::sort(fresh.begin(), fresh.end(),
              [rows](std::size_t a, std::size_t b) { return rows[a].id.str() < rows[b].id.str(); });
    // 4. the inserts
    bool collided = false;
    for (std::size_t begin = 0; begin < fresh.size() && !collided;) {
      std::size_t end = begin;
      std::size_t bytes = 0;
      while (end < fresh.size() && end - begin < kInsertChunkRows &&
             (end == begin || bytes + PayloadBytes(rows[fresh[end]]) <= kInsertChunkBytes)) {
        bytes += PayloadBytes(rows[fresh[end]]);
        ++end;
      }
      std::string sql = "INSERT INTO messages (" + std::string(kMessageColumns) + ") VALUES ";
      std::vector<SqlValue> params;
      params.reserve((end - begin) * kMessageColumnCount);
      const std::string row_placeholders = Placeholders(kMessageColumnCount);
      for (std::size_t k = begin; k < end; ++k) {
        if (k != begin) sql += ',';
        sql += row_placeholders;
        for (SqlValue& value : MessageParams(rows[fresh[k]])) params.push_back(std::move(value));
      }
      auto done = Execute(sql, params);
      if (!done) {
        if (last_error_kind_ != SqlErrorKind::kUniqueViolation) {
          return tl::unexpected(std::move(done.error()));
        }
        collided = true;
      }
      begin = end;
    }
    if (!collided) {
      Succeeded();
      return inserted;
    }
    // 5. a concurrent insert of the same id won the race: look again.
    spdlog::debug("event=mysql_insert_collision endpoint={} attempt={} rows={}", endpoint_, attempt,
                  rows.size());
    if (attempt == kInsertAttempts) {
      return Fail(ErrorCode::kDatabaseUnavailable,
                  "MySQL/MariaDB " + endpoint_ +
                      ": concurrent inserts of the same message ids kept colliding");
    }
    if (auto undone = RunText("ROLLBACK TO SAVEPOINT msgbroker_insert"); !undone) {
      return tl::unexpected(std::move(undone.error()));
    }
  }
}

Result<bool> MysqlConnection::TableExists(std::string_view table) {
  const SqlValue name{std::string(table)};
  auto rows = Query(
      "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND "
      "table_name = ?",
      std::span(&name, 1));
  if (!rows) return tl::unexpected(std::move(rows.error()));
  return rows->Int64(0, 0).value_or(0) > 0;
}

Status MysqlConnection::AcquireMigrationLock() {
  const SqlValue timeout{kMigrationLockSeconds};
  auto rows =
      Query("SELECT GET_LOCK(" + std::string(kMigrationLockName) + ", ?)", std::span(&timeout, 1));
  if (!rows) return tl::unexpected(std::move(rows.error()));
  if (rows->Int64(0, 0) != 1) {
    last_error_kind_ = SqlErrorKind::kOther;
    return Fail(ErrorCode::kDatabaseUnavailable,
                "MySQL/MariaDB " + endpoint_ + ": timed out after " +
                    std::to_string(kMigrationLockSeconds) +
                    " s waiting for the migration lock (another process is migrating)");
  }
  return Ok();
}

Status MysqlConnection::ReleaseMigrationLock() {
  auto rows = Query("SELECT RELEASE_LOCK(" + std::string(kMigrationLockName) + ")");
  if (!rows) return tl::unexpected(std::move(rows.error()));
  return Ok();
}

}  // namespace msgbroker::storage::sql
