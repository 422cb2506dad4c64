#pragma once
// Checks shared by the API key stores of every backend.

#include "msgbroker/storage/api_key_store.hpp"

namespace msgbroker::storage::detail {

inline Status ValidateNewApiKey(const ApiKey& key) {
  if (key.key_id.empty()) return Fail(ErrorCode::kInvalidRequest, "the key has no id", "key_id");
  if (key.secret_hash.empty()) {
    return Fail(ErrorCode::kInvalidRequest, "the key has no hash", "secret_hash");
  }
  if (key.client_id.empty()) {
    return Fail(ErrorCode::kInvalidRequest, "the key has no client", "client_id");
  }
  for (const auto& cidr : key.allowed_cidrs) {
    if (cidr.empty() || cidr.find(',') != std::string::npos) {
      return Fail(ErrorCode::kInvalidRequest, "an allowed CIDR is empty or holds a comma",
                  "allowed_cidrs");
    }
  }
  if (key.revoked_at) {
    return Fail(ErrorCode::kInvalidRequest, "a new key cannot be revoked already", "revoked_at");
  }
  return Ok();
}

}  // namespace msgbroker::storage::detail
