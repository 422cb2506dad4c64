#include "msgbroker/net/router.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace msgbroker::net {
namespace {

constexpr std::size_t kMaxParams = 8;

bool IsPlaceholder(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Splits "/a/b" into {"a", "b"}; "/" yields one empty segment.
std::vector<std::string> SplitPattern(std::string_view path) {
  std::vector<std::string> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    const auto slash = path.find('/');
    segments.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

struct Capture {
  std::string_view name;
  std::string_view value;
};

// Walks `path` segment by segment against `segments` without allocating; fills `captures`
// (and `count`) for the placeholders.
bool MatchSegments(const std::vector<std::string>& segments, std::string_view path,
                   std::array<Capture, kMaxParams>& captures, std::size_t& count) {
  count = 0;
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto slash = path.find('/');
    const bool last = slash == std::string_view::npos;
    if (last != (i + 1 == segments.size())) return false;
    const std::string_view segment = path.substr(0, slash);
    const std::string& expected = segments[i];
    if (IsPlaceholder(expected)) {
      if (segment.empty() || count == kMaxParams) return false;
      captures[count++] = {std::string_view(expected).substr(1, expected.size() - 2), segment};
    } else if (segment != expected) {
      return false;
    }
    if (!last) path.remove_prefix(slash + 1);
  }
  return true;
}

}  // namespace

void Router::Add(http::verb method, std::string pattern, Handler handler) {
  auto segments = SplitPattern(pattern);
  if (std::count_if(segments.begin(), segments.end(), [](const std::string& s) {
        return IsPlaceholder(s);
      }) > static_cast<std::ptrdiff_t>(kMaxParams)) {
    throw std::invalid_argument("route " + pattern + " has more than 8 placeholders");
  }
  routes_.push_back({method, std::move(pattern), std::move(segments), std::move(handler)});
}

Router::Match Router::Find(http::verb method, std::string_view target_path) const {
  const std::string_view path = target_path.substr(0, target_path.find('?'));
  Match match;
  std::array<Capture, kMaxParams> captures;
  std::size_t count = 0;
  for (const auto& route : routes_) {
    if (!MatchSegments(route.segments, path, captures, count)) continue;
    if (route.method == method) {
      match.handler = &route.handler;
      match.route = route.pattern;
      for (std::size_t i = 0; i < count; ++i) {
        match.params.emplace(std::string(captures[i].name), std::string(captures[i].value));
      }
      match.allowed.clear();
      return match;
    }
    if (match.allowed.empty()) match.route = route.pattern;
    if (std::find(match.allowed.begin(), match.allowed.end(), route.method) ==
        match.allowed.end()) {
      match.allowed.push_back(route.method);
    }
  }
  return match;
}

}  // namespace msgbroker::net
