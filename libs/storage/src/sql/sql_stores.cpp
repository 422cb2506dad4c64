#include "sql_stores.hpp"

#include <limits>
#include <string>
#include <utility>

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::storage::sql {
namespace {

constexpr std::size_t kMaxPageSize = 500;

std::string Concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out += part;
  return out;
}

const std::string kSelectById = Concat({"SELECT ", kMessageColumns, " FROM messages WHERE id = ?"});
const std::string kSelectList = Concat({"SELECT ", kMessageColumns, " FROM messages"});
constexpr std::string_view kCountList = "SELECT count(*) FROM messages";
constexpr std::string_view kOrderAndPage = " ORDER BY queued_at DESC, id DESC LIMIT ? OFFSET ?";

constexpr std::string_view kInsertClient =
    "INSERT INTO clients (id, domain, status, created_at, rate_per_second, rate_burst)"
    " VALUES (?, ?, ?, ?, ?, ?)";
constexpr std::string_view kInsertCertificate =
    "INSERT INTO client_certificates"
    " (fingerprint_sha256, client_id, serial_hex, not_before, not_after, status, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr std::string_view kUpdateClientStatus = "UPDATE clients SET status = ? WHERE id = ?";
constexpr std::string_view kUpdateClientRateLimit =
    "UPDATE clients SET rate_per_second = ?, rate_burst = ? WHERE id = ?";
constexpr std::string_view kSelectClient =
    "SELECT id, domain, status, created_at, rate_per_second, rate_burst FROM clients WHERE id = ?";
constexpr std::string_view kSelectClients =
    "SELECT id, domain, status, created_at, rate_per_second, rate_burst FROM clients ORDER BY id";
constexpr std::string_view kSelectCertificates =
    "SELECT fingerprint_sha256, client_id, serial_hex, not_before, not_after, status, created_at"
    " FROM client_certificates WHERE client_id = ? ORDER BY created_at, fingerprint_sha256";
constexpr std::string_view kSelectIdentityByFingerprint =
    "SELECT c.id, c.domain, c.status, c.created_at, cc.fingerprint_sha256, cc.client_id,"
    " cc.serial_hex, cc.not_before, cc.not_after, cc.status, cc.created_at,"
    " c.rate_per_second, c.rate_burst"
    " FROM client_certificates cc JOIN clients c ON c.id = cc.client_id"
    " WHERE cc.fingerprint_sha256 = ?";
constexpr std::string_view kSelectIdentities =
    "SELECT c.id, c.domain, c.status, c.created_at, cc.fingerprint_sha256, cc.client_id,"
    " cc.serial_hex, cc.not_before, cc.not_after, cc.status, cc.created_at,"
    " c.rate_per_second, c.rate_burst"
    " FROM client_certificates cc JOIN clients c ON c.id = cc.client_id"
    " ORDER BY c.id, cc.created_at, cc.fingerprint_sha256";

SqlValue Text(std::string_view text) { return SqlValue(std::string(text)); }
SqlValue Millis(SystemTime t) { return SqlValue(ToUnixMillis(t)); }
SqlValue OptionalMillis(const std::optional<SystemTime>& t) {
  return t ? Millis(*t) : SqlValue(nullptr);
}

Error Corrupted(std::string what) { return Error(ErrorCode::kDataCorrupted, std::move(what)); }

// A NOT NULL integer column; `what` names the row for the error.
Result<std::int64_t> RequiredInt(const SqlRows& rows, std::size_t row, std::size_t column,
                                 const std::string& what) {
  auto value = rows.Int64(row, column);
  if (!value) return tl::unexpected(Corrupted(what + " has an invalid integer column"));
  return *value;
}

Result<std::optional<SystemTime>> OptionalTime(const SqlRows& rows, std::size_t row,
                                               std::size_t column, const std::string& what) {
  if (rows.IsNull(row, column)) return std::optional<SystemTime>();
  auto ms = RequiredInt(rows, row, column, what);
  if (!ms) return tl::unexpected(std::move(ms.error()));
  return std::optional<SystemTime>(FromUnixMillis(*ms));
}

Result<SystemTime> RequiredTime(const SqlRows& rows, std::size_t row, std::size_t column,
                                const std::string& what) {
  auto ms = RequiredInt(rows, row, column, what);
  if (!ms) return tl::unexpected(std::move(ms.error()));
  return FromUnixMillis(*ms);
}

// Client columns from `first`: id, domain, status, created_at.
Result<Client> ReadClient(const SqlRows& rows, std::size_t row, std::size_t first) {
  Client client;
  auto id = ClientId::Parse(rows.Text(row, first));
  if (!id) return tl::unexpected(Corrupted("a stored client has an invalid id"));
  client.id = std::move(*id);
  const std::string what = "stored client " + client.id.str();
  client.domain = std::string(rows.Text(row, first + 1));
  auto status = ParseClientStatus(rows.Text(row, first + 2));
  if (!status) return tl::unexpected(Corrupted(what + " has an invalid status"));
  client.status = *status;
  auto created = RequiredTime(rows, row, first + 3, what);
  if (!created) return tl::unexpected(std::move(created.error()));
  client.created_at = *created;
  return client;
}

// The client's rate limit columns at `first`: rate_per_second, rate_burst (NULL: the default).
Status ReadClientRateLimit(const SqlRows& rows, std::size_t row, std::size_t first,
                           Client& client) {
  if (rows.IsNull(row, first) && rows.IsNull(row, first + 1)) return Ok();
  auto per_second = rows.Int64(row, first);
  auto burst = rows.Int64(row, first + 1);
  if (!per_second || !burst || !ValidateClientRateLimit({*per_second, *burst})) {
    return tl::unexpected(
        Corrupted("stored client " + client.id.str() + " has an invalid rate limit"));
  }
  client.rate_limit = ClientRateLimit{*per_second, *burst};
  return Ok();
}

std::optional<CertificateStatus> ParseCertificateStatus(std::string_view name) noexcept {
  for (auto s : {CertificateStatus::kActive, CertificateStatus::kRevoked}) {
    if (CertificateStatusName(s) == name) return s;
  }
  return std::nullopt;
}

// Certificate columns from `first`, in the order of client_certificates.
Result<ClientCertificate> ReadCertificate(const SqlRows& rows, std::size_t row, std::size_t first) {
  ClientCertificate cert;
  cert.fingerprint_sha256 = std::string(rows.Text(row, first));
  const std::string what = "certificate " + cert.fingerprint_sha256;
  auto client_id = ClientId::Parse(rows.Text(row, first + 1));
  if (!client_id) return tl::unexpected(Corrupted(what + " has an invalid client id"));
  cert.client_id = std::move(*client_id);
  cert.serial_hex = std::string(rows.Text(row, first + 2));
  auto not_before = RequiredTime(rows, row, first + 3, what);
  if (!not_before) return tl::unexpected(std::move(not_before.error()));
  cert.not_before = *not_before;
  auto not_after = RequiredTime(rows, row, first + 4, what);
  if (!not_after) return tl::unexpected(std::move(not_after.error()));
  cert.not_after = *not_after;
  auto status = ParseCertificateStatus(rows.Text(row, first + 5));
  if (!status) return tl::unexpected(Corrupted(what + " has an invalid status"));
  cert.status = *status;
  auto created = RequiredTime(rows, row, first + 6, what);
  if (!created) return tl::unexpected(std::move(created.error()));
  cert.created_at = *created;
  return cert;
}

Result<ClientIdentity> ReadIdentity(const SqlRows& rows, std::size_t row) {
  auto client = ReadClient(rows, row, 0);
  if (!client) return tl::unexpected(std::move(client.error()));
  auto cert = ReadCertificate(rows, row, 4);
  if (!cert) return tl::unexpected(std::move(cert.error()));
  if (auto ok = ReadClientRateLimit(rows, row, 11, *client); !ok) {
    return tl::unexpected(ok.error());
  }
  return ClientIdentity{std::move(*client), std::move(*cert)};
}

template <typename T, typename Read>
Result<std::optional<T>> ReadFirst(const SqlRows& rows, Read read) {
  if (rows.empty()) return std::optional<T>();
  auto item = read(rows, 0);
  if (!item) return tl::unexpected(std::move(item.error()));
  return std::optional<T>(std::move(*item));
}

}  // namespace

