#pragma once
// The OpenSSL primitives this library is built on: AES-256-GCM, HMAC-SHA256 and the CSPRNG.

#include <cstddef>
#include <string>
#include <string_view>

#include "msgbroker/core/result.hpp"

namespace msgbroker::crypto::internal {

inline constexpr std::size_t kAesKeyBytes = 32;  // AES-256
inline constexpr std::size_t kGcmNonceBytes = 12;
inline constexpr std::size_t kGcmTagBytes = 16;

// `n` bytes from OpenSSL's CSPRNG.
Result<std::string> RandomBytes(std::size_t n);

// AES-256-GCM. The associated data is `aad_prefix` followed by `aad`. Writes the ciphertext
// followed by the tag (plaintext.size() + kGcmTagBytes bytes) to `out`.
Status AesGcmEncrypt(std::string_view key, std::string_view nonce, std::string_view plaintext,
                     std::string_view aad_prefix, std::string_view aad, char* out);
// kDataCorrupted when `sealed` (ciphertext || tag) is too short or the tag does not verify.
Result<std::string> AesGcmDecrypt(std::string_view key, std::string_view nonce,
                                  std::string_view sealed, std::string_view aad_prefix,
                                  std::string_view aad);

// Lowercase hex of HMAC-SHA256(key, data). Any key length; callers enforce their own minimum.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

}  // namespace msgbroker::crypto::internal
