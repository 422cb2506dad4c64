#include "stored_messages.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace msgbroker::testing {

std::optional<Stored> ReadStored(net::HttpsClient& admin) {
  Stored stored;
  std::optional<std::size_t> total;
  std::size_t items = 0;
  for (int page = 1; page <= 1000; ++page) {
    auto r = admin.Get("/api/v1/messages?page_size=500&page=" + std::to_string(page));
    if (!r || r->result_int() != 200) return std::nullopt;
    const auto doc = nlohmann::json::parse(r->body());
    const auto page_total = doc["total"].get<std::size_t>();
    if (total && *total != page_total) return std::nullopt;  // stored while reading
    total = page_total;
    for (const auto& item : doc["items"]) {
      const auto id = item["message_id"].get<std::string>();
      const int attempts = item["attempts"].get<int>();
      stored.ids.insert(id);
      if (item["status"] != "delivered") stored.not_delivered.insert(id);
      if (attempts > 1) ++stored.redelivered;
      stored.max_attempts = std::max(stored.max_attempts, attempts);
      ++items;
    }
    if (page >= doc["pages"].get<int>()) {
      if (items != *total) return std::nullopt;
      return stored;
    }
  }
  return std::nullopt;
}

}  // namespace msgbroker::testing
