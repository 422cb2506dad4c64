#include "msgbroker/crypto/envelope.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "msgbroker/core/base64.hpp"
#include "test_dir.hpp"

namespace msgbroker::crypto {
namespace {

using std::chrono::seconds;
using testing::FileMode;
using testing::ReadFile;
using testing::TestDir;
using testing::WriteFile;

constexpr std::size_t kSealedDekBytes = 80;  // crypto_box_SEALBYTES + 32
constexpr std::size_t kHeaderBytes = 4 + 2 + kSealedDekBytes;

std::string SealedDekOf(const std::string& envelope) { return envelope.substr(6, kSealedDekBytes); }

class EnvelopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(CreateEnvelopeKeyPair(public_key_, secret_key_));
    opener_ = Opener(public_key_, secret_key_);
    ASSERT_TRUE(opener_);
  }

  static std::unique_ptr<EnvelopeOpener> Opener(const std::filesystem::path& pub,
                                                const std::filesystem::path& sec) {
    auto opener = EnvelopeOpener::LoadSecretKeyFile(pub, sec);
    EXPECT_TRUE(opener) << opener.error().message;
    return opener ? std::move(*opener) : nullptr;
  }

  std::unique_ptr<EnvelopeSealer> Sealer(EnvelopeSealer::Options options = {}) {
    auto sealer = EnvelopeSealer::LoadPublicKeyFile(public_key_, options);
    EXPECT_TRUE(sealer) << sealer.error().message;
    return sealer ? std::move(*sealer) : nullptr;
  }

  void ExpectCorrupted(std::string_view envelope, std::string_view ad) {
    auto opened = opener_->Open(envelope, ad);
    ASSERT_FALSE(opened) << "opened a bad envelope of " << envelope.size() << " bytes";
    EXPECT_EQ(opened.error().code, ErrorCode::kDataCorrupted);
  }

  TestDir dir_;
  std::filesystem::path public_key_ = dir_ / "envelope.pub";
  std::filesystem::path secret_key_ = dir_ / "envelope.key";
  std::unique_ptr<EnvelopeOpener> opener_;
};

TEST_F(EnvelopeTest, RoundTrip) {
  auto sealer = Sealer();
  for (const std::string& plain :
       {std::string(), std::string("{\"message_body\":\"hi\"}"), std::string(200'000, 'z')}) {
    auto envelope = sealer->Seal(plain, "id|client");
    ASSERT_TRUE(envelope) << envelope.error().message;
    EXPECT_EQ(envelope->substr(0, 4), "MBE1");
    EXPECT_EQ(envelope->size(), kHeaderBytes + 12 + plain.size() + 16);
    EXPECT_EQ(static_cast<unsigned char>((*envelope)[4]), 0u);
    EXPECT_EQ(static_cast<unsigned char>((*envelope)[5]), kSealedDekBytes);
    if (!plain.empty()) {
      EXPECT_EQ(envelope->find(plain), std::string::npos);
    }
    auto opened = opener_->Open(*envelope, "id|client");
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, plain);
  }
}

TEST_F(EnvelopeTest, SameDekDifferentNonces) {
  auto sealer = Sealer();
  auto a = sealer->Seal("same", "ad");
  auto b = sealer->Seal("same", "ad");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(SealedDekOf(*a), SealedDekOf(*b));
  EXPECT_NE(a->substr(kHeaderBytes, 12), b->substr(kHeaderBytes, 12));
  EXPECT_NE(*a, *b);
}

TEST_F(EnvelopeTest, WrongAssociatedDataFails) {
  auto envelope = Sealer()->Seal("content", "msg-1|client-a");
  ASSERT_TRUE(envelope);
  ExpectCorrupted(*envelope, "msg-1|client-b");
  ExpectCorrupted(*envelope, "");
  EXPECT_TRUE(opener_->Open(*envelope, "msg-1|client-a"));
}

TEST_F(EnvelopeTest, EveryTruncationFails) {
  auto envelope = Sealer()->Seal("some content", "ad");
  ASSERT_TRUE(envelope);
  for (std::size_t n = 0; n < envelope->size(); ++n) {
    // A copy of exactly n bytes, so that ASan catches any read past the end.
    const std::string prefix = envelope->substr(0, n);
    ExpectCorrupted(prefix, "ad");
  }
  ExpectCorrupted(*envelope + "x", "ad");
}

TEST_F(EnvelopeTest, EveryBitFlipFails) {
  auto envelope = Sealer()->Seal("flip me", "ad");
  ASSERT_TRUE(envelope);
  for (std::size_t i = 0; i < envelope->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = *envelope;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      ExpectCorrupted(bad, "ad");
    }
  }
  EXPECT_TRUE(opener_->Open(*envelope, "ad"));
}