Result<Client> ReadClientColumns(const SqlRows& rows, std::size_t row, std::size_t first) {
  auto client = ReadClient(rows, row, first);
  if (!client) return client;
  if (auto ok = ReadClientRateLimit(rows, row, first + 4, *client); !ok) {
    return tl::unexpected(ok.error());
  }
  return client;
}

std::array<SqlValue, kMessageColumnCount> MessageParams(const StoredMessage& m) {
  return {Text(m.id.str()),
          Text(m.client_id.str()),
          Text(StatusName(m.status)),
          Text(m.sender_hmac),
          Text(m.sender_masked),
          Text(m.key_id),
          SqlValue(SqlBlob{m.nonce}),
          SqlValue(SqlBlob{m.content}),
          SqlValue(static_cast<std::int64_t>(m.attempts)),
          Text(m.last_error),
          Millis(m.queued_at),
          OptionalMillis(m.delivered_at),
          OptionalMillis(m.failed_at),
          Millis(m.stored_at)};
}

Result<StoredMessage> ReadMessageRow(const SqlRows& rows, std::size_t row, std::size_t first) {
  StoredMessage m;
  auto id = MessageId::Parse(rows.Text(row, first));
  if (!id) return tl::unexpected(Corrupted("a stored message has an invalid id"));
  m.id = std::move(*id);
  const std::string what = "stored message " + m.id.str();
  auto client_id = ClientId::Parse(rows.Text(row, first + 1));
  if (!client_id) return tl::unexpected(Corrupted(what + " has an invalid client id"));
  m.client_id = std::move(*client_id);
  auto status = ParseStatus(rows.Text(row, first + 2));
  if (!status) return tl::unexpected(Corrupted(what + " has an invalid status"));
  m.status = *status;
  m.sender_hmac = std::string(rows.Text(row, first + 3));
  m.sender_masked = std::string(rows.Text(row, first + 4));
  m.key_id = std::string(rows.Text(row, first + 5));
  m.nonce = rows.Blob(row, first + 6);
  m.content = rows.Blob(row, first + 7);
  auto attempts = rows.Int64(row, first + 8);
  if (!attempts || *attempts < 0 || *attempts > std::numeric_limits<std::uint32_t>::max()) {
    return tl::unexpected(Corrupted(what + " has an invalid attempt count"));
  }
  m.attempts = static_cast<std::uint32_t>(*attempts);
  m.last_error = std::string(rows.Text(row, first + 9));
  auto queued = RequiredTime(rows, row, first + 10, what);
  if (!queued) return tl::unexpected(std::move(queued.error()));
  m.queued_at = *queued;
  auto delivered = OptionalTime(rows, row, first + 11, what);
  if (!delivered) return tl::unexpected(std::move(delivered.error()));
  m.delivered_at = *delivered;
  auto failed = OptionalTime(rows, row, first + 12, what);
  if (!failed) return tl::unexpected(std::move(failed.error()));
  m.failed_at = *failed;
  auto stored = RequiredTime(rows, row, first + 13, what);
  if (!stored) return tl::unexpected(std::move(stored.error()));
  m.stored_at = *stored;
  return m;
}

