#include "msgbroker/core/ids.hpp"

#include <gtest/gtest.h>

#include <set>

namespace msgbroker {
namespace {

TEST(MessageIdTest, GeneratesVersion7TimeOrderedUuids) {
  const auto t0 =
      std::chrono::system_clock::time_point{std::chrono::milliseconds{1'700'000'000'000}};
  const auto a = MessageId::Generate(t0);
  const auto b = MessageId::Generate(t0 + std::chrono::milliseconds{1});
  ASSERT_EQ(a.str().size(), 36u);
  EXPECT_EQ(a.str()[14], '7');
  EXPECT_TRUE(a.str()[19] == '8' || a.str()[19] == '9' || a.str()[19] == 'a' || a.str()[19] == 'b');
  EXPECT_LT(a, b);
  EXPECT_EQ(a.str().substr(0, 8), "018bcfe5");  // 1'700'000'000'000 ms = 0x018bcfe56800
}

TEST(MessageIdTest, IdsAreUnique) {
  std::set<std::string> seen;
  const auto now = std::chrono::system_clock::now();
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(seen.insert(MessageId::Generate(now).str()).second);
  }
}

TEST(MessageIdTest, ParseAcceptsCanonicalAndNormalisesCase) {
  auto id = MessageId::Parse("018BCFE5-6800-7ABC-8DEF-0123456789AB");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->str(), "018bcfe5-6800-7abc-8def-0123456789ab");
  EXPECT_FALSE(MessageId::Parse(""));
  EXPECT_FALSE(MessageId::Parse("018bcfe5-6800-7abc-8def-0123456789a"));
  EXPECT_FALSE(MessageId::Parse("018bcfe5x6800-7abc-8def-0123456789ab"));
  EXPECT_FALSE(MessageId::Parse("018bcfe5-6800-7abc-8def-0123456789ag"));
  EXPECT_FALSE(MessageId::Parse("../../etc/passwd-0000-0000-00000000"));
}

TEST(ClientIdTest, ParseRules) {
  EXPECT_TRUE(ClientId::Parse("acme-sms_1.prod"));
  EXPECT_FALSE(ClientId::Parse(""));
  EXPECT_FALSE(ClientId::Parse("-leading"));
  EXPECT_FALSE(ClientId::Parse("has space"));
  EXPECT_FALSE(ClientId::Parse("quote'"));
  EXPECT_FALSE(ClientId::Parse(std::string(65, 'a')));
  EXPECT_TRUE(ClientId::Parse(std::string(64, 'a')));
}

TEST(RequestIdTest, GeneratedAndAcceptable) {
  const auto id = NewRequestId();
  EXPECT_EQ(id.size(), 16u);
  EXPECT_TRUE(IsAcceptableRequestId(id));
  EXPECT_NE(id, NewRequestId());
  EXPECT_FALSE(IsAcceptableRequestId(""));
  EXPECT_FALSE(IsAcceptableRequestId("a\r\nSet-Cookie: x"));
  EXPECT_FALSE(IsAcceptableRequestId(std::string(65, 'a')));
}

}  // namespace
}  // namespace msgbroker
