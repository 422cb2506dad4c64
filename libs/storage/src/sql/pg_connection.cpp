#include "pg_connection.hpp"

#include <endian.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_set>

#include "sql_stores.hpp"

namespace msgbroker::storage::sql {
namespace {

// Type OIDs (pg_type.dat) of the parameters we send and the columns we read.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;
constexpr Oid kVoidOid = 2278;

constexpr int kBinary = 1;
constexpr std::size_t kMaxPreparedStatements = 256;
constexpr std::size_t kMaxPreparedInserts = 16;  // of which multi-row message inserts
// One INSERT carries at most this many rows (and PostgreSQL allows at most 65535 parameters).
constexpr std::size_t kMaxRowsPerInsert = 1000;
static_assert(kMaxRowsPerInsert * kMessageColumnCount < 65535);
// pg_advisory_lock key of the migrations: "msgbmigr".
constexpr std::int64_t kMigrationLockKey = 0x6d7367626d696772;

// libpq's messages end in a newline and may span lines; one line reads better in logs.
std::string OneLine(const char* message) {
  std::string out = message != nullptr ? message : "";
  for (char& c : out) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  std::string squeezed;
  for (char c : out) {
    if (c == ' ' && !squeezed.empty() && squeezed.back() == ' ') continue;
    squeezed += c;
  }
  return squeezed;
}

// The parameters of one call in libpq's arrays.
class Params {
 public:
  explicit Params(std::span<const SqlValue> values) {
    const std::size_t n = values.size();
    integers_.resize(n);
    types_.resize(n);
    data_.resize(n);
    lengths_.resize(n);
    formats_.assign(n, kBinary);
    for (std::size_t i = 0; i < n; ++i) {
      const SqlValue& value = values[i];
      if (const auto* number = std::get_if<std::int64_t>(&value)) {
        const std::uint64_t big = htobe64(static_cast<std::uint64_t>(*number));
        std::memcpy(integers_[i].data(), &big, sizeof big);
        types_[i] = kInt8Oid;
        data_[i] = integers_[i].data();
        lengths_[i] = 8;
      } else if (const auto* text = std::get_if<std::string>(&value)) {
        types_[i] = kTextOid;
        data_[i] = text->data();
        lengths_[i] = static_cast<int>(text->size());
      } else if (const auto* blob = std::get_if<SqlBlob>(&value)) {
        types_[i] = kByteaOid;
        data_[i] = blob->bytes.data();
        lengths_[i] = static_cast<int>(blob->bytes.size());
      } else {
        types_[i] = 0;  // NULL: the server infers the type
        data_[i] = nullptr;
        lengths_[i] = 0;
      }
    }
  }
  int count() const noexcept { return static_cast<int>(types_.size()); }
  const Oid* types() const noexcept { return types_.data(); }
  const char* const* values() const noexcept { return data_.data(); }
  const int* lengths() const noexcept { return lengths_.data(); }
  const int* formats() const noexcept { return formats_.data(); }

 private:
  std::vector<std::array<char, 8>> integers_;
  std::vector<Oid> types_;
  std::vector<const char*> data_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

std::int64_t BigEndian(const char* bytes, int length) noexcept {
  if (length == 8) {
    std::uint64_t v = 0;
    std::memcpy(&v, bytes, 8);
    return static_cast<std::int64_t>(be64toh(v));
  }
  if (length == 4) {
    std::uint32_t v = 0;
    std::memcpy(&v, bytes, 4);
    return static_cast<std::int32_t>(be32toh(v));
  }
  if (length == 2) {
    std::uint16_t v = 0;
    std::memcpy(&v, bytes, 2);
    return static_cast<std::int16_t>(be16toh(v));
  }
  return length == 1 ? static_cast<std::int64_t>(bytes[0] != 0) : 0;
}

// Reads a binary-format result into SqlRows.
SqlRows ToRows(const PGresult* result) {
  SqlRows rows;
  const int n_rows = PQntuples(result);
  const int n_columns = PQnfields(result);
  rows.Reserve(static_cast<std::size_t>(n_rows));
  for (int r = 0; r < n_rows; ++r) {
    SqlRows::Row row;
    row.reserve(static_cast<std::size_t>(n_columns));
    for (int c = 0; c < n_columns; ++c) {
      if (PQgetisnull(result, r, c)) {
        row.emplace_back(nullptr);
        continue;
      }
      const char* bytes = PQgetvalue(result, r, c);
      const int length = PQgetlength(result, r, c);
      switch (PQftype(result, c)) {
        case kBoolOid:
        case kInt2Oid:
        case kInt4Oid:
        case kInt8Oid:
          row.emplace_back(BigEndian(bytes, length));
          break;
        case kByteaOid:
          row.emplace_back(SqlBlob{std::string(bytes, static_cast<std::size_t>(length))});
          break;
        case kVoidOid:
          row.emplace_back(nullptr);
          break;
        default:  // text, varchar, name: their binary form is their bytes
          row.emplace_back(std::string(bytes, static_cast<std::size_t>(length)));
          break;
      }
    }
    rows.AddRow(std::move(row));
  }
  return rows;
}

}  // namespace

Result<std::unique_ptr<SqlConnection>> PgConnection::Open(
    const DatabaseUrl& url, std::chrono::milliseconds connect_timeout) {
  const std::string where = (url.host.empty() ? std::string("localhost") : url.host) + ":" +
                            std::to_string(url.port != 0 ? url.port : 5432);
  // libpq counts whole seconds and treats 1 as 2.
  const auto timeout_s = std::max<std::int64_t>(2, (connect_timeout.count() + 999) / 1000);
  std::vector<std::pair<std::string, std::string>> settings;
  if (!url.host.empty()) settings.emplace_back("host", url.host);
  if (url.port != 0) settings.emplace_back("port", std::to_string(url.port));
  if (!url.user.empty()) settings.emplace_back("user", url.user);
  if (!url.password.empty()) settings.emplace_back("password", url.password);
  if (!url.database.empty()) settings.emplace_back("dbname", url.database);
  settings.emplace_back("connect_timeout", std::to_string(timeout_s));
  settings.emplace_back("fallback_application_name", "msgbroker");
  settings.emplace_back("client_encoding", "UTF8");
  for (const auto& [key, value] : url.params) settings.emplace_back(key, value);
  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const auto& [key, value] : settings) {
    keywords.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);

