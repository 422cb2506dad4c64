// Idempotency-Key parsing (RFC 8941 sf-string), request fingerprints and derived message ids.

#include "msgbroker/proxy/idempotency.hpp"

#include <gtest/gtest.h>

#include <set>

namespace msgbroker::proxy {
namespace {

TEST(IdempotencyKeyTest, AcceptsStructuredFieldStrings) {
  EXPECT_EQ(*ParseIdempotencyKey(R"("8e03978e-40d5-43e8-bc93-6894a57f9324")"),
            "8e03978e-40d5-43e8-bc93-6894a57f9324");
  EXPECT_EQ(*ParseIdempotencyKey(R"("a")"), "a");
  EXPECT_EQ(*ParseIdempotencyKey(R"("with space and ~!#$%&'()*+,-./:;<=>?@[]^_`{|}")"),
            "with space and ~!#$%&'()*+,-./:;<=>?@[]^_`{|}");
  EXPECT_EQ(*ParseIdempotencyKey(R"("quote \" and backslash \\")"), R"(quote " and backslash \)");
  EXPECT_EQ(*ParseIdempotencyKey(" \t\"padded\" "), "padded");
}

TEST(IdempotencyKeyTest, RefusesWhatIsNotAnSfStringWithInvalidRequestNamingTheHeader) {
  for (std::string_view bad :
       {"", "   ", "unquoted", "'single'", R"(")", R"("unterminated)", R"("")", R"("a"b)",
        R"("a";param=1)", R"("a", "b")", R"("bad \n escape")", R"("trailing backslash \")",
        "\"tab\there\"", "\"newline\nhere\"", "\"del\x7f\"", "\"utf8 \xc3\xa9\"", R"(:YWJj:)", "42",
        "?1"}) {
    auto key = ParseIdempotencyKey(bad);
    ASSERT_FALSE(key) << "accepted: " << bad;
    EXPECT_EQ(key.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(key.error().field, "Idempotency-Key");
  }
}

TEST(IdempotencyKeyTest, LengthLimitIs255Characters) {
  const std::string longest(kMaxIdempotencyKeyLength, 'k');
  EXPECT_EQ(*ParseIdempotencyKey("\"" + longest + "\""), longest);
  EXPECT_FALSE(ParseIdempotencyKey("\"" + longest + "k\""));
  // Escapes count as the character they stand for.
  const std::string escaped = "\"" + std::string(254, 'k') + "\\\\\"";
  EXPECT_EQ(ParseIdempotencyKey(escaped)->size(), kMaxIdempotencyKeyLength);
}

TEST(RequestFingerprintTest, CoversMethodTargetAndBodyExactly) {
  const auto base = RequestFingerprint("POST", "/api/v1/messages", R"({"a":1})");
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(base, RequestFingerprint("POST", "/api/v1/messages", R"({"a":1})"));
  EXPECT_NE(base, RequestFingerprint("PUT", "/api/v1/messages", R"({"a":1})"));
  EXPECT_NE(base, RequestFingerprint("POST", "/api/v1/messages/batch", R"({"a":1})"));
  EXPECT_NE(base, RequestFingerprint("POST", "/api/v1/messages", R"({"a":2})"));
  // Bytes, not JSON meaning: whitespace makes another request.
  EXPECT_NE(base, RequestFingerprint("POST", "/api/v1/messages", R"({"a": 1})"));
  // Fields are length-prefixed: moving a boundary changes the fingerprint.
  EXPECT_NE(RequestFingerprint("POST", "/ab", "c"), RequestFingerprint("POST", "/a", "bc"));
}

TEST(IdempotencyKeyHashTest, IsHexSha256AndDistinguishesKeys) {
  EXPECT_EQ(IdempotencyKeyHash("k").size(), 64u);
  EXPECT_EQ(IdempotencyKeyHash("k"), IdempotencyKeyHash("k"));
  EXPECT_NE(IdempotencyKeyHash("k"), IdempotencyKeyHash("K"));
}

TEST(DerivedMessageIdTest, DeterministicPerClientKeyRequestAndIndexAndAVersion8Uuid) {
  const auto a = *ClientId::Parse("client-a");
  const auto b = *ClientId::Parse("client-b");
  const auto id = DerivedMessageId(a, "key-1", "fp", 0);
  EXPECT_EQ(id, DerivedMessageId(a, "key-1", "fp", 0));
  ASSERT_EQ(id.str().size(), 36u);
  EXPECT_EQ(id.str()[14], '8');                                          // version 8
  EXPECT_NE(std::string("89ab").find(id.str()[19]), std::string::npos);  // RFC 9562 variant
  EXPECT_EQ(MessageId::Parse(id.str()), id);

  std::set<std::string> ids;
  for (const auto& client : {a, b}) {
    for (std::string_view key : {"key-1", "key-2", "key-10"}) {
      for (std::string_view fp : {"fp", "fp2"}) {
        for (std::size_t i = 0; i < 100; ++i) {
          ids.insert(DerivedMessageId(client, key, fp, i).str());
        }
      }
    }
  }
  EXPECT_EQ(ids.size(), 2u * 3u * 2u * 100u);
  const IdempotentRequest keyed{a, "key-1", "fp"};
  EXPECT_EQ(keyed.IdFor(7), DerivedMessageId(a, "key-1", "fp", 7));
}

}  // namespace
}  // namespace msgbroker::proxy