TEST_F(EnvelopeTest, BadMagicAndBadLengthFail) {
  auto envelope = Sealer()->Seal("content", "ad");
  ASSERT_TRUE(envelope);
  std::string bad_magic = *envelope;
  bad_magic.replace(0, 4, "MBE2");
  ExpectCorrupted(bad_magic, "ad");
  for (const std::uint16_t length : {0, 1, 79, 81, 0xffff}) {
    std::string bad_length = *envelope;
    bad_length[4] = static_cast<char>(length >> 8);
    bad_length[5] = static_cast<char>(length & 0xff);
    ExpectCorrupted(bad_length, "ad");
  }
  ExpectCorrupted("", "ad");
  ExpectCorrupted("MBE1", "ad");
  ExpectCorrupted(std::string(1000, '\0'), "ad");
  ExpectCorrupted("MBE1" + std::string(1000, '\xff'), "ad");
}

TEST_F(EnvelopeTest, SwappedSealedDekFails) {
  // A valid sealed key from another envelope does not fit.
  auto sealer = Sealer({.rotate_after_messages = 1});
  auto a = sealer->Seal("a", "ad");
  auto b = sealer->Seal("b", "ad");
  ASSERT_TRUE(a && b);
  ASSERT_NE(SealedDekOf(*a), SealedDekOf(*b));
  std::string spliced = *a;
  spliced.replace(6, kSealedDekBytes, SealedDekOf(*b));
  ExpectCorrupted(spliced, "ad");
}

TEST_F(EnvelopeTest, DekRotatesAfterMessageCount) {
  auto sealer = Sealer({.rotate_after_messages = 3});
  std::vector<std::string> envelopes;
  for (int i = 0; i < 7; ++i) {
    auto envelope = sealer->Seal("message " + std::to_string(i), "ad" + std::to_string(i));
    ASSERT_TRUE(envelope);
    envelopes.push_back(*envelope);
  }
  EXPECT_EQ(SealedDekOf(envelopes[0]), SealedDekOf(envelopes[1]));
  EXPECT_EQ(SealedDekOf(envelopes[0]), SealedDekOf(envelopes[2]));
  EXPECT_NE(SealedDekOf(envelopes[2]), SealedDekOf(envelopes[3]));
  EXPECT_EQ(SealedDekOf(envelopes[3]), SealedDekOf(envelopes[5]));
  EXPECT_NE(SealedDekOf(envelopes[5]), SealedDekOf(envelopes[6]));
  for (int i = 6; i >= 0; --i) {
    auto opened = opener_->Open(envelopes[static_cast<std::size_t>(i)], "ad" + std::to_string(i));
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, "message " + std::to_string(i));
  }
}

TEST_F(EnvelopeTest, DekRotatesAfterTime) {
  auto sealer = Sealer({.rotate_after_messages = 1'000'000, .rotate_after = seconds{1}});
  auto a = sealer->Seal("a", "ad");
  auto b = sealer->Seal("b", "ad");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto c = sealer->Seal("c", "ad");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(SealedDekOf(*a), SealedDekOf(*b));
  EXPECT_NE(SealedDekOf(*b), SealedDekOf(*c));
  EXPECT_EQ(*opener_->Open(*a, "ad"), "a");
  EXPECT_EQ(*opener_->Open(*c, "ad"), "c");
}

TEST_F(EnvelopeTest, OpensMoreDeksThanTheCacheHolds) {
  auto sealer = Sealer({.rotate_after_messages = 1});
  std::vector<std::string> envelopes;
  for (int i = 0; i < 1100; ++i) {
    auto envelope = sealer->Seal(std::to_string(i), "ad");
    ASSERT_TRUE(envelope);
    envelopes.push_back(*envelope);
  }
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < envelopes.size(); ++i) {
      auto opened = opener_->Open(envelopes[i], "ad");
      ASSERT_TRUE(opened) << opened.error().message;
      EXPECT_EQ(*opened, std::to_string(i));
    }
  }
}

TEST_F(EnvelopeTest, OtherKeyPairCannotOpen) {
  ASSERT_TRUE(CreateEnvelopeKeyPair(dir_ / "other.pub", dir_ / "other.key"));
  auto other = Opener(dir_ / "other.pub", dir_ / "other.key");
  ASSERT_TRUE(other);
  auto envelope = Sealer()->Seal("for the main server only", "ad");
  ASSERT_TRUE(envelope);
  auto opened = other->Open(*envelope, "ad");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDataCorrupted);
}

