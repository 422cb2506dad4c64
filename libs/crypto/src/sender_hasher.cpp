#include "msgbroker/crypto/sender_hasher.hpp"

#include <openssl/crypto.h>

#include "key_file.hpp"
#include "msgbroker/core/base64.hpp"
#include "primitives.hpp"

namespace msgbroker::crypto {
namespace {

constexpr std::string_view kWhat = "sender hash key file";
constexpr std::size_t kMinKeyBytes = 32;
constexpr std::string_view kMask = "****";

void Cleanse(std::string& secret) { OPENSSL_cleanse(secret.data(), secret.size()); }

}  // namespace

Result<SenderHasher> SenderHasher::FromKey(std::string raw_key) {
  if (raw_key.size() < kMinKeyBytes) {
    Cleanse(raw_key);
    return Fail(ErrorCode::kInvalidRequest,
                "sender hash key must be at least 32 bytes, got " + std::to_string(raw_key.size()));
  }
  return SenderHasher(std::move(raw_key));
}

Result<SenderHasher> SenderHasher::LoadKeyFile(const std::filesystem::path& path) {
  auto text = internal::ReadKeyFile(path, kWhat, internal::Access::kPrivate);
  if (!text) return tl::unexpected(text.error());
  auto key = Base64Decode(internal::TrimWhitespace(*text));
  Cleanse(*text);
  const std::string name = std::string(kWhat) + " " + path.string();
  if (!key) return Fail(ErrorCode::kDataCorrupted, name + ": is not base64 text");
  if (key->size() < kMinKeyBytes) {
    const std::size_t size = key->size();
    Cleanse(*key);
    return Fail(ErrorCode::kDataCorrupted, name + ": holds " + std::to_string(size) +
                                               " bytes; the key must be at least 32 bytes");
  }
  return SenderHasher(std::move(*key));
}

Status SenderHasher::CreateKeyFile(const std::filesystem::path& path) {
  if (auto absent = internal::RequireAbsent(path, kWhat); !absent) return absent;
  auto key = internal::RandomBytes(kMinKeyBytes);
  if (!key) return tl::unexpected(key.error());
  std::string text = Base64Encode(*key) + "\n";
  Cleanse(*key);
  auto written = internal::WriteNewKeyFile(path, kWhat, text, 0600);
  Cleanse(text);
  return written;
}

std::string SenderHasher::Hash(std::string_view e164_number) const {
  return internal::HmacSha256Hex(key_, e164_number);
}

std::string MaskSenderNumber(std::string_view e164_number) {
  std::string out;
  if (!e164_number.empty() && e164_number.front() == '+') {
    out += '+';
    e164_number.remove_prefix(1);
  }
  const std::size_t n = e164_number.size();
  // Shown at each end; a number too short to show anything is masked whole.
  const std::size_t keep = n > 8 ? 4 : (n > 4 ? 2 : 0);
  out += e164_number.substr(0, keep);
  out += kMask;
  out += e164_number.substr(n - keep);
  return out;
}

}  // namespace msgbroker::crypto
