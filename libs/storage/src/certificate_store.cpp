#include <algorithm>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>

#include "certificate_store_impl.hpp"
#include "msgbroker/core/time_format.hpp"

namespace msgbroker::storage {

std::string_view CertificateKindName(CertificateKind kind) noexcept {
  return kind == CertificateKind::kService ? "service" : "client";
}

namespace {

using sql::SqlRows;
using sql::SqlValue;

constexpr std::uint64_t kMaxPageSize = 500;
constexpr std::size_t kColumns = 11;

// The 11 columns of a CertificateRecord, from either table under the alias `cc`.
constexpr std::string_view kSelectClient =
    "SELECT cc.fingerprint_sha256, cc.serial_hex, cc.client_id, c.domain, cc.not_before,"
    " cc.not_after, cc.status, cc.revoked_at, cc.revocation_reason, cc.revoke_after,"
    " cc.created_at FROM client_certificates cc JOIN clients c ON c.id = cc.client_id";
constexpr std::string_view kCountClient =
    "SELECT count(*) FROM client_certificates cc JOIN clients c ON c.id = cc.client_id";
constexpr std::string_view kSelectService =
    "SELECT cc.fingerprint_sha256, cc.serial_hex, cc.role, cc.dns_names, cc.not_before,"
    " cc.not_after, cc.status, cc.revoked_at, cc.revocation_reason, cc.revoke_after,"
    " cc.created_at FROM service_certificates cc";
constexpr std::string_view kCountService = "SELECT count(*) FROM service_certificates cc";
constexpr std::string_view kInsertService =
    "INSERT INTO service_certificates (fingerprint_sha256, serial_hex, role, dns_names,"
    " not_before, not_after, status, revoked_at, revocation_reason, revoke_after, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

std::string_view Table(CertificateKind kind) {
  return kind == CertificateKind::kService ? "service_certificates" : "client_certificates";
}
std::string_view Select(CertificateKind kind) {
  return kind == CertificateKind::kService ? kSelectService : kSelectClient;
}

SqlValue Text(std::string_view text) { return SqlValue(std::string(text)); }
SqlValue Millis(SystemTime t) { return SqlValue(ToUnixMillis(t)); }
SqlValue OptionalMillis(const std::optional<SystemTime>& t) {
  return t ? Millis(*t) : SqlValue(nullptr);
}

Error Corrupted(const std::string& fingerprint) {
  return Error(ErrorCode::kDataCorrupted, "stored certificate " + fingerprint + " is invalid");
}

Result<CertificateRecord> ReadRecord(CertificateKind kind, const SqlRows& rows, std::size_t row) {
  CertificateRecord record;
  record.kind = kind;
  record.fingerprint_sha256 = std::string(rows.Text(row, 0));
  record.serial_hex = std::string(rows.Text(row, 1));
  record.owner = std::string(rows.Text(row, 2));
  record.domain = std::string(rows.Text(row, 3));
  const auto not_before = rows.Int64(row, 4);
  const auto not_after = rows.Int64(row, 5);
  const auto created_at = rows.Int64(row, 10);
  if (!not_before || !not_after || !created_at) {
    return tl::unexpected(Corrupted(record.fingerprint_sha256));
  }
  record.not_before = FromUnixMillis(*not_before);
  record.not_after = FromUnixMillis(*not_after);
  record.created_at = FromUnixMillis(*created_at);
  const std::string_view status = rows.Text(row, 6);
  if (status == CertificateStatusName(CertificateStatus::kActive)) {
    record.status = CertificateStatus::kActive;
  } else if (status == CertificateStatusName(CertificateStatus::kRevoked)) {
    record.status = CertificateStatus::kRevoked;
  } else {
    return tl::unexpected(Corrupted(record.fingerprint_sha256));
  }
  for (const auto& [column, target] : {std::pair{std::size_t{7}, &record.revoked_at},
                                       std::pair{std::size_t{9}, &record.revoke_after}}) {
    if (rows.IsNull(row, column)) continue;
    const auto ms = rows.Int64(row, column);
    if (!ms) return tl::unexpected(Corrupted(record.fingerprint_sha256));
    *target = FromUnixMillis(*ms);
  }
  record.revocation_reason = std::string(rows.Text(row, 8));
  return record;
}

Result<std::vector<CertificateRecord>> ReadRecords(CertificateKind kind, const SqlRows& rows) {
  std::vector<CertificateRecord> out;
  out.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto record = ReadRecord(kind, rows, i);
    if (!record) return tl::unexpected(std::move(record.error()));
    out.push_back(std::move(*record));
  }
  return out;
}

// What the store needs from a backend: statements with `?` placeholders and bound values.
class Runner {
 public:
  using QueryFn =
      std::function<Result<SqlRows>(std::string_view, std::span<const SqlValue>, std::size_t)>;
  virtual ~Runner() = default;
  // One writing statement; the number of rows it changed (or matched).
  virtual Result<std::uint64_t> Execute(std::string_view text,
                                        std::span<const SqlValue> params) = 0;
  // `body` runs its queries (text, params, column count) on one read snapshot.
  virtual Status Read(const std::function<Status(const QueryFn&)>& body) = 0;
};

class SqliteRunner final : public Runner {
 public:
  explicit SqliteRunner(std::shared_ptr<sqlite::ConnectionPool> pool) : pool_(std::move(pool)) {}

