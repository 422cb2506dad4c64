#include "msgbroker/core/utf8.hpp"

#include <gtest/gtest.h>

namespace msgbroker {
namespace {

TEST(Utf8Test, LengthAndBlank) {
  EXPECT_EQ(Utf8Length("aé✓😀"), 4u);
  EXPECT_EQ(Utf8Length(""), 0u);
  EXPECT_TRUE(IsBlank(" \u2003\u3000"));
  EXPECT_FALSE(IsBlank(" a "));
}

TEST(Utf8Test, MalformedSequencesAreRefused) {
  for (const std::string_view bad : {
           std::string_view("\x80"),              // a continuation byte alone
           std::string_view("\xc0\x99"),          // overlong U+0019 (the config fuzzer's find)
           std::string_view("\xe0\x80\xaf"),      // overlong '/'
           std::string_view("\xed\xa0\x80"),      // a UTF-16 surrogate
           std::string_view("\xf4\x90\x80\x80"),  // above U+10FFFF
           std::string_view("\xe2\x9c"),          // truncated
           std::string_view("ok\xff"),            // never valid
       }) {
    EXPECT_FALSE(Utf8Length(bad)) << bad.size();
  }
}

TEST(Utf8Test, DisallowedControls) {
  EXPECT_TRUE(HasDisallowedControl(std::string_view("a\0b", 3)));
  EXPECT_TRUE(HasDisallowedControl("\x7f"));
  EXPECT_FALSE(HasDisallowedControl("tab\tline\ncr\r"));
}

}  // namespace
}  // namespace msgbroker
