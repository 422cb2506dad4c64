// AES-256-GCM through the per-thread cached context (primitives.cpp) against a context made
// afresh for every call, the way OpenSSL is used without the cache: same bytes, whatever the
// order of keys, nonces, directions and failures.

#include "primitives.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace msgbroker::crypto::internal {
namespace {

std::string Reference(const std::string& key, const std::string& nonce,
                      const std::string& plaintext, const std::string& aad) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  auto bytes = [](const std::string& s) {
    return reinterpret_cast<const unsigned char*>(s.data());
  };
  std::string out(plaintext.size() + kGcmTagBytes, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int final_len = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key), bytes(nonce)), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())),
            1);
  EXPECT_EQ(
      EVP_EncryptUpdate(ctx.get(), dst, &len, bytes(plaintext), static_cast<int>(plaintext.size())),
      1);
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx.get(), dst + len, &final_len), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagBytes),
                                dst + plaintext.size()),
            1);
  return out;
}

std::string Sealed(const std::string& key, const std::string& nonce, const std::string& plaintext,
                   const std::string& aad) {
  std::string out(plaintext.size() + kGcmTagBytes, '\0');
  EXPECT_TRUE(AesGcmEncrypt(key, nonce, plaintext, "", aad, out.data()));
  return out;
}

TEST(AesGcm, CachedContextMatchesAFreshOneAcrossKeysNoncesAndFailures) {
  const std::string a = *RandomBytes(kAesKeyBytes);
  const std::string b = *RandomBytes(kAesKeyBytes);
  for (int round = 0; round < 50; ++round) {
    for (const std::string* key : {&a, &a, &b, &a, &b, &b}) {
      const std::string nonce = *RandomBytes(kGcmNonceBytes);
      const std::string plaintext = "message " + std::to_string(round);
      const std::string aad = "id|client";
      const std::string sealed = Sealed(*key, nonce, plaintext, aad);
      ASSERT_EQ(sealed, Reference(*key, nonce, plaintext, aad));
      auto opened = AesGcmDecrypt(*key, nonce, sealed, "", aad);
      ASSERT_TRUE(opened) << opened.error().message;
      EXPECT_EQ(*opened, plaintext);
      // A failed verification leaves the next call on the same key unharmed.
      std::string tampered = sealed;
      tampered.back() = static_cast<char>(tampered.back() ^ 1);
      EXPECT_FALSE(AesGcmDecrypt(*key, nonce, tampered, "", aad));
      EXPECT_FALSE(AesGcmDecrypt(*key, nonce, sealed, "", "other|client"));
      EXPECT_EQ(*AesGcmDecrypt(*key, nonce, sealed, "", aad), plaintext);
    }
  }
}

TEST(AesGcm, ThreadsKeepTheirOwnContexts) {
  std::vector<std::string> keys;
  for (int i = 0; i < 4; ++i) keys.push_back(*RandomBytes(kAesKeyBytes));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(keys.size(), 0);
  for (std::size_t t = 0; t < keys.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string& key = keys[(t + static_cast<std::size_t>(i)) % keys.size()];
        const std::string nonce = *RandomBytes(kGcmNonceBytes);
        const std::string plaintext(static_cast<std::size_t>(i % 97), 'x');
        const std::string sealed = Sealed(key, nonce, plaintext, "aad");
        auto opened = AesGcmDecrypt(key, nonce, sealed, "", "aad");
        if (sealed != Reference(key, nonce, plaintext, "aad") || !opened || *opened != plaintext) {
          ++mismatches[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(keys.size(), 0));
}

}  // namespace
}  // namespace msgbroker::crypto::internal
