#include "msgbroker/crypto/key_ring.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <memory>
#include <set>

#include "msgbroker/core/base64.hpp"
#include "test_dir.hpp"

namespace msgbroker::crypto {
namespace {

using testing::FileMode;
using testing::ReadFile;
using testing::TestDir;
using testing::WriteFile;

const std::string kKey1(32, '\x11');
const std::string kKey2(32, '\x22');

KeyRing Ring(const std::string& active = "k1") {
  return *KeyRing::FromKeys({{"k1", kKey1}, {"k2", kKey2}}, active);
}

std::string Hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

// AES-256-GCM with raw EVP calls, independent of the library's code.
std::string RawEvpSeal(const std::string& key, const std::string& nonce, const std::string& plain,
                       const std::string& ad) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  const auto* n = reinterpret_cast<const unsigned char*>(nonce.data());
  std::string out(plain.size() + 16, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, n), 1);
  EXPECT_EQ(
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(ad.data()),
                        static_cast<int>(ad.size())),
      1);
  EXPECT_EQ(
      EVP_EncryptUpdate(ctx.get(), o, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())),
      1);
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx.get(), o + len, &len), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, o + plain.size()), 1);
  return out;
}

TEST(KeyRingTest, RoundTrip) {
  const KeyRing ring = Ring();
  for (const std::string& plain :
       {std::string(), std::string("hello"), std::string(100'000, 'x')}) {
    auto sealed = ring.Encrypt(plain, "msg-1");
    ASSERT_TRUE(sealed) << sealed.error().message;
    EXPECT_EQ(sealed->key_id, "k1");
    EXPECT_EQ(sealed->nonce.size(), 12u);
    EXPECT_EQ(sealed->ciphertext.size(), plain.size() + 16);
    if (!plain.empty()) {
      EXPECT_EQ(sealed->ciphertext.find(plain), std::string::npos);
    }
    auto opened = ring.Decrypt(*sealed, "msg-1");
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, plain);
  }
}

TEST(KeyRingTest, WrongAssociatedDataIsDataCorrupted) {
  const KeyRing ring = Ring();
  auto sealed = ring.Encrypt("secret", "msg-1");
  ASSERT_TRUE(sealed);
  auto opened = ring.Decrypt(*sealed, "msg-2");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDataCorrupted);
}

TEST(KeyRingTest, TamperingIsDataCorrupted) {
  const KeyRing ring = Ring();
  auto sealed = ring.Encrypt("secret body", "ad");
  ASSERT_TRUE(sealed);
  const auto expect_corrupted = [&](const SealedData& data) {
    auto opened = ring.Decrypt(data, "ad");
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code, ErrorCode::kDataCorrupted);
  };
  for (std::size_t i = 0; i < sealed->ciphertext.size(); ++i) {  // ciphertext and tag
    SealedData bad = *sealed;
    bad.ciphertext[i] ^= 0x01;
    expect_corrupted(bad);
  }
  for (std::size_t i = 0; i < sealed->nonce.size(); ++i) {
    SealedData bad = *sealed;
    bad.nonce[i] ^= 0x80;
    expect_corrupted(bad);
  }
  SealedData truncated = *sealed;
  truncated.ciphertext.pop_back();
  expect_corrupted(truncated);
  SealedData short_nonce = *sealed;
  short_nonce.nonce.pop_back();
  expect_corrupted(short_nonce);
  expect_corrupted(SealedData{"k1", sealed->nonce, std::string(15, '\0')});
  // Another key of the ring does not open it either.
  SealedData other_key = *sealed;
  other_key.key_id = "k2";
  expect_corrupted(other_key);
}

TEST(KeyRingTest, UnknownKeyIdIsNotFound) {
  const KeyRing ring = Ring();
  auto sealed = ring.Encrypt("x", "ad");
  ASSERT_TRUE(sealed);
  sealed->key_id = "k9";
  auto opened = ring.Decrypt(*sealed, "ad");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kNotFound);
}

TEST(KeyRingTest, RotationKeepsOldDataReadable) {
  auto old_sealed = Ring("k1").Encrypt("old", "ad");
  ASSERT_TRUE(old_sealed);
  const KeyRing rotated = Ring("k2");
  EXPECT_EQ(rotated.active_key_id(), "k2");
  auto new_sealed = rotated.Encrypt("new", "ad");
  ASSERT_TRUE(new_sealed);
  EXPECT_EQ(new_sealed->key_id, "k2");
  EXPECT_EQ(*rotated.Decrypt(*old_sealed, "ad"), "old");
  EXPECT_EQ(*rotated.Decrypt(*new_sealed, "ad"), "new");
  // With k1 retired from the ring, its data is reported as a missing key, not as corrupt.
  auto retired = KeyRing::FromKeys({{"k2", kKey2}}, "k2");
  ASSERT_TRUE(retired);
  EXPECT_EQ(retired->Decrypt(*old_sealed, "ad").error().code, ErrorCode::kNotFound);
}