Result<std::vector<bool>> SqlMessageStore::InsertBatch(std::span<const StoredMessage> messages) {
  if (messages.empty()) return std::vector<bool>{};
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].id.empty() || messages[i].client_id.empty()) {
      return Fail(ErrorCode::kInvalidRequest,
                  "message " + std::to_string(i) + " of the batch has no id or no client id");
    }
  }
  return pool_->With([messages](SqlConnection& connection) -> Result<std::vector<bool>> {
    SqlTransaction transaction(connection);
    if (auto begun = transaction.Begin(); !begun) return tl::unexpected(std::move(begun.error()));
    auto inserted = connection.InsertMessagesIgnoringDuplicates(messages);
    if (!inserted) return inserted;
    if (inserted->size() != messages.size()) {
      return Fail(ErrorCode::kInternal, "the database reported a different number of rows");
    }
    if (auto committed = transaction.Commit(); !committed) {
      return tl::unexpected(std::move(committed.error()));
    }
    return inserted;
  });
}

Result<std::optional<StoredMessage>> SqlMessageStore::Get(const MessageId& id) {
  return pool_->With([&id](SqlConnection& connection) -> Result<std::optional<StoredMessage>> {
    const SqlValue params[] = {Text(id.str())};
    auto rows = connection.Query(kSelectById, params);
    if (!rows) return tl::unexpected(std::move(rows.error()));
    return ReadFirst<StoredMessage>(
        *rows, [](const SqlRows& r, std::size_t i) { return ReadMessageRow(r, i); });
  });
}

