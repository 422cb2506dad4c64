#pragma once
// Structured logs: one line per event, key=value fields, never payloads, tokens or keys.

#include <string_view>

#include "msgbroker/core/result.hpp"

namespace msgbroker {

// Sets the global spdlog level and line format. `level`: trace|debug|info|warn|error|critical|off
// (case-insensitive). Unknown names are an error naming the value.
Status InitLogging(std::string_view level);

}  // namespace msgbroker
