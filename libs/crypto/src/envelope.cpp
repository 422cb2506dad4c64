#include "msgbroker/crypto/envelope.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <list>
#include <unordered_map>
#include <utility>

#include "key_file.hpp"
#include "msgbroker/core/base64.hpp"
#include "primitives.hpp"

namespace msgbroker::crypto {
namespace {

constexpr std::string_view kMagic = "MBE1";
constexpr std::size_t kDekBytes = internal::kAesKeyBytes;
constexpr std::size_t kSealedDekBytes = crypto_box_SEALBYTES + kDekBytes;
constexpr std::size_t kHeaderBytes = kMagic.size() + 2 + kSealedDekBytes;
constexpr std::size_t kOverheadBytes =
    kHeaderBytes + internal::kGcmNonceBytes + internal::kGcmTagBytes;
// Random 96-bit nonces stay safe for 2^32 messages under one key (NIST SP 800-38D).
constexpr std::size_t kMaxMessagesPerDek = std::size_t{1} << 32;
constexpr std::size_t kOpenerCacheEntries = 1024;
constexpr std::string_view kPublicWhat = "envelope public key file";
constexpr std::string_view kSecretWhat = "envelope secret key file";

using PublicKey = std::array<unsigned char, crypto_box_PUBLICKEYBYTES>;
using SecretKey = std::array<unsigned char, crypto_box_SECRETKEYBYTES>;

Status InitSodium() {
  static const int result = sodium_init();
  if (result < 0) return Fail(ErrorCode::kInternal, "libsodium failed to initialise");
  return Ok();
}

std::string_view View(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A data key; wiped when the last envelope operation using it lets go.
struct Dek {
  std::array<unsigned char, kDekBytes> key{};
  // Sealer only: "MBE1" | u16 sealed length | sealed key, the start of every envelope under it.
  std::string header;

  Dek() = default;
  Dek(const Dek&) = delete;
  Dek& operator=(const Dek&) = delete;
  ~Dek() { OPENSSL_cleanse(key.data(), key.size()); }
  std::string_view key_view() const { return View(key.data(), key.size()); }
};

std::string EnvelopeHeader(std::string_view sealed_dek) {
  std::string header(kMagic);
  header += static_cast<char>((sealed_dek.size() >> 8) & 0xff);
  header += static_cast<char>(sealed_dek.size() & 0xff);
  header += sealed_dek;
  return header;
}

// Reads a base64 key file holding exactly `size` bytes into `out`.
Status ReadRawKey(const std::filesystem::path& path, std::string_view what, internal::Access access,
                  unsigned char* out, std::size_t size) {
  auto text = internal::ReadKeyFile(path, what, access);
  if (!text) return tl::unexpected(text.error());
  auto raw = Base64Decode(internal::TrimWhitespace(*text));
  OPENSSL_cleanse(text->data(), text->size());
  const std::string name = std::string(what) + " " + path.string();
  if (!raw) return Fail(ErrorCode::kDataCorrupted, name + ": is not base64 text");
  if (raw->size() != size) {
    const std::size_t got = raw->size();
    OPENSSL_cleanse(raw->data(), raw->size());
    return Fail(ErrorCode::kDataCorrupted, name + ": holds " + std::to_string(got) +
                                               " bytes; an X25519 key is " + std::to_string(size));
  }
  std::memcpy(out, raw->data(), size);
  OPENSSL_cleanse(raw->data(), raw->size());
  return Ok();
}

Status WriteRawKey(const std::filesystem::path& path, std::string_view what,
                   const unsigned char* key, std::size_t size, mode_t mode) {
  std::string text = Base64Encode(View(key, size)) + "\n";
  auto written = internal::WriteNewKeyFile(path, what, text, mode);
  OPENSSL_cleanse(text.data(), text.size());
  return written;
}

}  // namespace

Status CreateEnvelopeKeyPair(const std::filesystem::path& public_key_file,
                             const std::filesystem::path& secret_key_file) {
  if (auto ok = InitSodium(); !ok) return ok;
  if (auto ok = internal::RequireAbsent(public_key_file, kPublicWhat); !ok) return ok;
  if (auto ok = internal::RequireAbsent(secret_key_file, kSecretWhat); !ok) return ok;
  PublicKey public_key{};
  SecretKey secret_key{};
  if (crypto_box_keypair(public_key.data(), secret_key.data()) != 0) {
    return Fail(ErrorCode::kInternal, "could not generate an X25519 key pair");
  }
  auto secret_written =
      WriteRawKey(secret_key_file, kSecretWhat, secret_key.data(), secret_key.size(), 0600);
  sodium_memzero(secret_key.data(), secret_key.size());
  if (!secret_written) return secret_written;
  auto public_written =
      WriteRawKey(public_key_file, kPublicWhat, public_key.data(), public_key.size(), 0644);
  // Half a pair is useless: take the secret key back out when its public half failed.
  if (!public_written) std::filesystem::remove(secret_key_file);
  return public_written;
}

// ---------------------------------------------------------------------------------------------

struct EnvelopeSealer::Impl {
  PublicKey public_key{};
  Options options;