Result<MessagePage> SqlMessageStore::List(const MessageQuery& query) {
  if (query.page < 1) return Fail(ErrorCode::kInvalidQuery, "page must be at least 1", "page");
  if (query.page_size < 1 || query.page_size > kMaxPageSize) {
    return Fail(ErrorCode::kInvalidQuery, "page_size must be between 1 and 500", "page_size");
  }
  // Fixed SQL fragments, one per filter present; every value is bound.
  std::string where;
  std::vector<SqlValue> params;
  auto add = [&](std::string_view condition, SqlValue value) {
    where += where.empty() ? " WHERE " : " AND ";
    where += condition;
    params.push_back(std::move(value));
  };
  if (query.status) add("status = ?", Text(StatusName(*query.status)));
  if (query.client_id) add("client_id = ?", Text(query.client_id->str()));
  if (query.from) add("queued_at >= ?", Millis(*query.from));
  if (query.to) add("queued_at < ?", Millis(*query.to));
  if (query.sender_hmac) add("sender_hmac = ?", Text(*query.sender_hmac));

  return pool_->With([&](SqlConnection& connection) -> Result<MessagePage> {
    MessagePage page;
    page.page = query.page;
    page.page_size = query.page_size;
    // One snapshot for the count and the rows, so the total matches the items.
    SqlTransaction transaction(connection);
    if (auto begun = transaction.BeginReadSnapshot(); !begun) {
      return tl::unexpected(std::move(begun.error()));
    }
    auto counted = connection.Query(std::string(kCountList) + where, params);
    if (!counted) return tl::unexpected(std::move(counted.error()));
    const auto total = counted->Int64(0, 0);
    if (!total || *total < 0) {
      return Fail(ErrorCode::kDatabaseUnavailable, "the database returned an invalid count");
    }
    page.total = static_cast<std::uint64_t>(*total);
    const std::uint64_t page_size = query.page_size;
    const std::uint64_t pages = (page.total + page_size - 1) / page_size;
    if (query.page - 1 < pages) {
      std::vector<SqlValue> page_params = params;
      page_params.emplace_back(static_cast<std::int64_t>(page_size));
      page_params.emplace_back(static_cast<std::int64_t>((query.page - 1) * page_size));
      auto rows = connection.Query(kSelectList + where + std::string(kOrderAndPage), page_params);
      if (!rows) return tl::unexpected(std::move(rows.error()));
      auto items = ReadAll<StoredMessage>(
          *rows, [](const SqlRows& r, std::size_t i) { return ReadMessageRow(r, i); });
      if (!items) return tl::unexpected(std::move(items.error()));
      page.items = std::move(*items);
    }
    if (auto ended = transaction.Commit(); !ended) return tl::unexpected(std::move(ended.error()));
    return page;
  });
}

Status SqlMessageStore::Ping() {
  return pool_->With([](SqlConnection& connection) -> Status {
    auto rows = connection.Query("SELECT 1");
    if (!rows) return tl::unexpected(std::move(rows.error()));
    return Ok();
  });
}

namespace {

Status InsertClient(SqlConnection& connection, const Client& client) {
  const auto& limit = client.rate_limit;
  const SqlValue params[] = {Text(client.id.str()),
                             Text(client.domain),
                             Text(ClientStatusName(client.status)),
                             Millis(client.created_at),
                             limit ? SqlValue(limit->per_second) : SqlValue(nullptr),
                             limit ? SqlValue(limit->burst) : SqlValue(nullptr)};
  auto ran = connection.Execute(kInsertClient, params);
  if (!ran) {
    if (connection.LastErrorKind() == SqlErrorKind::kUniqueViolation) {
      return Fail(ErrorCode::kAlreadyExists, "client " + client.id.str() + " already exists", "id");
    }
    return tl::unexpected(std::move(ran.error()));
  }
  return Ok();
}

Status InsertCertificate(SqlConnection& connection, const ClientCertificate& cert) {
  const SqlValue params[] = {
      Text(cert.fingerprint_sha256), Text(cert.client_id.str()),
      Text(cert.serial_hex),         Millis(cert.not_before),
      Millis(cert.not_after),        Text(CertificateStatusName(cert.status)),
      Millis(cert.created_at)};
  auto ran = connection.Execute(kInsertCertificate, params);
  if (!ran) {
    switch (connection.LastErrorKind()) {
      case SqlErrorKind::kForeignKeyViolation:
        return NoSuchClient(cert.client_id, "client_id");
      case SqlErrorKind::kUniqueViolation:
        return CertificateAlreadyRegistered(cert.fingerprint_sha256);
      default:
        return tl::unexpected(std::move(ran.error()));
    }
  }
  return Ok();
}

}  // namespace

Status SqlClientRegistry::CreateClient(const Client& client) {
  if (auto valid = ValidateNewClient(client); !valid) return valid;
  return pool_->With(
      [&client](SqlConnection& connection) { return InsertClient(connection, client); });
}

Status SqlClientRegistry::AddCertificate(const ClientCertificate& cert) {
  if (auto valid = ValidateNewCertificate(cert); !valid) return valid;
  return pool_->With(
      [&cert](SqlConnection& connection) { return InsertCertificate(connection, cert); });
}

