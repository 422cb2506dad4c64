#include "msgbroker/core/time_format.hpp"

#include <fmt/format.h>

#include <charconv>
#include <ctime>

namespace msgbroker {
namespace {

bool ParseInt(std::string_view s, int& out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

std::string FormatTimestamp(SystemTime t) {
  const auto ms = ToUnixMillis(t);
  std::int64_t secs = ms / 1000;
  std::int64_t rem = ms % 1000;
  if (rem < 0) {
    rem += 1000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
}

std::optional<SystemTime> ParseTimestamp(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  if (!ParseInt(text.substr(0, 4), year) || !ParseInt(text.substr(5, 2), month) ||
      !ParseInt(text.substr(8, 2), day)) {
    return std::nullopt;
  }
  std::int64_t millis = 0;
  int offset_minutes = 0;
  if (text.size() > 10) {
    if ((text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text.size() < 20 ||
        text[13] != ':' || text[16] != ':') {
      return std::nullopt;
    }
    if (!ParseInt(text.substr(11, 2), hour) || !ParseInt(text.substr(14, 2), minute) ||
        !ParseInt(text.substr(17, 2), second)) {
      return std::nullopt;
    }
    std::string_view rest = text.substr(19);
    if (!rest.empty() && rest.front() == '.') {
      std::size_t n = 1;
      int scale = 100;
      while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') {
        millis += (rest[n] - '0') * scale;
        scale /= 10;
        ++n;
      }
      if (n == 1) return std::nullopt;
      rest = rest.substr(n);
    }
    if (rest == "Z" || rest == "z") {
      offset_minutes = 0;
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
      int oh = 0, om = 0;
      if (!ParseInt(rest.substr(1, 2), oh) || !ParseInt(rest.substr(4, 2), om)) return std::nullopt;
      offset_minutes = (oh * 60 + om) * (rest[0] == '-' ? -1 : 1);
    } else {
      return std::nullopt;
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{year},
                           std::chrono::month{static_cast<unsigned>(month)},
                           std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  const auto tp = sys_days{ymd} + hours{hour} + minutes{minute} + seconds{second} +
                  milliseconds{millis} - minutes{offset_minutes};
  // SystemTime counts nanoseconds in 64 bits: years 1678-2262. Outside, refuse, never wrap.
  if (tp < time_point_cast<milliseconds>(SystemTime::min()) + seconds{1} ||
      tp > time_point_cast<milliseconds>(SystemTime::max()) - seconds{1}) {
    return std::nullopt;
  }
  return time_point_cast<SystemTime::duration>(tp);
}

std::int64_t ToUnixMillis(SystemTime t) noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

SystemTime FromUnixMillis(std::int64_t ms) noexcept {
  return SystemTime{
      std::chrono::duration_cast<SystemTime::duration>(std::chrono::milliseconds{ms})};
}

}  // namespace msgbroker
