#include "sqlite_message_store.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <variant>

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::storage::sqlite {
namespace {

constexpr std::size_t kMaxPageSize = 500;

// Column order shared by every SELECT and ReadMessage.
#define MSGBROKER_MESSAGE_COLUMNS                                                         \
  "id, client_id, status, sender_hmac, sender_masked, key_id, nonce, content, attempts, " \
  "last_error, queued_at, delivered_at, failed_at, stored_at"

constexpr std::string_view kInsert =
    "INSERT INTO messages (" MSGBROKER_MESSAGE_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    " ON CONFLICT (id) DO NOTHING";
constexpr std::string_view kSelectById =
    "SELECT " MSGBROKER_MESSAGE_COLUMNS " FROM messages WHERE id = ?1";
constexpr std::string_view kSelectList = "SELECT " MSGBROKER_MESSAGE_COLUMNS " FROM messages";
constexpr std::string_view kCountList = "SELECT count(*) FROM messages";
constexpr std::string_view kOrderAndPage = " ORDER BY queued_at DESC, id DESC LIMIT ? OFFSET ?";

#undef MSGBROKER_MESSAGE_COLUMNS

void BindOptionalTime(Statement& stmt, int index, const std::optional<SystemTime>& t) noexcept {
  if (t) {
    stmt.Bind(index, ToUnixMillis(*t));
  } else {
    stmt.BindNull(index);
  }
}

void BindMessage(Statement& stmt, const StoredMessage& m) noexcept {
  stmt.BindText(1, m.id.str());
  stmt.BindText(2, m.client_id.str());
  stmt.BindText(3, StatusName(m.status));
  stmt.BindText(4, m.sender_hmac);
  stmt.BindText(5, m.sender_masked);
  stmt.BindText(6, m.key_id);
  stmt.BindBlob(7, m.nonce);
  stmt.BindBlob(8, m.content);
  stmt.Bind(9, static_cast<std::int64_t>(m.attempts));
  stmt.BindText(10, m.last_error);
  stmt.Bind(11, ToUnixMillis(m.queued_at));
  BindOptionalTime(stmt, 12, m.delivered_at);
  BindOptionalTime(stmt, 13, m.failed_at);
  stmt.Bind(14, ToUnixMillis(m.stored_at));
}

std::optional<SystemTime> ReadOptionalTime(const Statement& row, int column) noexcept {
  if (row.IsNull(column)) return std::nullopt;
  return FromUnixMillis(row.Int64(column));
}

// Error messages name the row by its id, never by its contents.
Result<StoredMessage> ReadMessage(const Statement& row) {
  StoredMessage m;
  auto id = MessageId::Parse(row.Text(0));
  if (!id) return Fail(ErrorCode::kDataCorrupted, "a stored message has an invalid id");
  m.id = std::move(*id);
  auto client_id = ClientId::Parse(row.Text(1));
  if (!client_id) {
    return Fail(ErrorCode::kDataCorrupted,
                "stored message " + m.id.str() + " has an invalid client id");
  }
  m.client_id = std::move(*client_id);
  auto status = ParseStatus(row.Text(2));
  if (!status) {
    return Fail(ErrorCode::kDataCorrupted,
                "stored message " + m.id.str() + " has an invalid status");
  }
  m.status = *status;
  m.sender_hmac = row.Text(3);
  m.sender_masked = row.Text(4);
  m.key_id = row.Text(5);
  m.nonce = row.Blob(6);
  m.content = row.Blob(7);
  const std::int64_t attempts = row.Int64(8);
  if (attempts < 0 || attempts > std::numeric_limits<std::uint32_t>::max()) {
    return Fail(ErrorCode::kDataCorrupted,
                "stored message " + m.id.str() + " has an invalid attempt count");
  }
  m.attempts = static_cast<std::uint32_t>(attempts);
  m.last_error = row.Text(9);
  m.queued_at = FromUnixMillis(row.Int64(10));
  m.delivered_at = ReadOptionalTime(row, 11);
  m.failed_at = ReadOptionalTime(row, 12);
  m.stored_at = FromUnixMillis(row.Int64(13));
  return m;
}

// The WHERE clause of a List query: fixed SQL text with `?` placeholders, and the values to
// bind to them in order. Values never become part of the SQL text.
struct Filter {
  using Value = std::variant<std::int64_t, std::string_view>;
  std::string where;
  std::vector<Value> values;

  void Add(std::string_view condition, Value value) {
    where += where.empty() ? " WHERE " : " AND ";
    where += condition;
    values.push_back(value);
  }
  // Binds the filter values to ?1..?n and returns n.
  int Bind(Statement& stmt) const noexcept {
    int index = 0;
    for (const Value& value : values) {
      ++index;
      if (const auto* number = std::get_if<std::int64_t>(&value)) {
        stmt.Bind(index, *number);
      } else {
        stmt.BindText(index, std::get<std::string_view>(value));
      }
    }
    return index;
  }
};

Filter MakeFilter(const MessageQuery& query) {
  Filter filter;
  if (query.status) filter.Add("status = ?", StatusName(*query.status));
  if (query.client_id) filter.Add("client_id = ?", std::string_view(query.client_id->str()));
  if (query.from) filter.Add("queued_at >= ?", ToUnixMillis(*query.from));
  if (query.to) filter.Add("queued_at < ?", ToUnixMillis(*query.to));
  if (query.sender_hmac) filter.Add("sender_hmac = ?", std::string_view(*query.sender_hmac));
  return filter;
}

}  // namespace

Result<std::vector<bool>> SqliteMessageStore::InsertBatch(std::span<const StoredMessage> messages) {
  if (messages.empty()) return std::vector<bool>{};
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].id.empty() || messages[i].client_id.empty()) {
      return Fail(ErrorCode::kInvalidRequest,
                  "message " + std::to_string(i) + " of the batch has no id or no client id");
    }
  }
  return pool_->WithWriter([messages](Connection& connection) -> Result<std::vector<bool>> {
    Transaction transaction(connection);
    if (auto begun = transaction.Begin(TransactionKind::kWrite); !begun) {
      return tl::unexpected(std::move(begun.error()));
    }
    std::vector<bool> inserted;
    inserted.reserve(messages.size());
    {
      auto stmt = connection.Prepare(kInsert);
      if (!stmt) return tl::unexpected(std::move(stmt.error()));
      for (const StoredMessage& m : messages) {
        BindMessage(*stmt, m);
        if (auto ran = stmt->Run(); !ran) return tl::unexpected(std::move(ran.error()));
        inserted.push_back(connection.changes() == 1);
        stmt->Reset();
      }
    }
    if (auto committed = transaction.Commit(); !committed) {
      return tl::unexpected(std::move(committed.error()));
    }
    return inserted;
  });
}

