#include "msgbroker/core/error_code.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace msgbroker {
namespace {

TEST(ErrorCodeTest, EveryCodeHasAUniqueUpperSnakeNameAndAnErrorStatus) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kErrorCodeCount; ++i) {
    const auto& info = Describe(static_cast<ErrorCode>(i));
    EXPECT_FALSE(info.name.empty()) << i;
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate name " << info.name;
    for (char c : info.name) {
      EXPECT_TRUE((c >= 'A' && c <= 'Z') || c == '_') << info.name;
    }
    EXPECT_GE(info.http_status, 400u) << info.name;
    EXPECT_LE(info.http_status, 599u) << info.name;
  }
}

TEST(ErrorCodeTest, ProductContractStatuses) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidSenderNumber), 400u);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kInvalidSenderNumber), "INVALID_SENDER_NUMBER");
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidMessageBody), 400u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kClientCertificateRequired), 401u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnknownClient), 401u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kClientRevoked), 403u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kClientSuspended), 403u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPayloadTooLarge), 413u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnsupportedMediaType), 415u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kRateLimited), 429u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kIdempotencyKeyInUse), 409u);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kIdempotencyKeyInUse), "IDEMPOTENCY_KEY_IN_USE");
  EXPECT_EQ(HttpStatusFor(ErrorCode::kIdempotencyKeyMismatch), 422u);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kIdempotencyKeyMismatch), "IDEMPOTENCY_KEY_MISMATCH");
  EXPECT_EQ(HttpStatusFor(ErrorCode::kQueueUnavailable), 503u);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kInternal), "INTERNAL_ERROR");
}

}  // namespace
}  // namespace msgbroker