  Result<std::uint64_t> Execute(std::string_view text, std::span<const SqlValue> params) override {
    return pool_->WithWriter([&](sqlite::Connection& connection) -> Result<std::uint64_t> {
      auto stmt = Prepared(connection, text, params);
      if (!stmt) return tl::unexpected(std::move(stmt.error()));
      if (auto ran = stmt->Run(); !ran) return tl::unexpected(std::move(ran.error()));
      return static_cast<std::uint64_t>(connection.changes());
    });
  }

  Status Read(const std::function<Status(const QueryFn&)>& body) override {
    return pool_->WithReader([&](sqlite::Connection& connection) -> Status {
      sqlite::Transaction transaction(connection);
      if (auto begun = transaction.Begin(sqlite::TransactionKind::kRead); !begun) return begun;
      const QueryFn query = [&connection](std::string_view text, std::span<const SqlValue> params,
                                          std::size_t columns) -> Result<SqlRows> {
        auto stmt = Prepared(connection, text, params);
        if (!stmt) return tl::unexpected(std::move(stmt.error()));
        SqlRows rows;
        for (;;) {
          auto row = stmt->Step();
          if (!row) return tl::unexpected(std::move(row.error()));
          if (!*row) return rows;
          SqlRows::Row cells;
          cells.reserve(columns);
          for (std::size_t c = 0; c < columns; ++c) {
            const int column = static_cast<int>(c);
            // Integers come back as decimal text, which SqlRows::Int64 parses.
            cells.push_back(stmt->IsNull(column) ? SqlValue(nullptr)
                                                 : SqlValue(stmt->Text(column)));
          }
          rows.AddRow(std::move(cells));
        }
      };
      if (auto done = body(query); !done) return done;
      return transaction.Commit();
    });
  }

 private:
  static Result<sqlite::Statement> Prepared(sqlite::Connection& connection, std::string_view text,
                                            std::span<const SqlValue> params) {
    auto stmt = connection.Prepare(text);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    for (std::size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      const SqlValue& value = params[i];
      if (std::holds_alternative<std::nullptr_t>(value)) {
        stmt->BindNull(index);
      } else if (const auto* number = std::get_if<std::int64_t>(&value)) {
        stmt->Bind(index, *number);
      } else if (const auto* text_value = std::get_if<std::string>(&value)) {
        stmt->BindText(index, *text_value);
      } else {
        stmt->BindBlob(index, std::get<sql::SqlBlob>(value).bytes);
      }
    }
    return stmt;
  }

  std::shared_ptr<sqlite::ConnectionPool> pool_;
};

class ServerRunner final : public Runner {
 public:
  explicit ServerRunner(std::shared_ptr<sql::SqlConnectionPool> pool) : pool_(std::move(pool)) {}

  Result<std::uint64_t> Execute(std::string_view text, std::span<const SqlValue> params) override {
    return pool_->With([&](sql::SqlConnection& connection) -> Result<std::uint64_t> {
      return connection.Execute(text, params);
    });
  }

  Status Read(const std::function<Status(const QueryFn&)>& body) override {
    return pool_->With([&](sql::SqlConnection& connection) -> Status {
      sql::SqlTransaction transaction(connection);
      if (auto begun = transaction.BeginReadSnapshot(); !begun) return begun;
      const QueryFn query = [&connection](std::string_view text, std::span<const SqlValue> params,
                                          std::size_t /*columns*/) {
        return connection.Query(text, params);
      };
      if (auto done = body(query); !done) return done;
      return transaction.Commit();
    });
  }

 private:
  std::shared_ptr<sql::SqlConnectionPool> pool_;
};

class GenericCertificateStore final : public CertificateStore {
 public:
  explicit GenericCertificateStore(std::unique_ptr<Runner> runner) : runner_(std::move(runner)) {}

