#include "msgbroker/core/error_code.hpp"

#include <array>

namespace msgbroker {
namespace {

constexpr std::array<ErrorCodeInfo, kErrorCodeCount> kTable = {{
    {"INVALID_JSON", 400},
    {"INVALID_REQUEST", 400},
    {"MISSING_FIELD", 400},
    {"INVALID_SENDER_NUMBER", 400},
    {"INVALID_MESSAGE_BODY", 400},
    {"INVALID_METADATA", 400},
    {"INVALID_QUERY", 400},
    {"CLIENT_CERTIFICATE_REQUIRED", 401},
    {"UNKNOWN_CLIENT", 401},
    {"CLIENT_REVOKED", 403},
    {"CLIENT_SUSPENDED", 403},
    {"FORBIDDEN", 403},
    {"NOT_FOUND", 404},
    {"METHOD_NOT_ALLOWED", 405},
    {"ALREADY_EXISTS", 409},
    {"PAYLOAD_TOO_LARGE", 413},
    {"UNSUPPORTED_MEDIA_TYPE", 415},
    {"HEADERS_TOO_LARGE", 431},
    {"RATE_LIMITED", 429},
    {"IDEMPOTENCY_KEY_IN_USE", 409},
    {"IDEMPOTENCY_KEY_MISMATCH", 422},
    {"QUEUE_UNAVAILABLE", 503},
    {"DATABASE_UNAVAILABLE", 503},
    {"SERVICE_UNAVAILABLE", 503},
    {"UPSTREAM_ERROR", 502},
    {"TIMEOUT", 504},
    {"DATA_CORRUPTED", 500},
    {"INTERNAL_ERROR", 500},
}};

}  // namespace

const ErrorCodeInfo& Describe(ErrorCode code) noexcept {
  return kTable[static_cast<std::size_t>(code)];
}

}  // namespace msgbroker