TEST_F(EnvelopeTest, ConcurrentSealFromFourThreads) {
  auto sealer = Sealer({.rotate_after_messages = 7});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::vector<std::string>> sealed(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        auto envelope = sealer->Seal("body " + id, id);
        sealed[static_cast<std::size_t>(t)].push_back(envelope ? *envelope : std::string());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> deks;
  std::map<std::string, int> uses;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::string id = std::to_string(t) + "-" + std::to_string(i);
      const std::string& envelope =
          sealed[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)];
      auto opened = opener_->Open(envelope, id);
      ASSERT_TRUE(opened) << id << ": " << opened.error().message;
      EXPECT_EQ(*opened, "body " + id);
      ++uses[SealedDekOf(envelope)];
    }
  }
  // Rotation under concurrency: no data key is used for more than 7 messages.
  EXPECT_GE(uses.size(), static_cast<std::size_t>(kThreads * kPerThread / 7));
  for (const auto& [dek, count] : uses) EXPECT_LE(count, 7);
}

TEST_F(EnvelopeTest, ConcurrentOpen) {
  auto sealer = Sealer({.rotate_after_messages = 5});
  std::vector<std::string> envelopes;
  for (int i = 0; i < 200; ++i) envelopes.push_back(*sealer->Seal(std::to_string(i), "ad"));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (std::size_t i = 0; i < envelopes.size(); ++i) {
        auto opened = opener_->Open(envelopes[i], "ad");
        if (!opened || *opened != std::to_string(i)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(EnvelopeTest, KeyFilesHaveTheirModesAndAreNotOverwritten) {
  EXPECT_EQ(FileMode(public_key_), 0644u);
  EXPECT_EQ(FileMode(secret_key_), 0600u);
  EXPECT_EQ(Base64Decode(ReadFile(public_key_).substr(0, 44))->size(), 32u);
  const std::string before = ReadFile(secret_key_);
  auto again = CreateEnvelopeKeyPair(public_key_, secret_key_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(secret_key_), before);
  // Half a pair present: nothing is written.
  auto half = CreateEnvelopeKeyPair(dir_ / "new.pub", secret_key_);
  ASSERT_FALSE(half);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "new.pub"));
}

TEST_F(EnvelopeTest, SecretKeyFileMustBePrivate) {
  ::chmod(secret_key_.c_str(), 0644);
  auto opener = EnvelopeOpener::LoadSecretKeyFile(public_key_, secret_key_);
  ASSERT_FALSE(opener);
  EXPECT_EQ(opener.error().code, ErrorCode::kForbidden);
  EXPECT_NE(opener.error().message.find(secret_key_.string()), std::string::npos);
}

TEST_F(EnvelopeTest, MismatchedKeyPairIsRefused) {
  ASSERT_TRUE(CreateEnvelopeKeyPair(dir_ / "other.pub", dir_ / "other.key"));
  auto opener = EnvelopeOpener::LoadSecretKeyFile(dir_ / "other.pub", secret_key_);
  ASSERT_FALSE(opener);
  EXPECT_NE(opener.error().message.find("does not match"), std::string::npos);
}

TEST_F(EnvelopeTest, BadKeyFiles) {
  auto missing = EnvelopeSealer::LoadPublicKeyFile(dir_ / "missing.pub");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("missing.pub"), std::string::npos);

  WriteFile(dir_ / "short.pub", Base64Encode(std::string(31, 'p')), 0644);
  auto short_key = EnvelopeSealer::LoadPublicKeyFile(dir_ / "short.pub");
  ASSERT_FALSE(short_key);
  EXPECT_EQ(short_key.error().code, ErrorCode::kDataCorrupted);
  EXPECT_NE(short_key.error().message.find("short.pub"), std::string::npos);

  WriteFile(dir_ / "junk.pub", "not base64!", 0644);
  EXPECT_FALSE(EnvelopeSealer::LoadPublicKeyFile(dir_ / "junk.pub"));
  EXPECT_FALSE(EnvelopeOpener::LoadSecretKeyFile(public_key_, dir_ / "missing.key"));
}

TEST_F(EnvelopeTest, InvalidOptionsAreRefused) {
  auto zero = EnvelopeSealer::LoadPublicKeyFile(public_key_, {.rotate_after_messages = 0});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, ErrorCode::kInvalidRequest);
  EXPECT_FALSE(EnvelopeSealer::LoadPublicKeyFile(public_key_, {.rotate_after = seconds{-1}}));
}

}  // namespace
}  // namespace msgbroker::crypto
