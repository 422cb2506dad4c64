#include "primitives.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <memory>
#include <new>

namespace msgbroker::crypto::internal {
namespace {

struct CipherFree {
  void operator()(EVP_CIPHER* cipher) const { EVP_CIPHER_free(cipher); }
};

// Fetched once: an explicit fetch avoids the provider lookup an implicit one does per call.
const EVP_CIPHER* Aes256Gcm() {
  static const std::unique_ptr<EVP_CIPHER, CipherFree> cipher(
      EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  return cipher.get();
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool FitsInt(std::string_view s) { return s.size() <= static_cast<std::size_t>(INT_MAX); }

// One AES-256-GCM context per thread and direction, kept with the key it holds. A data key
// seals up to 100,000 messages (ADR 0004), so nearly every call only sets a new nonce: no context
// allocation and no key schedule, which in OpenSSL 3 cost about 5 % of the proxy per message. The
// key copy and the context are wiped when the thread ends or the key changes.
class ThreadCipher {
 public:
  ~ThreadCipher() { Reset(); }

  // The context set up for `key` and `nonce`, or nullptr when OpenSSL fails.
  EVP_CIPHER_CTX* Init(std::string_view key, std::string_view nonce, bool encrypt) {
    const auto* k = reinterpret_cast<const unsigned char*>(key.data());
    const auto* n = reinterpret_cast<const unsigned char*>(nonce.data());
    const bool same_key =
        ctx_ != nullptr && CRYPTO_memcmp(key_.data(), key.data(), key_.size()) == 0;
    if (!same_key) {
      Reset();
      ctx_ = EVP_CIPHER_CTX_new();
      const EVP_CIPHER* cipher = Aes256Gcm();
      if (ctx_ == nullptr || cipher == nullptr ||
          (encrypt ? EVP_EncryptInit_ex2(ctx_, cipher, k, n, nullptr)
                   : EVP_DecryptInit_ex2(ctx_, cipher, k, n, nullptr)) != 1) {
        Reset();
        return nullptr;
      }
      std::copy_n(key.data(), key_.size(), key_.data());
      return ctx_;
    }
    if ((encrypt ? EVP_EncryptInit_ex2(ctx_, nullptr, nullptr, n, nullptr)
                 : EVP_DecryptInit_ex2(ctx_, nullptr, nullptr, n, nullptr)) != 1) {
      Reset();
      return nullptr;
    }
    return ctx_;
  }

  // After a failure part-way, the context's state is unknown: start afresh next time.
  void Reset() {
    if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
    ctx_ = nullptr;
    OPENSSL_cleanse(key_.data(), key_.size());
  }

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
  std::array<char, kAesKeyBytes> key_{};
};

ThreadCipher& Encryptor() {
  thread_local ThreadCipher cipher;
  return cipher;
}

ThreadCipher& Decryptor() {
  thread_local ThreadCipher cipher;
  return cipher;
}

bool AddAad(EVP_CIPHER_CTX* ctx, std::string_view aad, bool encrypt) {
  if (aad.empty()) return true;
  int len = 0;
  return (encrypt ? EVP_EncryptUpdate(ctx, nullptr, &len, Bytes(aad), static_cast<int>(aad.size()))
                  : EVP_DecryptUpdate(ctx, nullptr, &len, Bytes(aad),
                                      static_cast<int>(aad.size()))) == 1;
}

}  // namespace

Result<std::string> RandomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > static_cast<std::size_t>(INT_MAX) ||
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Fail(ErrorCode::kInternal, "the random number generator failed");
  }
  return out;
}

Status AesGcmEncrypt(std::string_view key, std::string_view nonce, std::string_view plaintext,
                     std::string_view aad_prefix, std::string_view aad, char* out) {
  if (key.size() != kAesKeyBytes || nonce.size() != kGcmNonceBytes) {
    return Fail(ErrorCode::kInternal, "AES-256-GCM needs a 32-byte key and a 12-byte nonce");
  }
  if (!FitsInt(plaintext) || !FitsInt(aad_prefix) || !FitsInt(aad)) {
    return Fail(ErrorCode::kPayloadTooLarge, "too large to encrypt");
  }
  ThreadCipher& cipher = Encryptor();
  EVP_CIPHER_CTX* ctx = cipher.Init(key, nonce, true);
  if (ctx == nullptr) return Fail(ErrorCode::kInternal, "AES-256-GCM is unavailable");
  auto* dst = reinterpret_cast<unsigned char*>(out);
  int len = 0;
  int final_len = 0;
  if (!AddAad(ctx, aad_prefix, true) || !AddAad(ctx, aad, true) ||
      EVP_EncryptUpdate(ctx, dst, &len, Bytes(plaintext), static_cast<int>(plaintext.size())) !=
          1 ||
      EVP_EncryptFinal_ex(ctx, dst + len, &final_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagBytes),
                          dst + plaintext.size()) != 1) {
    cipher.Reset();
    return Fail(ErrorCode::kInternal, "AES-256-GCM encryption failed");
  }
  return Ok();
}

