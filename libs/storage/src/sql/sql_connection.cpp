#include "sql_connection.hpp"

#include <charconv>

namespace msgbroker::storage::sql {

const SqlValue& SqlRows::At(std::size_t row, std::size_t column) const {
  static const SqlValue kNull = nullptr;
  if (row >= rows_.size() || column >= rows_[row].size()) return kNull;
  return rows_[row][column];
}

bool SqlRows::IsNull(std::size_t row, std::size_t column) const {
  return std::holds_alternative<std::nullptr_t>(At(row, column));
}

std::optional<std::int64_t> SqlRows::Int64(std::size_t row, std::size_t column) const {
  const SqlValue& cell = At(row, column);
  if (const auto* number = std::get_if<std::int64_t>(&cell)) return *number;
  if (const auto* text = std::get_if<std::string>(&cell)) {
    std::int64_t value = 0;
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, value);
    if (ec == std::errc() && ptr == end && !text->empty()) return value;
  }
  return std::nullopt;
}

std::string_view SqlRows::Text(std::size_t row, std::size_t column) const {
  const SqlValue& cell = At(row, column);
  if (const auto* text = std::get_if<std::string>(&cell)) return *text;
  if (const auto* blob = std::get_if<SqlBlob>(&cell)) return blob->bytes;
  return {};
}

std::string NumberPlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 0;
  char quote = 0;  // the quote character we are inside of, or 0
  for (char c : sql) {
    if (quote != 0) {
      if (c == quote) quote = 0;  // a doubled quote closes and reopens: same result
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += '$';
      out += std::to_string(++next);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace msgbroker::storage::sql