  PGconn* connection = PQconnectdbParams(keywords.data(), values.data(), 0);
  if (connection == nullptr) {
    return Fail(ErrorCode::kDatabaseUnavailable,
                "cannot connect to PostgreSQL at " + where + ": out of memory");
  }
  if (PQstatus(connection) != CONNECTION_OK) {
    std::string message =
        "cannot connect to PostgreSQL at " + where + ": " + OneLine(PQerrorMessage(connection));
    PQfinish(connection);
    return Fail(ErrorCode::kDatabaseUnavailable, std::move(message));
  }
  // Server notices (e.g. "there is no transaction in progress") would go to stderr otherwise.
  PQsetNoticeProcessor(
      connection, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<SqlConnection>(new PgConnection(connection, where));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::Broken() const noexcept { return PQstatus(conn_) != CONNECTION_OK; }

Error PgConnection::Failure(const PGresult* result) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string_view sqlstate = state != nullptr ? state : "";
  if (sqlstate == "23505") {
    last_error_ = SqlErrorKind::kUniqueViolation;
  } else if (sqlstate == "23503") {
    last_error_ = SqlErrorKind::kForeignKeyViolation;
  } else if (Broken() || sqlstate.starts_with("08") || sqlstate.starts_with("57P")) {
    last_error_ = SqlErrorKind::kConnectionLost;
  } else {
    last_error_ = SqlErrorKind::kOther;
  }
  // The primary message names tables and constraints; DETAIL may quote values, so it is left out.
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = "PostgreSQL at " + where_ + ": ";
  message += primary != nullptr ? OneLine(primary) : OneLine(PQerrorMessage(conn_));
  if (!sqlstate.empty()) message += " (SQLSTATE " + std::string(sqlstate) + ")";
  return Error(ErrorCode::kDatabaseUnavailable, std::move(message));
}

Result<PgConnection::PgResult> PgConnection::Check(PgResult result) {
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    last_error_ = SqlErrorKind::kNone;
    return result;
  }
  return tl::unexpected(Failure(result.get()));
}

Result<PgConnection::PgResult> PgConnection::Run(std::string_view sql,
                                                 std::span<const SqlValue> params, bool prepare) {
  const Params p(params);
  std::string key(prepare ? sql : std::string_view());
  auto found = prepare ? prepared_.find(key) : prepared_.end();
  if (prepare && found == prepared_.end() && prepared_.size() < kMaxPreparedStatements) {
    std::string name = "mb" + std::to_string(prepared_.size());
    const std::string text = NumberPlaceholders(sql);
    auto prepared =
        Check(PgResult(PQprepare(conn_, name.c_str(), text.c_str(), p.count(), p.types())));
    if (!prepared) return prepared;
    found = prepared_.emplace(std::move(key), std::move(name)).first;
  }
  if (found != prepared_.end()) {
    return Check(PgResult(PQexecPrepared(conn_, found->second.c_str(), p.count(), p.values(),
                                         p.lengths(), p.formats(), kBinary)));
  }
  const std::string text = NumberPlaceholders(sql);
  return Check(PgResult(PQexecParams(conn_, text.c_str(), p.count(), p.types(), p.values(),
                                     p.lengths(), p.formats(), kBinary)));
}

Result<PgConnection::PgResult> PgConnection::RunSimple(const char* sql) {
  return Check(PgResult(PQexec(conn_, sql)));
}

Result<std::uint64_t> PgConnection::Execute(std::string_view sql,
                                            std::span<const SqlValue> params) {
  auto result = Run(sql, params);
  if (!result) return tl::unexpected(std::move(result.error()));
  const char* affected = PQcmdTuples(result->get());
  return affected != nullptr && *affected != '\0' ? std::stoull(affected) : 0;
}

Result<SqlRows> PgConnection::Query(std::string_view sql, std::span<const SqlValue> params) {
  auto result = Run(sql, params);
  if (!result) return tl::unexpected(std::move(result.error()));
  return ToRows(result->get());
}

Status PgConnection::ExecuteScript(std::string_view sql) {
  auto result = RunSimple(std::string(sql).c_str());
  if (!result) return tl::unexpected(std::move(result.error()));
  return Ok();
}

Status PgConnection::Begin() { return ExecuteScript("BEGIN"); }

Status PgConnection::BeginReadSnapshot() {
  return ExecuteScript("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

Status PgConnection::Commit() {
  auto result = RunSimple("COMMIT");
  if (!result) return tl::unexpected(std::move(result.error()));
  // COMMIT of a transaction that already failed reports success with the tag ROLLBACK.
  if (std::string_view(PQcmdStatus(result->get())) == "ROLLBACK") {
    last_error_ = SqlErrorKind::kOther;
    return Fail(ErrorCode::kDatabaseUnavailable,
                "PostgreSQL at " + where_ + ": the transaction was rolled back");
  }
  return Ok();
}

Status PgConnection::Rollback() { return ExecuteScript("ROLLBACK"); }

Result<std::vector<bool>> PgConnection::InsertMessagesIgnoringDuplicates(
    std::span<const StoredMessage> rows) {
  std::vector<bool> inserted;
  inserted.reserve(rows.size());
  std::vector<SqlValue> params;
  std::string sql;
  for (std::size_t start = 0; start < rows.size(); start += kMaxRowsPerInsert) {
    const std::span<const StoredMessage> chunk =
        rows.subspan(start, std::min(kMaxRowsPerInsert, rows.size() - start));
    sql = "INSERT INTO messages (";
    sql += kMessageColumns;
    sql += ") VALUES ";
    params.clear();
    params.reserve(chunk.size() * kMessageColumnCount);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      sql += i == 0 ? "(" : ",(";
      for (std::size_t c = 0; c < kMessageColumnCount; ++c) sql += c == 0 ? "?" : ",?";
      sql += ")";
      for (SqlValue& value : MessageParams(chunk[i])) params.push_back(std::move(value));
    }
    sql += " ON CONFLICT (id) DO NOTHING RETURNING id";
    // Prepared once per chunk size: measured faster than an unnamed statement planned on every
    // call. A long VALUES list makes a big plan, so only the first kMaxPreparedInserts sizes a
    // connection meets are kept; other sizes run unnamed.
    const bool cached = prepared_.contains(sql);
    const bool prepare = cached || prepared_inserts_ < kMaxPreparedInserts;
    if (!cached && prepare) ++prepared_inserts_;
    auto result = Run(sql, params, prepare);
    if (!result) return tl::unexpected(std::move(result.error()));
    const SqlRows returned = ToRows(result->get());
    std::unordered_set<std::string_view> new_ids;
    new_ids.reserve(returned.size());
    for (std::size_t r = 0; r < returned.size(); ++r) new_ids.insert(returned.Text(r, 0));
    // The first of two equal ids in a batch is the one inserted.
    for (const StoredMessage& m : chunk) inserted.push_back(new_ids.erase(m.id.str()) > 0);
  }
  return inserted;
}

Result<bool> PgConnection::TableExists(std::string_view table) {
  const SqlValue params[] = {SqlValue(std::string(table))};
  auto rows = Query("SELECT to_regclass(?) IS NOT NULL", params);
  if (!rows) return tl::unexpected(std::move(rows.error()));
  return rows->Int64(0, 0).value_or(0) != 0;
}

Status PgConnection::AcquireMigrationLock() {
  const SqlValue params[] = {SqlValue(kMigrationLockKey)};
  auto locked = Execute("SELECT pg_advisory_lock(?)", params);
  if (!locked) return tl::unexpected(std::move(locked.error()));
  return Ok();
}

Status PgConnection::ReleaseMigrationLock() {
  const SqlValue params[] = {SqlValue(kMigrationLockKey)};
  auto unlocked = Execute("SELECT pg_advisory_unlock(?)", params);
  if (!unlocked) return tl::unexpected(std::move(unlocked.error()));
  return Ok();
}

}  // namespace msgbroker::storage::sql