Status SqlClientRegistry::CreateClientWithCertificate(const Client& client,
                                                      const ClientCertificate& cert) {
  if (auto valid = ValidateNewClient(client); !valid) return valid;
  if (auto valid = ValidateNewCertificate(cert); !valid) return valid;
  return pool_->With([&client, &cert](SqlConnection& connection) -> Status {
    SqlTransaction transaction(connection);
    if (auto begun = transaction.Begin(); !begun) return tl::unexpected(std::move(begun.error()));
    if (auto ok = InsertClient(connection, client); !ok) return ok;
    if (auto ok = InsertCertificate(connection, cert); !ok) return ok;
    return transaction.Commit();
  });
}

Result<std::optional<Client>> SqlClientRegistry::GetClient(const ClientId& id) {
  return pool_->With([&id](SqlConnection& connection) -> Result<std::optional<Client>> {
    const SqlValue params[] = {Text(id.str())};
    auto rows = connection.Query(kSelectClient, params);
    if (!rows) return tl::unexpected(std::move(rows.error()));
    return ReadFirst<Client>(
        *rows, [](const SqlRows& r, std::size_t i) { return ReadClientColumns(r, i, 0); });
  });
}

Result<std::optional<ClientIdentity>> SqlClientRegistry::FindByFingerprint(std::string_view fp) {
  return pool_->With([fp](SqlConnection& connection) -> Result<std::optional<ClientIdentity>> {
    const SqlValue params[] = {Text(fp)};
    auto rows = connection.Query(kSelectIdentityByFingerprint, params);
    if (!rows) return tl::unexpected(std::move(rows.error()));
    return ReadFirst<ClientIdentity>(*rows, ReadIdentity);
  });
}

Result<std::vector<Client>> SqlClientRegistry::ListClients() {
  return pool_->With([](SqlConnection& connection) -> Result<std::vector<Client>> {
    auto rows = connection.Query(kSelectClients);
    if (!rows) return tl::unexpected(std::move(rows.error()));
    return ReadAll<Client>(
        *rows, [](const SqlRows& r, std::size_t i) { return ReadClientColumns(r, i, 0); });
  });
}

Result<std::vector<ClientCertificate>> SqlClientRegistry::ListCertificates(const ClientId& id) {
  return pool_->With([&id](SqlConnection& connection) -> Result<std::vector<ClientCertificate>> {
    const SqlValue params[] = {Text(id.str())};
    auto rows = connection.Query(kSelectCertificates, params);
    if (!rows) return tl::unexpected(std::move(rows.error()));
    return ReadAll<ClientCertificate>(
        *rows, [](const SqlRows& r, std::size_t i) { return ReadCertificate(r, i, 0); });
  });
}

Result<std::vector<ClientIdentity>> SqlClientRegistry::ListIdentities() {
  return pool_->With([](SqlConnection& connection) -> Result<std::vector<ClientIdentity>> {
    auto rows = connection.Query(kSelectIdentities);
    if (!rows) return tl::unexpected(std::move(rows.error()));
    return ReadAll<ClientIdentity>(*rows, ReadIdentity);
  });
}

Status SqlClientRegistry::SetClientStatus(const ClientId& id, ClientStatus status) {
  return pool_->With([&id, status](SqlConnection& connection) -> Status {
    const SqlValue params[] = {Text(ClientStatusName(status)), Text(id.str())};
    auto ran = connection.Execute(kUpdateClientStatus, params);
    if (!ran) return tl::unexpected(std::move(ran.error()));
    if (*ran == 0) return NoSuchClient(id, "id");
    return Ok();
  });
}

Status SqlClientRegistry::SetClientRateLimit(const ClientId& id,
                                             const std::optional<ClientRateLimit>& limit) {
  if (limit) {
    if (auto valid = ValidateClientRateLimit(*limit); !valid) return valid;
  }
  return pool_->With([&id, &limit](SqlConnection& connection) -> Status {
    const SqlValue params[] = {limit ? SqlValue(limit->per_second) : SqlValue(nullptr),
                               limit ? SqlValue(limit->burst) : SqlValue(nullptr), Text(id.str())};
    auto ran = connection.Execute(kUpdateClientRateLimit, params);
    if (!ran) return tl::unexpected(std::move(ran.error()));
    if (*ran == 0) {
      return NoSuchClient(id, "id");
    }
    return Ok();
  });
}

}  // namespace msgbroker::storage::sql