Result<std::optional<StoredMessage>> SqliteMessageStore::Get(const MessageId& id) {
  return pool_->WithReader([&id](Connection& connection) -> Result<std::optional<StoredMessage>> {
    auto stmt = connection.Prepare(kSelectById);
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    stmt->BindText(1, id.str());
    auto row = stmt->Step();
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row) return std::nullopt;
    return ReadMessage(*stmt);
  });
}

Result<MessagePage> SqliteMessageStore::List(const MessageQuery& query) {
  if (query.page < 1) return Fail(ErrorCode::kInvalidQuery, "page must be at least 1", "page");
  if (query.page_size < 1 || query.page_size > kMaxPageSize) {
    return Fail(ErrorCode::kInvalidQuery, "page_size must be between 1 and 500", "page_size");
  }
  const Filter filter = MakeFilter(query);
  return pool_->WithReader([&](Connection& connection) -> Result<MessagePage> {
    MessagePage page;
    page.page = query.page;
    page.page_size = query.page_size;
    // One snapshot for the count and the rows, so the total matches the items.
    Transaction transaction(connection);
    if (auto begun = transaction.Begin(TransactionKind::kRead); !begun) {
      return tl::unexpected(std::move(begun.error()));
    }
    {
      auto count = connection.Prepare(std::string(kCountList) + filter.where);
      if (!count) return tl::unexpected(std::move(count.error()));
      filter.Bind(*count);
      auto row = count->Step();
      if (!row) return tl::unexpected(std::move(row.error()));
      page.total = *row ? static_cast<std::uint64_t>(count->Int64(0)) : 0;
    }
    const std::uint64_t page_size = query.page_size;
    const std::uint64_t pages = (page.total + page_size - 1) / page_size;
    if (query.page - 1 < pages) {
      auto stmt =
          connection.Prepare(std::string(kSelectList) + filter.where + std::string(kOrderAndPage));
      if (!stmt) return tl::unexpected(std::move(stmt.error()));
      const int bound = filter.Bind(*stmt);
      stmt->Bind(bound + 1, static_cast<std::int64_t>(page_size));
      stmt->Bind(bound + 2, static_cast<std::int64_t>((query.page - 1) * page_size));
      page.items.reserve(static_cast<std::size_t>(page_size));
      for (;;) {
        auto row = stmt->Step();
        if (!row) return tl::unexpected(std::move(row.error()));
        if (!*row) break;
        auto message = ReadMessage(*stmt);
        if (!message) return tl::unexpected(std::move(message.error()));
        page.items.push_back(std::move(*message));
      }
    }
    if (auto ended = transaction.Commit(); !ended) return tl::unexpected(std::move(ended.error()));
    return page;
  });
}

Status SqliteMessageStore::Ping() {
  return pool_->WithReader([](Connection& connection) -> Status {
    auto stmt = connection.Prepare("SELECT 1");
    if (!stmt) return tl::unexpected(std::move(stmt.error()));
    return stmt->Run();
  });
}

}  // namespace msgbroker::storage::sqlite
