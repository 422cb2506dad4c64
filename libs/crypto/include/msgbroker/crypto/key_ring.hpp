#pragma once
// AES-256-GCM encryption at rest with a key ring.
//
// Key-ring file (JSON, mode 0600):
//   {"version":1,"active":"k1","keys":{"k1":"<base64 of 32 bytes>", ...}}
// Every ciphertext records the id of the key that made it, so keys can rotate: new data uses
// the active key; old data stays readable while its key is in the ring.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "msgbroker/core/result.hpp"

namespace msgbroker::crypto {

struct SealedData {
  std::string key_id;
  std::string nonce;       // 12 random bytes, fresh per encryption
  std::string ciphertext;  // ciphertext followed by the 16-byte GCM tag
};

class KeyRing {
 public:
  // Errors name the file and what is wrong (missing, unreadable, bad JSON, bad key length,
  // active key not in the ring, group/world-readable): kNotFound when missing, kForbidden when
  // group or others may access it, kDataCorrupted for bad contents, kInternal otherwise.
  static Result<KeyRing> LoadFile(const std::filesystem::path& path);
  // Creates a new file with one fresh key; refuses to overwrite.
  static Status CreateFile(const std::filesystem::path& path);
  // In-memory ring, for tests and tools. kInvalidRequest unless every key is 32 bytes and the
  // active key is in the ring.
  static Result<KeyRing> FromKeys(std::map<std::string, std::string> raw_keys,
                                  std::string active_key_id);

  const std::string& active_key_id() const noexcept { return active_; }

  Result<SealedData> Encrypt(std::string_view plaintext, std::string_view associated_data) const;
  // kDataCorrupted when the tag does not verify (wrong key, tampering or wrong AD);
  // kNotFound when the key id is not in the ring.
  Result<std::string> Decrypt(const SealedData& sealed, std::string_view associated_data) const;

 private:
  std::map<std::string, std::string> keys_;  // id -> 32 raw bytes
  std::string active_;
};

}  // namespace msgbroker::crypto