TEST(KeyRingTest, NoncesAreFresh) {
  const KeyRing ring = Ring();
  std::set<std::string> nonces;
  std::set<std::string> ciphertexts;
  for (int i = 0; i < 200; ++i) {
    auto sealed = ring.Encrypt("same", "same");
    ASSERT_TRUE(sealed);
    nonces.insert(sealed->nonce);
    ciphertexts.insert(sealed->ciphertext);
  }
  EXPECT_EQ(nonces.size(), 200u);
  EXPECT_EQ(ciphertexts.size(), 200u);
}

TEST(KeyRingTest, KnownAnswerAes256GcmVector) {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 14 (AES-256, zero key,
  // zero IV, one zero block) and test case 13 (empty plaintext: the tag only).
  auto ring = KeyRing::FromKeys({{"z", std::string(32, '\0')}}, "z");
  ASSERT_TRUE(ring);
  const std::string nonce(12, '\0');
  auto block = ring->Decrypt(
      {"z", nonce, Hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919")}, "");
  ASSERT_TRUE(block) << block.error().message;
  EXPECT_EQ(*block, std::string(16, '\0'));
  auto empty = ring->Decrypt({"z", nonce, Hex("530f8afbc74536b9a963b4f1c4cb738b")}, "");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(*empty, "");
}

TEST(KeyRingTest, InteroperatesWithRawEvpAes256Gcm) {
  const KeyRing ring = Ring();
  const std::string nonce = Hex("000102030405060708090a0b");
  const std::string made_by_evp = RawEvpSeal(kKey1, nonce, "plain text", "assoc");
  auto opened = ring.Decrypt({"k1", nonce, made_by_evp}, "assoc");
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, "plain text");
  // And the other way: what Encrypt makes is what raw EVP makes with that nonce.
  auto sealed = ring.Encrypt("plain text", "assoc");
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->ciphertext, RawEvpSeal(kKey1, sealed->nonce, "plain text", "assoc"));
}

TEST(KeyRingTest, FromKeysRequiresAes256Keys) {
  auto aes128 = KeyRing::FromKeys({{"k1", std::string(16, 'a')}}, "k1");
  ASSERT_FALSE(aes128);
  EXPECT_NE(aes128.error().message.find("32"), std::string::npos);
  EXPECT_FALSE(KeyRing::FromKeys({{"k1", std::string(33, 'a')}}, "k1"));
  EXPECT_FALSE(KeyRing::FromKeys({}, "k1"));
  EXPECT_FALSE(KeyRing::FromKeys({{"k1", kKey1}}, "k2"));
  EXPECT_FALSE(KeyRing::FromKeys({{"", kKey1}}, ""));
}

class KeyRingFileTest : public ::testing::Test {
 protected:
  std::string RingJson(const std::string& active, const std::string& raw_key) {
    return R"({"version":1,"active":")" + active + R"(","keys":{"k1":")" + Base64Encode(raw_key) +
           R"("}})";
  }
  // Loads `contents` written with `mode` and expects `code` with a message naming the file.
  void ExpectLoadFails(const std::string& contents, mode_t mode, ErrorCode code,
                       const std::string& reason) {
    SCOPED_TRACE(contents);
    WriteFile(path_, contents, mode);
    auto ring = KeyRing::LoadFile(path_);
    ASSERT_FALSE(ring);
    EXPECT_EQ(ring.error().code, code);
    EXPECT_NE(ring.error().message.find(path_.string()), std::string::npos) << ring.error().message;
    EXPECT_NE(ring.error().message.find(reason), std::string::npos) << ring.error().message;
  }

  TestDir dir_;
  std::filesystem::path path_ = dir_ / "key_ring.json";
};

TEST_F(KeyRingFileTest, CreateThenLoad) {
  ASSERT_TRUE(KeyRing::CreateFile(path_));
  EXPECT_EQ(FileMode(path_), 0600u);
  auto ring = KeyRing::LoadFile(path_);
  ASSERT_TRUE(ring) << ring.error().message;
  EXPECT_EQ(ring->active_key_id(), "k1");
  auto sealed = ring->Encrypt("x", "ad");
  ASSERT_TRUE(sealed);
  EXPECT_EQ(*ring->Decrypt(*sealed, "ad"), "x");
  // Two created rings hold different keys.
  ASSERT_TRUE(KeyRing::CreateFile(dir_ / "other.json"));
  auto other = KeyRing::LoadFile(dir_ / "other.json");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->Decrypt(*sealed, "ad").error().code, ErrorCode::kDataCorrupted);
  // No temporary files are left behind.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator(path_.parent_path())) {
    ++files;
  }
  EXPECT_EQ(files, 2u);
}

