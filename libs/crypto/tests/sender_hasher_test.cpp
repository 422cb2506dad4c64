#include "msgbroker/crypto/sender_hasher.hpp"

#include <gtest/gtest.h>

#include "msgbroker/core/base64.hpp"
#include "primitives.hpp"
#include "test_dir.hpp"

namespace msgbroker::crypto {
namespace {

using testing::FileMode;
using testing::ReadFile;
using testing::TestDir;
using testing::WriteFile;

// RFC 4231 test case 2: a 4-byte key, below FromKey's production minimum, so it runs through the
// primitive that SenderHasher::Hash is built on.
TEST(HmacSha256Test, Rfc4231TestCase2) {
  EXPECT_EQ(internal::HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacSha256Test, Rfc4231TestCase1) {
  EXPECT_EQ(internal::HmacSha256Hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

// RFC 4231 test cases 6 and 7 have a 131-byte key, so they run through the public API.
TEST(SenderHasherTest, Rfc4231TestCases6And7ThroughFromKey) {
  auto hasher = SenderHasher::FromKey(std::string(131, '\xaa'));
  ASSERT_TRUE(hasher) << hasher.error().message;
  EXPECT_EQ(hasher->Hash("Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hasher->Hash("This is a test using a larger than block-size key and a larger than "
                         "block-size data. The key needs to be hashed before being used by the "
                         "HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(SenderHasherTest, HashIsLowercaseHexAndDeterministic) {
  auto hasher = SenderHasher::FromKey(std::string(32, 'k'));
  ASSERT_TRUE(hasher);
  const std::string hash = hasher->Hash("+4915112345678");
  ASSERT_EQ(hash.size(), 64u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(hasher->Hash("+4915112345678"), hash);
  EXPECT_NE(hasher->Hash("+4915112345679"), hash);
}

TEST(SenderHasherTest, DifferentKeysGiveDifferentHashes) {
  auto a = SenderHasher::FromKey(std::string(32, 'a'));
  auto b = SenderHasher::FromKey(std::string(32, 'b'));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->Hash("+4915112345678"), b->Hash("+4915112345678"));
}

TEST(SenderHasherTest, FromKeyRequires32Bytes) {
  auto short_key = SenderHasher::FromKey(std::string(31, 'k'));
  ASSERT_FALSE(short_key);
  EXPECT_EQ(short_key.error().code, ErrorCode::kInvalidRequest);
  EXPECT_FALSE(SenderHasher::FromKey(""));
  EXPECT_TRUE(SenderHasher::FromKey(std::string(32, 'k')));
}

TEST(SenderHasherFileTest, CreateThenLoad) {
  TestDir dir;
  const auto path = dir / "sender.key";
  ASSERT_TRUE(SenderHasher::CreateKeyFile(path));
  EXPECT_EQ(FileMode(path), 0600u);
  auto key = Base64Decode(ReadFile(path).substr(0, ReadFile(path).find('\n')));
  ASSERT_TRUE(key);
  EXPECT_GE(key->size(), 32u);
  auto loaded = SenderHasher::LoadKeyFile(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->Hash("+4915112345678"), SenderHasher::FromKey(*key)->Hash("+4915112345678"));

  ASSERT_TRUE(SenderHasher::CreateKeyFile(dir / "other.key"));
  EXPECT_NE(SenderHasher::LoadKeyFile(dir / "other.key")->Hash("+4915112345678"),
            loaded->Hash("+4915112345678"));
}

TEST(SenderHasherFileTest, CreateRefusesToOverwrite) {
  TestDir dir;
  const auto path = dir / "sender.key";
  WriteFile(path, "precious");
  auto created = SenderHasher::CreateKeyFile(path);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(path), "precious");
}

TEST(SenderHasherFileTest, LoadErrorsNameTheFile) {
  TestDir dir;
  const auto path = dir / "sender.key";
  const auto expect_fails = [&](ErrorCode code, const std::string& reason) {
    auto loaded = SenderHasher::LoadKeyFile(path);
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code, code);
    EXPECT_NE(loaded.error().message.find(path.string()), std::string::npos);
    EXPECT_NE(loaded.error().message.find(reason), std::string::npos) << loaded.error().message;
  };
  expect_fails(ErrorCode::kNotFound, "does not exist");
  WriteFile(path, Base64Encode(std::string(32, 'k')), 0644);
  expect_fails(ErrorCode::kForbidden, "group or others");
  WriteFile(path, Base64Encode(std::string(31, 'k')), 0600);
  expect_fails(ErrorCode::kDataCorrupted, "at least 32 bytes");
  WriteFile(path, "not base64 at all", 0600);
  expect_fails(ErrorCode::kDataCorrupted, "base64");
  WriteFile(path, "\n  " + Base64Encode(std::string(48, 'k')) + "\n\n", 0600);
  EXPECT_TRUE(SenderHasher::LoadKeyFile(path));
}

TEST(MaskSenderNumberTest, LongNumbersKeepFourAndFour) {
  EXPECT_EQ(MaskSenderNumber("+4915112345678"), "+4915****5678");
  EXPECT_EQ(MaskSenderNumber("+123456789012345"), "+1234****2345");  // 15 digits, E.164 maximum
  EXPECT_EQ(MaskSenderNumber("+123456789"), "+1234****6789");        // 9 digits
}

TEST(MaskSenderNumberTest, ShortNumbersKeepTwoAndTwo) {
  EXPECT_EQ(MaskSenderNumber("+12345678"), "+12****78");  // 8 digits
  EXPECT_EQ(MaskSenderNumber("+1234567"), "+12****67");
  EXPECT_EQ(MaskSenderNumber("+12345"), "+12****45");
}

TEST(MaskSenderNumberTest, TinyNumbersAreMaskedWhole) {
  EXPECT_EQ(MaskSenderNumber("+1234"), "+****");
  EXPECT_EQ(MaskSenderNumber("+12"), "+****");
  EXPECT_EQ(MaskSenderNumber("+"), "+****");
  EXPECT_EQ(MaskSenderNumber(""), "****");
}

TEST(MaskSenderNumberTest, NeverRevealsTheMiddleOrTheLength) {
  const std::string masked = MaskSenderNumber("+4915199999995678");
  EXPECT_EQ(masked.find("99999"), std::string::npos);
  EXPECT_EQ(MaskSenderNumber("+49151123456789").size(), MaskSenderNumber("+4915112345678").size());
}

}  // namespace
}  // namespace msgbroker::crypto
