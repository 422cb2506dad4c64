#include "msgbroker/core/logging.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

namespace msgbroker {

Status InitLogging(std::string_view level) {
  std::string lower(level);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "warning") lower = "warn";
  const auto parsed = spdlog::level::from_str(lower);
  if (parsed == spdlog::level::off && lower != "off") {
    return Fail(ErrorCode::kInvalidRequest,
                "unknown log level '" + std::string(level) +
                    "' (expected trace, debug, info, warn, error, critical or off)");
  }
  spdlog::set_level(parsed);
  // ISO-8601 UTC time, level, logger, then the event's own key=value fields.
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  return Ok();
}

}  // namespace msgbroker
