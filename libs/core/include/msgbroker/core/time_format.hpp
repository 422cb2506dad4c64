#pragma once
// RFC 3339 timestamps in UTC with millisecond precision: 2026-11-22T10:15:30.123Z

#include <optional>
#include <string>
#include <string_view>

#include "msgbroker/core/clock.hpp"

namespace msgbroker {

std::string FormatTimestamp(SystemTime t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)" and a plain date "YYYY-MM-DD" (midnight UTC).
// nullopt for anything else, including instants SystemTime cannot hold (before 1678, after 2262).
std::optional<SystemTime> ParseTimestamp(std::string_view text);

// Milliseconds since the Unix epoch, the integer form used in storage and the queue.
std::int64_t ToUnixMillis(SystemTime t) noexcept;
SystemTime FromUnixMillis(std::int64_t ms) noexcept;

}  // namespace msgbroker