  std::mutex mutex;
  std::shared_ptr<const Dek> current;                 // guarded by mutex
  std::size_t dek_uses = 0;                           // guarded by mutex
  std::chrono::steady_clock::time_point dek_created;  // guarded by mutex

  Result<std::shared_ptr<const Dek>> NewDek() const {
    auto fresh = std::make_shared<Dek>();
    if (RAND_bytes(fresh->key.data(), static_cast<int>(fresh->key.size())) != 1) {
      return Fail(ErrorCode::kInternal, "the random number generator failed");
    }
    std::array<unsigned char, kSealedDekBytes> sealed{};
    if (crypto_box_seal(sealed.data(), fresh->key.data(), fresh->key.size(), public_key.data()) !=
        0) {
      return Fail(ErrorCode::kInternal, "could not seal a data key");
    }
    fresh->header = EnvelopeHeader(View(sealed.data(), sealed.size()));
    return std::shared_ptr<const Dek>(std::move(fresh));
  }

  // Replaces the data key. Requires mutex (or no other thread yet).
  Status Rotate(std::chrono::steady_clock::time_point now) {
    auto fresh = NewDek();
    if (!fresh) return tl::unexpected(fresh.error());
    current = std::move(*fresh);
    dek_uses = 0;
    dek_created = now;
    return Ok();
  }

