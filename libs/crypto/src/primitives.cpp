#include "primitives.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <new>

namespace msgbroker::crypto::internal {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

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
  const EVP_CIPHER* cipher = Aes256Gcm();
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (cipher == nullptr || !ctx) return Fail(ErrorCode::kInternal, "AES-256-GCM is unavailable");
  auto* dst = reinterpret_cast<unsigned char*>(out);
  int len = 0;
  int final_len = 0;
  if (EVP_EncryptInit_ex2(ctx.get(), cipher, Bytes(key), Bytes(nonce), nullptr) != 1 ||
      !AddAad(ctx.get(), aad_prefix, true) || !AddAad(ctx.get(), aad, true) ||
      EVP_EncryptUpdate(ctx.get(), dst, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), dst + len, &final_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagBytes),
                          dst + plaintext.size()) != 1) {
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
  const EVP_CIPHER* cipher = Aes256Gcm();
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (cipher == nullptr || !ctx) return Fail(ErrorCode::kInternal, "AES-256-GCM is unavailable");
  const std::size_t ct_size = sealed.size() - kGcmTagBytes;
  // The tag is passed through a copy: the ctrl interface takes a non-const pointer.
  unsigned char tag[kGcmTagBytes];
  std::copy_n(Bytes(sealed) + ct_size, kGcmTagBytes, tag);
  std::string out(ct_size, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int final_len = 0;
  if (EVP_DecryptInit_ex2(ctx.get(), cipher, Bytes(key), Bytes(nonce), nullptr) != 1 ||
      !AddAad(ctx.get(), aad_prefix, false) || !AddAad(ctx.get(), aad, false) ||
      EVP_DecryptUpdate(ctx.get(), dst, &len, Bytes(sealed), static_cast<int>(ct_size)) != 1) {
    return Fail(ErrorCode::kInternal, "AES-256-GCM decryption failed");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagBytes), tag) !=
          1 ||
      EVP_DecryptFinal_ex(ctx.get(), dst + len, &final_len) != 1) {
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
