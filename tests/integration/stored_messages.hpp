#pragma once
// What the main server has stored, read through its admin API (`GET /api/v1/messages`), as one
// consistent snapshot. The listing pages newest first by offset, so a message stored while the
// pages are read shifts older ones onto the next page, where they would be counted twice (and
// others missed). A snapshot is accepted only when every page reported the same total and the
// number of items read is that total; otherwise it is nullopt and the caller reads again.

#include <cstddef>
#include <optional>
#include <set>
#include <string>

#include "msgbroker/net/https_client.hpp"

namespace msgbroker::testing {

struct Stored {
  std::multiset<std::string> ids;
  std::set<std::string> not_delivered;  // stored with a status other than "delivered"
  std::size_t redelivered = 0;          // stored on a second or later attempt
  int max_attempts = 0;                 // the most attempts any stored message took
};

// nullopt when the main server did not answer 200 or messages were stored while reading.
std::optional<Stored> ReadStored(net::HttpsClient& admin);

}  // namespace msgbroker::testing
