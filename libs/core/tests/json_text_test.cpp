// The hand-written JSON text writer against nlohmann::json, the library it stands in for on the
// hot paths: byte-identical output for well-formed UTF-8, and always parseable output.

#include "msgbroker/core/json_text.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "msgbroker/core/utf8.hpp"

namespace msgbroker {
namespace {

std::string Written(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

std::string Nlohmann(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A random string of code points from every UTF-8 length class, with the characters JSON must
// escape over-represented.
std::string RandomUtf8(std::mt19937& rng) {
  static constexpr char32_t kSpecial[] = {'"',   '\\',  '\n',   '\r',    '\t',    '\b',
                                          '\f',  0x00,  0x1f,   0x7f,    '/',     0x80,
                                          0x7ff, 0x800, 0xfffd, 0x10000, 0x10ffff};
  std::uniform_int_distribution<int> length(0, 40);
  std::uniform_int_distribution<int> kind(0, 5);
  std::string out;
  for (int n = length(rng); n > 0; --n) {
    char32_t cp = 0;
    switch (kind(rng)) {
      case 0:
        cp = kSpecial[std::uniform_int_distribution<std::size_t>(0, std::size(kSpecial) - 1)(rng)];
        break;
      case 1:
        cp = std::uniform_int_distribution<char32_t>(0, 0x7f)(rng);
        break;
      case 2:
        cp = std::uniform_int_distribution<char32_t>(0x80, 0x7ff)(rng);
        break;
      case 3:
        cp = std::uniform_int_distribution<char32_t>(0x800, 0xd7ff)(rng);
        break;
      case 4:
        cp = std::uniform_int_distribution<char32_t>(0xe000, 0xffff)(rng);
        break;
      default:
        cp = std::uniform_int_distribution<char32_t>(0x10000, 0x10ffff)(rng);
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  return out;
}

TEST(JsonText, EscapesWhatJsonRequires) {
  EXPECT_EQ(Written(""), R"("")");
  EXPECT_EQ(Written("plain text / with slash"), R"("plain text / with slash")");
  EXPECT_EQ(Written("say \"hi\" \\ bye"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(Written("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(Written(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(Written("Grüße €𝄞"), "\"Grüße €𝄞\"");
}

TEST(JsonText, MatchesNlohmannForWellFormedUtf8) {
  std::mt19937 rng(20261124);
  for (int i = 0; i < 20000; ++i) {
    const std::string text = RandomUtf8(rng);
    ASSERT_TRUE(Utf8Length(text).has_value());
    ASSERT_EQ(Written(text), Nlohmann(text)) << "input #" << i;
  }
}

TEST(JsonText, MalformedUtf8IsReplacedAndTheOutputParses) {
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(Written("a\xff"
                    "b"),
            "\"a" + replacement + "b\"");
  EXPECT_EQ(Written("\xc0\x99"), "\"" + replacement + replacement + "\"");  // overlong
  EXPECT_EQ(Written("\xed\xa0\x80"), "\"" + replacement + replacement + replacement + "\"");
  EXPECT_EQ(Written("end\xe2\x82"), "\"end" + replacement + replacement + "\"");  // truncated
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 20000; ++i) {
    std::string text(static_cast<std::size_t>(byte(rng) % 24), '\0');
    for (auto& c : text) c = static_cast<char>(byte(rng));
    const std::string written = Written(text);
    ASSERT_TRUE(Utf8Length(written).has_value()) << "input #" << i;
    const auto parsed = nlohmann::json::parse(written, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << "input #" << i;
    if (Utf8Length(text)) {
      ASSERT_EQ(parsed.get<std::string>(), text);
    }
  }
}

TEST(JsonText, KeysAndNumbers) {
  std::string out = "{";
  AppendJsonKey(out, "n");
  AppendJsonNumber(out, std::numeric_limits<std::int64_t>::min());
  out += ',';
  AppendJsonKey(out, "m");
  AppendJsonNumber(out, 1795561298582);
  out += '}';
  EXPECT_EQ(out, R"({"n":-9223372036854775808,"m":1795561298582})");
  EXPECT_EQ(nlohmann::json::parse(out)["m"], 1795561298582);
}

}  // namespace
}  // namespace msgbroker