Result<std::string> AesGcmDecrypt(std::string_view key, std::string_view nonce,
                                  std::string_view sealed, std::string_view aad_prefix,
                                  std::string_view aad) {
  if (key.size() != kAesKeyBytes) {
    return Fail(ErrorCode::kInternal, "AES-256-GCM needs a 32-byte key");
  }
  if (nonce.size() != kGcmNonceBytes || sealed.size() < kGcmTagBytes) {
    return Fail(ErrorCode::kDataCorrupted, "ciphertext is malformed");
  }
  if (!FitsInt(sealed) || !FitsInt(aad_prefix) || !FitsInt(aad)) {
    return Fail(ErrorCode::kDataCorrupted, "ciphertext is too large");
  }
  ThreadCipher& cipher = Decryptor();
  EVP_CIPHER_CTX* ctx = cipher.Init(key, nonce, false);
  if (ctx == nullptr) return Fail(ErrorCode::kInternal, "AES-256-GCM is unavailable");
  const std::size_t ct_size = sealed.size() - kGcmTagBytes;
  // The tag is passed through a copy: the ctrl interface takes a non-const pointer.
  unsigned char tag[kGcmTagBytes];
  std::copy_n(Bytes(sealed) + ct_size, kGcmTagBytes, tag);
  std::string out(ct_size, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int final_len = 0;
  if (!AddAad(ctx, aad_prefix, false) || !AddAad(ctx, aad, false) ||
      EVP_DecryptUpdate(ctx, dst, &len, Bytes(sealed), static_cast<int>(ct_size)) != 1) {
    cipher.Reset();
    return Fail(ErrorCode::kInternal, "AES-256-GCM decryption failed");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagBytes), tag) != 1 ||
      EVP_DecryptFinal_ex(ctx, dst + len, &final_len) != 1) {
    cipher.Reset();
    OPENSSL_cleanse(out.data(), out.size());
    return Fail(ErrorCode::kDataCorrupted,
                "ciphertext does not verify (wrong key, wrong associated data or tampered)");
  }
  return out;
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // An empty key is passed as a valid pointer: HMAC() treats a null key as "reuse the last one".
  static constexpr unsigned char kEmpty = 0;
  const unsigned char* key_bytes = key.empty() ? &kEmpty : Bytes(key);
  if (!FitsInt(key) || HMAC(EVP_sha256(), key_bytes, static_cast<int>(key.size()), Bytes(data),
                            data.size(), mac, &mac_len) == nullptr) {
    // HMAC-SHA256 over memory only fails when OpenSSL cannot allocate.
    throw std::bad_alloc();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * mac_len, '\0');
  for (unsigned int i = 0; i < mac_len; ++i) {
    hex[2 * i] = kHex[mac[i] >> 4];
    hex[2 * i + 1] = kHex[mac[i] & 0x0f];
  }
  return hex;
}

}  // namespace msgbroker::crypto::internal