  // The data key for one more message, rotated when it has been used enough. The public-key
  // work of a rotation runs under the mutex, once per data key.
  Result<std::shared_ptr<const Dek>> Take() {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex);
    if (dek_uses >= options.rotate_after_messages || now - dek_created >= options.rotate_after) {
      if (auto ok = Rotate(now); !ok) return tl::unexpected(ok.error());
    }
    ++dek_uses;
    return current;
  }
};

EnvelopeSealer::EnvelopeSealer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EnvelopeSealer::~EnvelopeSealer() = default;

Result<std::unique_ptr<EnvelopeSealer>> EnvelopeSealer::LoadPublicKeyFile(
    const std::filesystem::path& path, Options options) {
  if (options.rotate_after_messages == 0 || options.rotate_after_messages > kMaxMessagesPerDek) {
    return Fail(ErrorCode::kInvalidRequest, "rotate_after_messages must be from 1 to 2^32");
  }
  if (options.rotate_after.count() < 0) {
    return Fail(ErrorCode::kInvalidRequest, "rotate_after must not be negative");
  }
  if (auto ok = InitSodium(); !ok) return tl::unexpected(ok.error());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (auto ok = ReadRawKey(path, kPublicWhat, internal::Access::kPublic, impl->public_key.data(),
                           impl->public_key.size());
      !ok) {
    return tl::unexpected(ok.error());
  }
  // The first data key now, so that a sealer that loads can seal.
  if (auto ok = impl->Rotate(std::chrono::steady_clock::now()); !ok) {
    return tl::unexpected(ok.error());
  }
  return std::unique_ptr<EnvelopeSealer>(new EnvelopeSealer(std::move(impl)));
}

Result<std::string> EnvelopeSealer::Seal(std::string_view plaintext,
                                         std::string_view associated_data) {
  auto dek = impl_->Take();
  if (!dek) return tl::unexpected(dek.error());
  const Dek& key = **dek;
  std::string out(kOverheadBytes + plaintext.size(), '\0');
  std::memcpy(out.data(), key.header.data(), kHeaderBytes);
  char* const nonce = out.data() + kHeaderBytes;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce), internal::kGcmNonceBytes) != 1) {
    return Fail(ErrorCode::kInternal, "the random number generator failed");
  }
  // The header is authenticated too: a sealed key cannot be swapped without the tag failing.
  if (auto ok =
          internal::AesGcmEncrypt(key.key_view(), {nonce, internal::kGcmNonceBytes}, plaintext,
                                  key.header, associated_data, nonce + internal::kGcmNonceBytes);
      !ok) {
    return tl::unexpected(ok.error());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

struct EnvelopeOpener::Impl {
  PublicKey public_key{};
  SecretKey secret_key{};

  // Opened data keys by sealed key bytes, most recently used first.
  using Entry = std::pair<std::string, std::shared_ptr<const Dek>>;
  std::mutex mutex;
  std::list<Entry> recent;                                                 // guarded by mutex
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index;  // guarded by mutex

  ~Impl() { sodium_memzero(secret_key.data(), secret_key.size()); }

  std::shared_ptr<const Dek> Cached(std::string_view sealed) {
    std::lock_guard lock(mutex);
    const auto it = index.find(sealed);
    if (it == index.end()) return nullptr;
    recent.splice(recent.begin(), recent, it->second);
    return it->second->second;
  }

  void Remember(std::string_view sealed, std::shared_ptr<const Dek> dek) {
    std::lock_guard lock(mutex);
    if (index.contains(sealed)) return;
    recent.emplace_front(std::string(sealed), std::move(dek));
    index.emplace(recent.front().first, recent.begin());
    if (recent.size() > kOpenerCacheEntries) {
      index.erase(recent.back().first);
      recent.pop_back();
    }
  }

  Result<std::shared_ptr<const Dek>> OpenDek(std::string_view sealed) {
    if (auto dek = Cached(sealed)) return dek;
    auto dek = std::make_shared<Dek>();
    if (crypto_box_seal_open(dek->key.data(), reinterpret_cast<const unsigned char*>(sealed.data()),
                             sealed.size(), public_key.data(), secret_key.data()) != 0) {
      return Fail(ErrorCode::kDataCorrupted, "envelope data key does not open");
    }
    std::shared_ptr<const Dek> opened = std::move(dek);
    Remember(sealed, opened);
    return opened;
  }
};

EnvelopeOpener::EnvelopeOpener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EnvelopeOpener::~EnvelopeOpener() = default;

Result<std::unique_ptr<EnvelopeOpener>> EnvelopeOpener::LoadSecretKeyFile(
    const std::filesystem::path& public_key_file, const std::filesystem::path& secret_key_file) {
  if (auto ok = InitSodium(); !ok) return tl::unexpected(ok.error());
  auto impl = std::make_unique<Impl>();
  if (auto ok = ReadRawKey(public_key_file, kPublicWhat, internal::Access::kPublic,
                           impl->public_key.data(), impl->public_key.size());
      !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = ReadRawKey(secret_key_file, kSecretWhat, internal::Access::kPrivate,
                           impl->secret_key.data(), impl->secret_key.size());
      !ok) {
    return tl::unexpected(ok.error());
  }
  PublicKey derived{};
  if (crypto_scalarmult_base(derived.data(), impl->secret_key.data()) != 0 ||
      sodium_memcmp(derived.data(), impl->public_key.data(), derived.size()) != 0) {
    return Fail(ErrorCode::kDataCorrupted,
                std::string(kSecretWhat) + " " + secret_key_file.string() + ": does not match " +
                    std::string(kPublicWhat) + " " + public_key_file.string());
  }
  return std::unique_ptr<EnvelopeOpener>(new EnvelopeOpener(std::move(impl)));
}

Result<std::string> EnvelopeOpener::Open(std::string_view envelope,
                                         std::string_view associated_data) {
  const auto corrupted = [](const char* what) {
    return Fail(ErrorCode::kDataCorrupted, std::string("envelope ") + what);
  };
  if (envelope.size() < kOverheadBytes) return corrupted("is too short");
  if (envelope.substr(0, kMagic.size()) != kMagic) return corrupted("has an unknown format");
  const auto* bytes = reinterpret_cast<const unsigned char*>(envelope.data());
  const std::size_t sealed_size =
      (std::size_t{bytes[kMagic.size()]} << 8) | std::size_t{bytes[kMagic.size() + 1]};
  if (sealed_size != kSealedDekBytes) return corrupted("has a malformed data key");
  const std::string_view header = envelope.substr(0, kHeaderBytes);
  auto dek = impl_->OpenDek(header.substr(kMagic.size() + 2));
  if (!dek) return tl::unexpected(dek.error());
  auto plaintext = internal::AesGcmDecrypt(
      (*dek)->key_view(), envelope.substr(kHeaderBytes, internal::kGcmNonceBytes),
      envelope.substr(kHeaderBytes + internal::kGcmNonceBytes), header, associated_data);
  return plaintext;
}

}  // namespace msgbroker::crypto
