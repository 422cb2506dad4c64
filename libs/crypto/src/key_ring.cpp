#include "msgbroker/crypto/key_ring.hpp"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "key_file.hpp"
#include "msgbroker/core/base64.hpp"
#include "primitives.hpp"

namespace msgbroker::crypto {
namespace {

constexpr std::string_view kWhat = "key ring file";
constexpr int kFormatVersion = 1;
constexpr std::string_view kFirstKeyId = "k1";

// Why `keys` with `active` is not a usable ring, or empty when it is.
std::string CheckRing(const std::map<std::string, std::string>& keys, const std::string& active) {
  if (keys.empty()) return "holds no keys";
  for (const auto& [id, key] : keys) {
    if (id.empty()) return "has a key with an empty id";
    if (key.size() != internal::kAesKeyBytes) {
      return "key '" + id + "' has " + std::to_string(key.size()) +
             " bytes; AES-256 needs exactly 32";
    }
  }
  if (!keys.contains(active)) return "active key '" + active + "' is not in the ring";
  return {};
}

void Cleanse(std::string& secret) { OPENSSL_cleanse(secret.data(), secret.size()); }

// The ring a parsed key-ring document describes; errors say what is wrong, without the file name.
Result<KeyRing> ParseRing(const nlohmann::json& doc) {
  const auto bad = [](std::string problem) {
    return Fail(ErrorCode::kDataCorrupted, std::move(problem));
  };
  if (doc.is_discarded()) return bad("is not valid JSON");
  if (!doc.is_object()) return bad("is not a JSON object");
  const auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() || *version != kFormatVersion) {
    return bad("\"version\" must be 1");
  }
  const auto active = doc.find("active");
  if (active == doc.end() || !active->is_string()) return bad("\"active\" must be a string");
  const auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_object()) return bad("\"keys\" must be an object");

  std::map<std::string, std::string> raw_keys;
  const auto wipe = [&raw_keys] {
    for (auto& [id, key] : raw_keys) Cleanse(key);
  };
  for (const auto& [id, value] : keys->items()) {
    std::optional<std::string> raw;
    if (value.is_string()) raw = Base64Decode(value.get_ref<const std::string&>());
    if (!raw) {
      wipe();
      return bad("key '" + id + "' is not a base64 string");
    }
    raw_keys.emplace(id, std::move(*raw));
  }
  const std::string& active_id = active->get_ref<const std::string&>();
  if (auto problem = CheckRing(raw_keys, active_id); !problem.empty()) {
    wipe();
    return bad(std::move(problem));
  }
  return KeyRing::FromKeys(std::move(raw_keys), active_id);
}

}  // namespace

Result<KeyRing> KeyRing::FromKeys(std::map<std::string, std::string> raw_keys,
                                  std::string active_key_id) {
  if (auto problem = CheckRing(raw_keys, active_key_id); !problem.empty()) {
    for (auto& [id, key] : raw_keys) Cleanse(key);
    return Fail(ErrorCode::kInvalidRequest, "key ring " + problem);
  }
  KeyRing ring;
  ring.keys_ = std::move(raw_keys);
  ring.active_ = std::move(active_key_id);
  return ring;
}

Result<KeyRing> KeyRing::LoadFile(const std::filesystem::path& path) {
  auto text = internal::ReadKeyFile(path, kWhat, internal::Access::kPrivate);
  if (!text) return tl::unexpected(text.error());
  auto doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  Cleanse(*text);
  auto ring = ParseRing(doc);
  if (doc.is_object() && doc.contains("keys") && doc["keys"].is_object()) {
    for (auto& [id, value] : doc["keys"].items()) {
      if (value.is_string()) Cleanse(value.get_ref<std::string&>());
    }
  }
  if (!ring) {
    return Fail(ring.error().code,
                std::string(kWhat) + " " + path.string() + ": " + ring.error().message);
  }
  return ring;
}

Status KeyRing::CreateFile(const std::filesystem::path& path) {
  if (auto absent = internal::RequireAbsent(path, kWhat); !absent) return absent;
  auto key = internal::RandomBytes(internal::kAesKeyBytes);
  if (!key) return tl::unexpected(key.error());
  std::string encoded = Base64Encode(*key);
  Cleanse(*key);
  nlohmann::json doc = {
      {"version", kFormatVersion}, {"active", kFirstKeyId}, {"keys", {{kFirstKeyId, encoded}}}};
  Cleanse(encoded);
  std::string text = doc.dump() + "\n";
  Cleanse(doc["keys"][std::string(kFirstKeyId)].get_ref<std::string&>());
  auto written = internal::WriteNewKeyFile(path, kWhat, text, 0600);
  Cleanse(text);
  return written;
}

Result<SealedData> KeyRing::Encrypt(std::string_view plaintext,
                                    std::string_view associated_data) const {
  const auto key = keys_.find(active_);
  if (key == keys_.end()) return Fail(ErrorCode::kInternal, "key ring has no active key");
  auto nonce = internal::RandomBytes(internal::kGcmNonceBytes);
  if (!nonce) return tl::unexpected(nonce.error());
  SealedData sealed{active_, std::move(*nonce),
                    std::string(plaintext.size() + internal::kGcmTagBytes, '\0')};
  if (auto ok = internal::AesGcmEncrypt(key->second, sealed.nonce, plaintext, {}, associated_data,
                                        sealed.ciphertext.data());
      !ok) {
    return tl::unexpected(ok.error());
  }
  return sealed;
}

Result<std::string> KeyRing::Decrypt(const SealedData& sealed,
                                     std::string_view associated_data) const {
  const auto key = keys_.find(sealed.key_id);
  if (key == keys_.end()) {
    return Fail(ErrorCode::kNotFound, "key '" + sealed.key_id + "' is not in the key ring");
  }
  return internal::AesGcmDecrypt(key->second, sealed.nonce, sealed.ciphertext, {}, associated_data);
}

}  // namespace msgbroker::crypto