TEST_F(KeyRingFileTest, CreateRefusesToOverwrite) {
  WriteFile(path_, "precious", 0600);
  auto created = KeyRing::CreateFile(path_);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(created.error().message.find(path_.string()), std::string::npos);
  EXPECT_EQ(ReadFile(path_), "precious");
}

TEST_F(KeyRingFileTest, LoadsMultiKeyRing) {
  WriteFile(path_, R"({"version":1,"active":"k2","keys":{"k1":")" + Base64Encode(kKey1) +
                       R"(","k2":")" + Base64Encode(kKey2) + R"("}})");
  auto ring = KeyRing::LoadFile(path_);
  ASSERT_TRUE(ring) << ring.error().message;
  EXPECT_EQ(ring->active_key_id(), "k2");
  auto old_sealed = Ring("k1").Encrypt("old", "ad");
  EXPECT_EQ(*ring->Decrypt(*old_sealed, "ad"), "old");
}

TEST_F(KeyRingFileTest, MissingFile) {
  auto ring = KeyRing::LoadFile(path_);
  ASSERT_FALSE(ring);
  EXPECT_EQ(ring.error().code, ErrorCode::kNotFound);
  EXPECT_NE(ring.error().message.find(path_.string()), std::string::npos);
  EXPECT_NE(ring.error().message.find("does not exist"), std::string::npos);
}

TEST_F(KeyRingFileTest, NotARegularFile) {
  std::filesystem::create_directory(path_);
  auto ring = KeyRing::LoadFile(path_);
  ASSERT_FALSE(ring);
  EXPECT_NE(ring.error().message.find(path_.string()), std::string::npos);
}

TEST_F(KeyRingFileTest, BadJson) {
  ExpectLoadFails("{not json", 0600, ErrorCode::kDataCorrupted, "not valid JSON");
  ExpectLoadFails("[1,2]", 0600, ErrorCode::kDataCorrupted, "not a JSON object");
  ExpectLoadFails(R"({"active":"k1","keys":{}})", 0600, ErrorCode::kDataCorrupted, "version");
  ExpectLoadFails(R"({"version":2,"active":"k1","keys":{}})", 0600, ErrorCode::kDataCorrupted,
                  "version");
  ExpectLoadFails(R"({"version":1,"keys":{}})", 0600, ErrorCode::kDataCorrupted, "active");
  ExpectLoadFails(R"({"version":1,"active":"k1","keys":[]})", 0600, ErrorCode::kDataCorrupted,
                  "keys");
  ExpectLoadFails(R"({"version":1,"active":"k1","keys":{"k1":"!!!!"}})", 0600,
                  ErrorCode::kDataCorrupted, "base64");
  ExpectLoadFails(R"({"version":1,"active":"k1","keys":{"k1":7}})", 0600, ErrorCode::kDataCorrupted,
                  "base64");
  ExpectLoadFails(R"({"version":1,"active":"k1","keys":{}})", 0600, ErrorCode::kDataCorrupted,
                  "no keys");
}

TEST_F(KeyRingFileTest, ShortKeyIsRefused) {
  // An AES-128 key is not accepted: the ring is AES-256 only.
  ExpectLoadFails(RingJson("k1", std::string(16, 'k')), 0600, ErrorCode::kDataCorrupted,
                  "16 bytes");
  ExpectLoadFails(RingJson("k1", std::string(31, 'k')), 0600, ErrorCode::kDataCorrupted,
                  "31 bytes");
}

TEST_F(KeyRingFileTest, ActiveKeyNotInRing) {
  ExpectLoadFails(RingJson("k7", kKey1), 0600, ErrorCode::kDataCorrupted,
                  "active key 'k7' is not in the ring");
}

TEST_F(KeyRingFileTest, GroupOrWorldAccessibleFileIsRefused) {
  for (const mode_t mode : {0644, 0640, 0604, 0620, 0601}) {
    ExpectLoadFails(RingJson("k1", kKey1), mode, ErrorCode::kForbidden, "chmod 600");
  }
  WriteFile(path_, RingJson("k1", kKey1), 0400);
  EXPECT_TRUE(KeyRing::LoadFile(path_));
}

}  // namespace
}  // namespace msgbroker::crypto
