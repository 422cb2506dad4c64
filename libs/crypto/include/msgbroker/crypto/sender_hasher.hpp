#pragma once
// Sender numbers are never stored in clear: a keyed HMAC-SHA256 for exact-match search, and a
// masked form for display.

#include <filesystem>
#include <string>
#include <string_view>

#include "msgbroker/core/result.hpp"

namespace msgbroker::crypto {

class SenderHasher {
 public:
  // Secret file: 32+ random bytes, base64 text (mode 0600). LoadKeyFile refuses a file that
  // group or others may access, and one holding fewer than 32 bytes; errors name the file.
  static Result<SenderHasher> LoadKeyFile(const std::filesystem::path& path);
  // Writes 32 fresh random bytes; refuses to overwrite.
  static Status CreateKeyFile(const std::filesystem::path& path);
  // kInvalidRequest for a key shorter than 32 bytes.
  static Result<SenderHasher> FromKey(std::string raw_key);

  // Lowercase hex HMAC-SHA256(key, number).
  std::string Hash(std::string_view e164_number) const;

 private:
  explicit SenderHasher(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

// "+4915112345678" -> "+4915****5678": keep '+', the first 4 digits and the last 4, mask the
// rest; numbers with 8 digits or fewer keep only the first 2 and last 2 digits, and numbers with
// 4 digits or fewer are masked whole ("+****"). The mask is always "****", whatever the length.
std::string MaskSenderNumber(std::string_view e164_number);

}  // namespace msgbroker::crypto
