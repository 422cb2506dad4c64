#pragma once
// API key material (docs/adr/0012): `mbk_<key id>_<secret>` where the key id is 8 random bytes
// (16 lowercase hex digits, public: it names the key in lists, logs and the audit log) and the
// secret is 32 random bytes (64 lowercase hex digits) from OpenSSL's CSPRNG. Only the SHA-256 of
// the whole key is stored; a 256-bit random secret needs no slow password hash (nothing to
// brute-force), so a check costs one SHA-256 and a constant-time comparison.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "msgbroker/core/result.hpp"

namespace msgbroker::crypto {

inline constexpr std::string_view kApiKeyPrefix = "mbk_";
inline constexpr std::size_t kApiKeyIdHexLength = 16;
inline constexpr std::size_t kApiKeySecretHexLength = 64;
inline constexpr std::size_t kApiKeyLength =
    kApiKeyPrefix.size() + kApiKeyIdHexLength + 1 + kApiKeySecretHexLength;

using ApiKeyDigest = std::array<std::uint8_t, 32>;

struct GeneratedApiKey {
  std::string key_id;       // 16 hex digits
  std::string key;          // the whole key, shown once
  std::string secret_hash;  // lowercase hex SHA-256 of `key`, what is stored
};

// A fresh key. kInternal when the random generator fails.
Result<GeneratedApiKey> GenerateApiKey();

// The key id of a well-formed key (prefix, 16 + 64 lowercase hex digits, one '_' between), or
// nullopt for anything else.
std::optional<std::string> ParseApiKeyId(std::string_view key);

// SHA-256 of the key, raw and as stored (lowercase hex).
ApiKeyDigest HashApiKey(std::string_view key);
std::string HashApiKeyHex(std::string_view key);
// The stored hex hash back to bytes; nullopt unless 64 hex digits.
std::optional<ApiKeyDigest> ParseApiKeyHash(std::string_view hex);

// Constant-time comparison of two digests (CRYPTO_memcmp).
bool ApiKeyDigestsEqual(const ApiKeyDigest& a, const ApiKeyDigest& b) noexcept;

}  // namespace msgbroker::crypto