  Status AddServiceCertificate(const CertificateRecord& r) override {
    if (r.kind != CertificateKind::kService) {
      return Fail(ErrorCode::kInvalidRequest, "not a service certificate", "kind");
    }
    if (r.fingerprint_sha256.empty()) {
      return Fail(ErrorCode::kInvalidRequest, "the certificate has no fingerprint",
                  "fingerprint_sha256");
    }
    const SqlValue params[] = {
        Text(r.fingerprint_sha256),
        Text(r.serial_hex),
        Text(r.owner),
        Text(r.domain),
        Millis(r.not_before),
        Millis(r.not_after),
        Text(CertificateStatusName(r.status)),
        OptionalMillis(r.revoked_at),
        r.revocation_reason.empty() ? SqlValue(nullptr) : Text(r.revocation_reason),
        OptionalMillis(r.revoke_after),
        Millis(r.created_at)};
    auto ran = runner_->Execute(kInsertService, params);
    if (!ran) {
      // The portable way to tell a duplicate from any other failure: look.
      auto existing = FindByFingerprint(r.fingerprint_sha256);
      if (existing && *existing) {
        return CertificateAlreadyRegistered(r.fingerprint_sha256);
      }
      return tl::unexpected(std::move(ran.error()));
    }
    return Ok();
  }

  Result<std::optional<CertificateRecord>> FindByFingerprint(std::string_view fp) override {
    return FindWhere("cc.fingerprint_sha256 = ?", fp);
  }

  Result<std::optional<CertificateRecord>> FindBySerial(std::string_view serial_hex) override {
    return FindWhere("cc.serial_hex = ?", serial_hex);
  }

  Status Revoke(CertificateKind kind, std::string_view fingerprint, std::string_view reason,
                SystemTime at) override {
    if (reason.empty()) {
      return Fail(ErrorCode::kInvalidRequest, "a revocation needs a reason", "reason");
    }
    const SqlValue params[] = {Text(CertificateStatusName(CertificateStatus::kRevoked)), Millis(at),
                               Text(reason), Text(fingerprint),
                               Text(CertificateStatusName(CertificateStatus::kActive))};
    auto changed = runner_->Execute("UPDATE " + std::string(Table(kind)) +
                                        " SET status = ?, revoked_at = ?, revocation_reason = ?"
                                        " WHERE fingerprint_sha256 = ? AND status = ?",
                                    params);
    if (!changed) return tl::unexpected(std::move(changed.error()));
    if (*changed > 0) return Ok();
    return WhyUnchanged(kind, fingerprint);
  }

  Status ScheduleRevocation(std::string_view fingerprint, SystemTime at) override {
    const SqlValue params[] = {Millis(at), Text(fingerprint),
                               Text(CertificateStatusName(CertificateStatus::kActive))};
    auto changed = runner_->Execute(
        "UPDATE client_certificates SET revoke_after = ? WHERE fingerprint_sha256 = ? AND status = "
        "?",
        params);
    if (!changed) return tl::unexpected(std::move(changed.error()));
    if (*changed > 0) return Ok();
    return WhyUnchanged(CertificateKind::kClient, fingerprint);
  }

  Result<std::uint64_t> RevokeDue(SystemTime now) override {
    std::uint64_t total = 0;
    for (const auto kind : {CertificateKind::kClient, CertificateKind::kService}) {
      const SqlValue params[] = {
          Text(CertificateStatusName(CertificateStatus::kRevoked)), Text("superseded"),
          Text(CertificateStatusName(CertificateStatus::kActive)), Millis(now)};
      auto changed = runner_->Execute(
          "UPDATE " + std::string(Table(kind)) +
              " SET status = ?, revoked_at = revoke_after, revocation_reason = ?"
              " WHERE status = ? AND revoke_after IS NOT NULL AND revoke_after <= ?",
          params);
      if (!changed) return tl::unexpected(std::move(changed.error()));
      total += *changed;
    }
    return total;
  }

