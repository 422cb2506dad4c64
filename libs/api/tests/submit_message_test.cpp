#include "msgbroker/api/submit_message.hpp"

#include <gtest/gtest.h>

namespace msgbroker::api {
namespace {

const MessageLimits kLimits{};

std::string Request(std::string_view sender, std::string_view body) {
  return nlohmann::json{{"sender_number", sender}, {"message_body", body}}.dump();
}

void ExpectError(const Result<SubmitMessage>& r, ErrorCode code, std::string_view field) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_EQ(r.error().field, field);
  EXPECT_FALSE(r.error().message.empty());
}

TEST(SenderNumberTest, AcceptsE164) {
  for (const char* ok : {"+4915112345678", "+12", "+123456789012345", "+19"}) {
    EXPECT_TRUE(ValidateSenderNumber(ok)) << ok;
  }
}

TEST(SenderNumberTest, RejectsEverythingElse) {
  for (const char* bad : {"", "+", "+1", "4915112345678", "+0123456", "+1234567890123456",
                          "+49 151", "+49-151", "++4915", "+49151a", "+４９１５１"}) {
    auto r = ValidateSenderNumber(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidSenderNumber);
    EXPECT_EQ(r.error().field, "sender_number");
  }
}

TEST(MessageBodyTest, CountsCodePointsNotBytes) {
  std::string thousand_emoji;
  for (int i = 0; i < 1000; ++i) thousand_emoji += "\xF0\x9F\x98\x80";  // U+1F600
  EXPECT_TRUE(ValidateMessageBody(thousand_emoji, kLimits));
  EXPECT_FALSE(ValidateMessageBody(thousand_emoji + "x", kLimits));
  EXPECT_TRUE(ValidateMessageBody(std::string(1000, 'a'), kLimits));
  EXPECT_FALSE(ValidateMessageBody(std::string(1001, 'a'), kLimits));
}

TEST(MessageBodyTest, RejectsBlankEmptyControlAndBadUtf8) {
  for (const std::string& bad :
       {std::string(""), std::string("   "), std::string("\t\n \r"),
        std::string("\xC2\xA0\xE3\x80\x80"), std::string("a\0b", 3), std::string("bell\x07"),
        std::string("\xC3\x28"), std::string("\xED\xA0\x80"), std::string("\xC0\xAF"),
        std::string("\xF4\x90\x80\x80")}) {
    auto r = ValidateMessageBody(bad, kLimits);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidMessageBody);
    EXPECT_EQ(r.error().field, "message_body");
  }
  EXPECT_TRUE(ValidateMessageBody("line one\nline two\ttabbed", kLimits));
}

TEST(ParseSubmitMessageTest, ParsesValidRequestAndIgnoresUnknownFields) {
  auto r = ParseSubmitMessage(
      R"({"sender_number":"+4915112345678","message_body":"Hello ✓","metadata":{"ref":"A-1"},
          "client_id":"spoofed","extra":1})",
      kLimits);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->sender_number, "+4915112345678");
  EXPECT_EQ(r->message_body, "Hello ✓");
  EXPECT_EQ(r->metadata["ref"], "A-1");
}

TEST(ParseSubmitMessageTest, MetadataIsOptional) {
  auto r = ParseSubmitMessage(Request("+4915112345678", "hi"), kLimits);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->metadata.is_null());
}

TEST(ParseSubmitMessageTest, MalformedJson) {
  for (const char* bad : {"", "{", "not json", "{\"sender_number\":}", "[]", "\"text\"", "42",
                          "{\"a\":1}{\"b\":2}"}) {
    auto r = ParseSubmitMessage(bad, kLimits);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidJson) << bad;
  }
}

TEST(ParseSubmitMessageTest, InvalidUtf8AnywhereIsInvalidJson) {
  auto r = ParseSubmitMessage("{\"sender_number\":\"+4915112345678\",\"message_body\":\"\xFF\"}",
                              kLimits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidJson);
}

