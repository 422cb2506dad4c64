#pragma once
// JSON text written directly, for the per-message hot paths (the proxy's answers and queue
// payloads, the worker's delivery requests) where building an nlohmann::json document only to
// dump it cost more than the rest of the work (docs/PERFORMANCE.md). Everything else keeps
// nlohmann::json. For well-formed UTF-8 the output is byte for byte what nlohmann's dump() writes
// for the same string (the tests compare the two); malformed input is not refused but repaired.

#include <cstdint>
#include <string>
#include <string_view>

namespace msgbroker {

// Appends `text` as a quoted JSON string: `"` and `\` escaped, control characters as \b \f \n \r
// \t or \u00XX, other UTF-8 copied as is, and each byte that does not begin a well-formed UTF-8
// sequence replaced by U+FFFD.
void AppendJsonString(std::string& out, std::string_view text);

// Appends `"key":` (the key is written as AppendJsonString writes it).
void AppendJsonKey(std::string& out, std::string_view key);

void AppendJsonNumber(std::string& out, std::int64_t value);

}  // namespace msgbroker
