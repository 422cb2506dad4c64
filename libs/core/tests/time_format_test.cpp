#include "msgbroker/core/time_format.hpp"

#include <gtest/gtest.h>

namespace msgbroker {
namespace {

TEST(TimeFormatTest, FormatsUtcWithMillis) {
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(1'700'000'000'123)), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
}

TEST(TimeFormatTest, RoundTrips) {
  const auto t = FromUnixMillis(1'795'000'000'456);
  const auto parsed = ParseTimestamp(FormatTimestamp(t));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(ToUnixMillis(*parsed), 1'795'000'000'456);
}

TEST(TimeFormatTest, ParsesOffsetsAndDates) {
  auto a = ParseTimestamp("2023-11-14T23:13:20+01:00");
  ASSERT_TRUE(a);
  EXPECT_EQ(ToUnixMillis(*a), 1'700'000'000'000);
  auto d = ParseTimestamp("2023-11-14");
  ASSERT_TRUE(d);
  EXPECT_EQ(FormatTimestamp(*d), "2023-11-14T00:00:00.000Z");
}

TEST(TimeFormatTest, RejectsGarbage) {
  for (const char* bad :
       {"", "2023", "2023-13-01", "2023-02-30", "2023-11-14T25:00:00Z", "2023-11-14T10:00:00",
        "2023-11-14T10:00:00.Z", "yesterday", "2023-11-14T10:00:00+0100"}) {
    EXPECT_FALSE(ParseTimestamp(bad)) << bad;
  }
}

}  // namespace
}  // namespace msgbroker

namespace msgbroker {
namespace {

TEST(TimeFormatTest, RefusesInstantsOutsideTheRepresentableRange) {
  EXPECT_FALSE(ParseTimestamp("2999-01-01"));
  EXPECT_FALSE(ParseTimestamp("1600-01-01T00:00:00Z"));
  auto late = ParseTimestamp("2262-01-01");
  ASSERT_TRUE(late);
  EXPECT_EQ(FormatTimestamp(*late), "2262-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace msgbroker
