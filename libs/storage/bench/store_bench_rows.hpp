#pragma once
// Rows for the MessageStore benchmarks (SQLite, PostgreSQL, MySQL/MariaDB): the same shape of
// data for every backend, so their figures compare.

#include <chrono>
#include <string>
#include <vector>

#include "msgbroker/core/ids.hpp"
#include "msgbroker/storage/message_store.hpp"

namespace msgbroker::storage::bench {

inline constexpr std::size_t kContentBytes = 512;  // about an encrypted 1000-character message

// `size` delivered messages with fresh ids; `serial` spreads clients and sender hashes.
inline std::vector<StoredMessage> MakeBatch(std::size_t size, std::size_t serial) {
  static const ClientId kClients[] = {*ClientId::Parse("acme"), *ClientId::Parse("globex"),
                                      *ClientId::Parse("initech")};
  const auto now = std::chrono::system_clock::now();
  std::vector<StoredMessage> batch(size);
  for (std::size_t i = 0; i < size; ++i) {
    StoredMessage& m = batch[i];
    m.id = MessageId::Generate(now);
    m.client_id = kClients[(serial + i) % 3];
    m.status = MessageStatus::kDelivered;
    m.sender_hmac = std::string(64, static_cast<char>('a' + (serial + i) % 16));
    m.sender_masked = "+4915****5678";
    m.key_id = "k1";
    m.nonce = std::string(12, '\x07');
    m.content = std::string(kContentBytes, '\x5a');
    m.attempts = 1;
    m.queued_at = now;
    m.delivered_at = now;
    m.stored_at = now;
  }
  return batch;
}

}  // namespace msgbroker::storage::bench