TEST(ParseSubmitMessageTest, DeepNestingRejectedBeforeParsing) {
  std::string deep = "{\"sender_number\":\"+4915112345678\",\"message_body\":\"x\",\"metadata\":";
  for (int i = 0; i < 100; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 100; ++i) deep += "}";
  deep += "}";
  auto r = ParseSubmitMessage(deep, kLimits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidJson);
  EXPECT_EQ(JsonNestingDepth(R"({"a":"{{{{[[[","b":[1,{"c":2}]})"), 3u);
}

TEST(ParseSubmitMessageTest, MissingAndMistypedFieldsNameTheField) {
  ExpectError(ParseSubmitMessage(R"({"message_body":"x"})", kLimits),
              ErrorCode::kInvalidSenderNumber, "sender_number");
  ExpectError(ParseSubmitMessage(R"({"sender_number":4915112345678,"message_body":"x"})", kLimits),
              ErrorCode::kInvalidSenderNumber, "sender_number");
  ExpectError(ParseSubmitMessage(R"({"sender_number":"+4915112345678"})", kLimits),
              ErrorCode::kInvalidMessageBody, "message_body");
  ExpectError(
      ParseSubmitMessage(R"({"sender_number":"+4915112345678","message_body":["x"]})", kLimits),
      ErrorCode::kInvalidMessageBody, "message_body");
  ExpectError(ParseSubmitMessage(Request("+0049151", "x"), kLimits),
              ErrorCode::kInvalidSenderNumber, "sender_number");
  ExpectError(ParseSubmitMessage(Request("+4915112345678", "   "), kLimits),
              ErrorCode::kInvalidMessageBody, "message_body");
  ExpectError(ParseSubmitMessage(Request("+4915112345678", std::string(1001, 'x')), kLimits),
              ErrorCode::kInvalidMessageBody, "message_body");
  ExpectError(
      ParseSubmitMessage(R"({"sender_number":"+4915112345678","message_body":"x","metadata":[1]})",
                         kLimits),
      ErrorCode::kInvalidMetadata, "metadata");
  ExpectError(
      ParseSubmitMessage(R"({"sender_number":"+4915112345678","message_body":"x","metadata":"s"})",
                         kLimits),
      ErrorCode::kInvalidMetadata, "metadata");
}

TEST(ParseSubmitMessageTest, OversizedMetadata) {
  nlohmann::json req = {{"sender_number", "+4915112345678"},
                        {"message_body", "x"},
                        {"metadata", {{"blob", std::string(5000, 'm')}}}};
  ExpectError(ParseSubmitMessage(req.dump(), kLimits), ErrorCode::kInvalidMetadata, "metadata");
}

}  // namespace
}  // namespace msgbroker::api

namespace msgbroker::api {
namespace {

TEST(SubmitBatchTest, EveryItemHasItsOwnResultInOrder) {
  const auto text = R"({"messages":[
      {"sender_number":"+4915112345678","message_body":"one","metadata":{"k":1}},
      {"sender_number":"12","message_body":"bad number"},
      "not an object",
      {"sender_number":"+4915112345678","message_body":"   "},
      {"sender_number":"+4915112345679","message_body":"two","extra":true}]})";
  auto batch = ParseSubmitBatch(text, MessageLimits{}, 10);
  ASSERT_TRUE(batch) << batch.error().message;
  ASSERT_EQ(batch->size(), 5u);
  ASSERT_TRUE((*batch)[0]);
  EXPECT_EQ((*batch)[0]->message_body, "one");
  EXPECT_EQ((*batch)[0]->metadata["k"], 1);
  EXPECT_EQ((*batch)[1].error().code, ErrorCode::kInvalidSenderNumber);
  EXPECT_EQ((*batch)[1].error().field, "sender_number");
  EXPECT_EQ((*batch)[2].error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ((*batch)[3].error().code, ErrorCode::kInvalidMessageBody);
  ASSERT_TRUE((*batch)[4]);
  EXPECT_EQ((*batch)[4]->sender_number, "+4915112345679");
}

TEST(SubmitBatchTest, TheEnvelopeFailsAsAWhole) {
  const MessageLimits limits{};
  for (const char* bad :
       {R"({})", R"({"messages":{}})", R"({"messages":[]})", R"({"messages":"x"})"}) {
    auto r = ParseSubmitBatch(bad, limits, 10);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest) << bad;
    EXPECT_EQ(r.error().field, "messages") << bad;
  }
  for (const char* bad : {"", "[1]", "{not json", "\xff\xfe"}) {
    auto r = ParseSubmitBatch(bad, limits, 10);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidJson) << bad;
  }
}

TEST(SubmitBatchTest, ItemCountIsLimited) {
  nlohmann::json doc = {{"messages", nlohmann::json::array()}};
  for (int i = 0; i < 4; ++i) {
    doc["messages"].push_back({{"sender_number", "+4915112345678"}, {"message_body", "x"}});
  }
  EXPECT_TRUE(ParseSubmitBatch(doc.dump(), MessageLimits{}, 4));
  auto over = ParseSubmitBatch(doc.dump(), MessageLimits{}, 3);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().field, "messages");
}

TEST(SubmitBatchTest, NestingAllowsTheWrapperButNotDeeperMetadata) {
  const MessageLimits limits{};
  std::string deep = "1";
  for (std::size_t i = 0; i < limits.max_json_depth - 1; ++i) deep = R"({"a":)" + deep + "}";
  const auto ok = R"({"messages":[{"sender_number":"+4915112345678","message_body":"x",)"
                  R"("metadata":)" +
                  deep + "}]}";
  EXPECT_TRUE(ParseSubmitBatch(ok, limits, 10));
  const auto too_deep = R"({"messages":[{"sender_number":"+4915112345678","message_body":"x",)"
                        R"("metadata":{"b":)" +
                        deep + "}}]}";
  auto r = ParseSubmitBatch(too_deep, limits, 10);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidJson);
}

}  // namespace
}  // namespace msgbroker::api
