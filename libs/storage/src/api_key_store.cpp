#include "msgbroker/storage/api_key_store.hpp"

namespace msgbroker::storage {

std::string JoinCidrs(const std::vector<std::string>& cidrs) {
  std::string out;
  for (const auto& cidr : cidrs) {
    if (!out.empty()) out += ',';
    out += cidr;
  }
  return out;
}

std::vector<std::string> SplitCidrs(std::string_view joined) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    const auto comma = joined.find(',');
    const auto part = joined.substr(0, comma);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    joined.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace msgbroker::storage
