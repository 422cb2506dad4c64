#include "msgbroker/api/queue_envelope.hpp"

#include <gtest/gtest.h>

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::api {
namespace {

TEST(QueuePayloadTest, RoundTripsBinaryContent) {
  QueuePayload p{*ClientId::Parse("acme"), FromUnixMillis(1'700'000'000'123),
                 std::string("\0\x01\xFFsealed", 9)};
  auto decoded = DecodeQueuePayload(EncodeQueuePayload(p));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->client_id.str(), "acme");
  EXPECT_EQ(ToUnixMillis(decoded->queued_at), 1'700'000'000'123);
  EXPECT_EQ(decoded->sealed_content, p.sealed_content);
}

TEST(QueuePayloadTest, NeverContainsPlaintextFields) {
  QueuePayload p{*ClientId::Parse("acme"), FromUnixMillis(0), "opaque"};
  const auto text = EncodeQueuePayload(p);
  EXPECT_EQ(text.find("sender_number"), std::string::npos);
  EXPECT_EQ(text.find("message_body"), std::string::npos);
}

TEST(QueuePayloadTest, RejectsDefects) {
  for (const char* bad : {"", "[]", R"({"v":2,"client_id":"a","queued_at":1,"content":""})",
                          R"({"v":1,"client_id":"a b","queued_at":1,"content":""})",
                          R"({"v":1,"client_id":"a","queued_at":"1","content":""})",
                          R"({"v":1,"client_id":"a","queued_at":1,"content":"!!"})",
                          R"({"v":1,"client_id":"a","queued_at":1})"}) {
    auto r = DecodeQueuePayload(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kDataCorrupted);
  }
}

TEST(ContentTest, RoundTrip) {
  SubmitMessage m{"+4915112345678", "Hallo Welt ✓", nlohmann::json{{"k", 1}}};
  auto d = DecodeContent(EncodeContent(m));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->sender_number, m.sender_number);
  EXPECT_EQ(d->message_body, m.message_body);
  EXPECT_EQ(d->metadata, m.metadata);
  EXPECT_FALSE(DecodeContent("{}"));
}

// Both are written by hand (msgbroker/core/json_text.hpp) for speed: the bytes are exactly what
// an nlohmann::json document of the same fields dumps, so stored content reads the same.
TEST(ContentTest, WrittenTextIsWhatADocumentDumps) {
  for (const SubmitMessage& m :
       {SubmitMessage{"+4915112345678", "Hallo \"Welt\" ✓\n\ttab", nullptr},
        SubmitMessage{"+12", "x", nlohmann::json{{"z", {1, 2}}, {"a", "ü\u0001"}}}}) {
    nlohmann::json doc = {{"sender_number", m.sender_number}, {"message_body", m.message_body}};
    if (!m.metadata.is_null()) doc["metadata"] = m.metadata;
    EXPECT_EQ(EncodeContent(m), doc.dump());
  }
  QueuePayload p{*ClientId::Parse("acme"), FromUnixMillis(1'700'000'000'123),
                 std::string("\0\x01\xFFsealed", 9)};
  EXPECT_EQ(EncodeQueuePayload(p), (nlohmann::json{{"v", 1},
                                                   {"client_id", "acme"},
                                                   {"queued_at", 1'700'000'000'123},
                                                   {"content", "AAH/c2VhbGVk"}})
                                       .dump());
}

TEST(ContentTest, AssociatedDataBindsIdAndClient) {
  const auto id = MessageId::Generate(std::chrono::system_clock::now());
  EXPECT_NE(EnvelopeAssociatedData(id, *ClientId::Parse("a")),
            EnvelopeAssociatedData(id, *ClientId::Parse("b")));
}

}  // namespace
}  // namespace msgbroker::api
