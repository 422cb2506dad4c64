#pragma once
// The one stable table of product error codes. Every JSON error envelope carries one of these
// names, and the HTTP status for each code is decided here and nowhere else.

#include <cstdint>
#include <string_view>

namespace msgbroker {

enum class ErrorCode : std::uint8_t {
  // 400 — the request is wrong; `Error::field` names the offending field where there is one.
  kInvalidJson,
  kInvalidRequest,
  kMissingField,
  kInvalidSenderNumber,
  kInvalidMessageBody,
  kInvalidMetadata,
  kInvalidQuery,
  // 401 / 403 — identity.
  kClientCertificateRequired,
  kUnknownClient,
  kClientRevoked,
  kClientSuspended,
  kForbidden,
  // 404 / 405 / 409 / 413 / 415 / 431 / 429
  kNotFound,
  kMethodNotAllowed,
  kAlreadyExists,
  kPayloadTooLarge,
  kUnsupportedMediaType,
  kHeadersTooLarge,
  kRateLimited,
  // 409 / 422 — Idempotency-Key (docs/adr/0010-idempotency-keys.md).
  kIdempotencyKeyInUse,
  kIdempotencyKeyMismatch,
  // 5xx — our side.
  kQueueUnavailable,
  kDatabaseUnavailable,
  kServiceUnavailable,
  kUpstreamError,
  kTimeout,
  kDataCorrupted,
  kInternal,
};

struct ErrorCodeInfo {
  std::string_view name;  // stable wire name, e.g. "INVALID_SENDER_NUMBER"
  unsigned http_status;
};

// Wire name and HTTP status of a code. Total over the enum (a unit test walks all of it).
const ErrorCodeInfo& Describe(ErrorCode code) noexcept;
inline std::string_view ErrorCodeName(ErrorCode code) noexcept { return Describe(code).name; }
inline unsigned HttpStatusFor(ErrorCode code) noexcept { return Describe(code).http_status; }

// Number of codes; used by tests to walk the table.
inline constexpr std::size_t kErrorCodeCount = static_cast<std::size_t>(ErrorCode::kInternal) + 1;

}  // namespace msgbroker
