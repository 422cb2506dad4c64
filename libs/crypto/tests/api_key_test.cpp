// API key material: format, randomness, hashing and the constant-time comparison.

#include "msgbroker/crypto/api_key.hpp"

#include <gtest/gtest.h>

#include <set>

namespace msgbroker::crypto {
namespace {

TEST(ApiKeyTest, GeneratedKeysHaveTheFormatAndAreUnique) {
  std::set<std::string> keys;
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    auto key = GenerateApiKey();
    ASSERT_TRUE(key) << key.error().message;
    EXPECT_EQ(key->key.size(), kApiKeyLength);
    EXPECT_EQ(key->key.substr(0, 4), "mbk_");
    EXPECT_EQ(key->key.substr(4, 16), key->key_id);
    EXPECT_EQ(key->key[20], '_');
    EXPECT_EQ(ParseApiKeyId(key->key), key->key_id);
    EXPECT_EQ(key->secret_hash, HashApiKeyHex(key->key));
    EXPECT_EQ(key->secret_hash.find(key->key.substr(21)), std::string::npos);
    keys.insert(key->key);
    ids.insert(key->key_id);
  }
  EXPECT_EQ(keys.size(), 200u);
  EXPECT_EQ(ids.size(), 200u);
}

TEST(ApiKeyTest, HashIsSha256OfTheWholeKey) {
  // Known answer: SHA-256("abc").
  EXPECT_EQ(HashApiKeyHex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto parsed = ParseApiKeyHash(HashApiKeyHex("abc"));
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(ApiKeyDigestsEqual(*parsed, HashApiKey("abc")));
  EXPECT_FALSE(ApiKeyDigestsEqual(*parsed, HashApiKey("abd")));
}

TEST(ApiKeyTest, MalformedKeysHaveNoId) {
  auto key = GenerateApiKey();
  ASSERT_TRUE(key);
  const std::string good = key->key;
  EXPECT_FALSE(ParseApiKeyId(""));
  EXPECT_FALSE(ParseApiKeyId("mbk_"));
  EXPECT_FALSE(ParseApiKeyId(good.substr(0, good.size() - 1)));  // short
  EXPECT_FALSE(ParseApiKeyId(good + "0"));                       // long
  EXPECT_FALSE(ParseApiKeyId("MBK_" + good.substr(4)));          // prefix
  std::string upper = good;
  upper[30] = 'A';  // upper-case hex
  EXPECT_FALSE(ParseApiKeyId(upper));
  std::string separator = good;
  separator[20] = '-';
  EXPECT_FALSE(ParseApiKeyId(separator));
  std::string nonhex = good;
  nonhex[5] = 'g';
  EXPECT_FALSE(ParseApiKeyId(nonhex));
}

TEST(ApiKeyTest, StoredHashMustBeSixtyFourHexDigits) {
  EXPECT_FALSE(ParseApiKeyHash(""));
  EXPECT_FALSE(ParseApiKeyHash(std::string(63, 'a')));
  EXPECT_FALSE(ParseApiKeyHash(std::string(64, 'g')));
  EXPECT_FALSE(ParseApiKeyHash(std::string(64, 'A')));
  EXPECT_TRUE(ParseApiKeyHash(std::string(64, 'a')));
}

}  // namespace
}  // namespace msgbroker::crypto
