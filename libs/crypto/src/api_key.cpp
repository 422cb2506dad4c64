#include "msgbroker/crypto/api_key.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace msgbroker::crypto {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string ToHex(const std::uint8_t* data, std::size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0x0f];
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (HexValue(c) < 0) return false;
  }
  return true;
}

}  // namespace

Result<GeneratedApiKey> GenerateApiKey() {
  std::array<std::uint8_t, kApiKeyIdHexLength / 2> id{};
  std::array<std::uint8_t, kApiKeySecretHexLength / 2> secret{};
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1 ||
      RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    return Fail(ErrorCode::kInternal, "the random generator failed");
  }
  GeneratedApiKey out;
  out.key_id = ToHex(id.data(), id.size());
  out.key = std::string(kApiKeyPrefix) + out.key_id + "_" + ToHex(secret.data(), secret.size());
  OPENSSL_cleanse(secret.data(), secret.size());
  out.secret_hash = HashApiKeyHex(out.key);
  return out;
}

std::optional<std::string> ParseApiKeyId(std::string_view key) {
  if (key.size() != kApiKeyLength || key.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix) {
    return std::nullopt;
  }
  const auto id = key.substr(kApiKeyPrefix.size(), kApiKeyIdHexLength);
  const auto separator = key[kApiKeyPrefix.size() + kApiKeyIdHexLength];
  const auto secret = key.substr(kApiKeyPrefix.size() + kApiKeyIdHexLength + 1);
  if (separator != '_' || !IsLowerHex(id) || !IsLowerHex(secret)) return std::nullopt;
  return std::string(id);
}

ApiKeyDigest HashApiKey(std::string_view key) {
  ApiKeyDigest digest{};
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest.data());
  return digest;
}

std::string HashApiKeyHex(std::string_view key) {
  const auto digest = HashApiKey(key);
  return ToHex(digest.data(), digest.size());
}

std::optional<ApiKeyDigest> ParseApiKeyHash(std::string_view hex) {
  ApiKeyDigest digest{};
  if (hex.size() != digest.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < digest.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    digest[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return digest;
}

bool ApiKeyDigestsEqual(const ApiKeyDigest& a, const ApiKeyDigest& b) noexcept {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace msgbroker::crypto