  Result<CertificatePage> List(const CertificateQuery& query) override {
    if (query.page < 1) return Fail(ErrorCode::kInvalidQuery, "page must be at least 1", "page");
    if (query.page_size < 1 || query.page_size > kMaxPageSize) {
      return Fail(ErrorCode::kInvalidQuery, "page_size must be between 1 and 500", "page_size");
    }
    if (query.domain && query.kind == CertificateKind::kService) {
      return Fail(ErrorCode::kInvalidQuery, "the domain filter applies to client certificates only",
                  "domain");
    }
    std::string where;
    std::vector<SqlValue> params;
    const auto add = [&](std::string_view condition, SqlValue value) {
      where += where.empty() ? " WHERE " : " AND ";
      where += condition;
      params.push_back(std::move(value));
    };
    if (query.status) add("cc.status = ?", Text(CertificateStatusName(*query.status)));
    if (query.domain) add("c.domain = ?", Text(*query.domain));
    if (query.not_after_from) add("cc.not_after >= ?", Millis(*query.not_after_from));
    if (query.not_after_to) add("cc.not_after < ?", Millis(*query.not_after_to));
    const bool service = query.kind == CertificateKind::kService;
    CertificatePage page;
    page.page = query.page;
    page.page_size = query.page_size;
    auto read = runner_->Read([&](const Runner::QueryFn& run) -> Status {
      auto counted = run(std::string(service ? kCountService : kCountClient) + where, params, 1);
      if (!counted) return tl::unexpected(std::move(counted.error()));
      const auto total = counted->Int64(0, 0);
      if (!total || *total < 0) {
        return Fail(ErrorCode::kDatabaseUnavailable, "the database returned an invalid count");
      }
      page.total = static_cast<std::uint64_t>(*total);
      const std::uint64_t pages = (page.total + query.page_size - 1) / query.page_size;
      if (query.page - 1 >= pages) return Ok();
      std::vector<SqlValue> page_params = params;
      page_params.emplace_back(static_cast<std::int64_t>(query.page_size));
      page_params.emplace_back(static_cast<std::int64_t>((query.page - 1) * query.page_size));
      auto rows = run(std::string(Select(query.kind)) + where +
                          " ORDER BY cc.not_after, cc.fingerprint_sha256 LIMIT ? OFFSET ?",
                      page_params, kColumns);
      if (!rows) return tl::unexpected(std::move(rows.error()));
      auto items = ReadRecords(query.kind, *rows);
      if (!items) return tl::unexpected(std::move(items.error()));
      page.items = std::move(*items);
      return Ok();
    });
    if (!read) return tl::unexpected(std::move(read.error()));
    return page;
  }

  Result<std::vector<CertificateRecord>> ListRevoked() override {
    std::vector<CertificateRecord> out;
    auto read = runner_->Read([&](const Runner::QueryFn& run) -> Status {
      for (const auto kind : {CertificateKind::kClient, CertificateKind::kService}) {
        const SqlValue params[] = {Text(CertificateStatusName(CertificateStatus::kRevoked))};
        auto rows = run(std::string(Select(kind)) + " WHERE cc.status = ?", params, kColumns);
        if (!rows) return tl::unexpected(std::move(rows.error()));
        auto items = ReadRecords(kind, *rows);
        if (!items) return tl::unexpected(std::move(items.error()));
        for (auto& item : *items) out.push_back(std::move(item));
      }
      return Ok();
    });
    if (!read) return tl::unexpected(std::move(read.error()));
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::tie(a.revoked_at, a.fingerprint_sha256) <
             std::tie(b.revoked_at, b.fingerprint_sha256);
    });
    return out;
  }

 private:
  Result<std::optional<CertificateRecord>> FindWhere(std::string_view condition,
                                                     std::string_view value) {
    std::optional<CertificateRecord> found;
    auto read = runner_->Read([&](const Runner::QueryFn& run) -> Status {
      for (const auto kind : {CertificateKind::kClient, CertificateKind::kService}) {
        const SqlValue params[] = {Text(value)};
        auto rows =
            run(std::string(Select(kind)) + " WHERE " + std::string(condition), params, kColumns);
        if (!rows) return tl::unexpected(std::move(rows.error()));
        if (rows->empty()) continue;
        auto record = ReadRecord(kind, *rows, 0);
        if (!record) return tl::unexpected(std::move(record.error()));
        found = std::move(*record);
        return Ok();
      }
      return Ok();
    });
    if (!read) return tl::unexpected(std::move(read.error()));
    return found;
  }

  // After an UPDATE ... AND status = 'active' changed nothing: missing, or revoked already.
  Status WhyUnchanged(CertificateKind kind, std::string_view fingerprint) {
    auto existing = FindByFingerprint(fingerprint);
    if (!existing) return tl::unexpected(std::move(existing.error()));
    if (!*existing || (*existing)->kind != kind) {
      return Fail(ErrorCode::kNotFound,
                  "no " + std::string(CertificateKindName(kind)) + " certificate " +
                      std::string(fingerprint),
                  "fingerprint_sha256");
    }
    return Fail(ErrorCode::kAlreadyExists,
                "certificate " + std::string(fingerprint) + " is already revoked",
                "fingerprint_sha256");
  }

  std::unique_ptr<Runner> runner_;
};

}  // namespace

std::shared_ptr<CertificateStore> MakeSqliteCertificateStore(
    std::shared_ptr<sqlite::ConnectionPool> pool) {
  return std::make_shared<GenericCertificateStore>(std::make_unique<SqliteRunner>(std::move(pool)));
}

std::shared_ptr<CertificateStore> MakeSqlCertificateStore(
    std::shared_ptr<sql::SqlConnectionPool> pool) {
  return std::make_shared<GenericCertificateStore>(std::make_unique<ServerRunner>(std::move(pool)));
}

}  // namespace msgbroker::storage
