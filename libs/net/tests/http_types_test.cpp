#include "msgbroker/net/http_types.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace msgbroker::net {
namespace {

TEST(ErrorEnvelopeTest, StatusFollowsTheErrorCodeTableForEveryCode) {
  for (std::size_t i = 0; i < kErrorCodeCount; ++i) {
    const auto code = static_cast<ErrorCode>(i);
    const auto response = MakeErrorResponse(Error{code, "something went wrong"}, "req-1");
    EXPECT_EQ(response.result_int(), HttpStatusFor(code)) << ErrorCodeName(code);
    EXPECT_EQ(response[http::field::content_type], "application/json");
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body.at("error").at("code"), ErrorCodeName(code));
  }
}

TEST(ErrorEnvelopeTest, CarriesCodeMessageAndRequestIdButNoFieldWhenUnset) {
  const auto response =
      MakeErrorResponse(Error{ErrorCode::kPayloadTooLarge, "body exceeds 65536 bytes"}, "abc123");
  EXPECT_EQ(response.result(), http::status::payload_too_large);
  const auto body = nlohmann::json::parse(response.body());
  ASSERT_EQ(body.size(), 1u);
  const auto& error = body.at("error");
  EXPECT_EQ(error.at("code"), "PAYLOAD_TOO_LARGE");
  EXPECT_EQ(error.at("message"), "body exceeds 65536 bytes");
  EXPECT_EQ(error.at("request_id"), "abc123");
  EXPECT_FALSE(error.contains("field"));
  EXPECT_EQ(response[http::field::content_length], std::to_string(response.body().size()));
}

TEST(ErrorEnvelopeTest, IncludesFieldWhenSet) {
  const auto response = MakeErrorResponse(
      Error{ErrorCode::kInvalidSenderNumber, "not an E.164 number", "sender_number"}, "r");
  EXPECT_EQ(response.result(), http::status::bad_request);
  const auto error = nlohmann::json::parse(response.body()).at("error");
  EXPECT_EQ(error.at("code"), "INVALID_SENDER_NUMBER");
  EXPECT_EQ(error.at("field"), "sender_number");
}

TEST(JsonResponseTest, SerializesBodyWithStatusAndLength) {
  const auto response =
      MakeJsonResponse(http::status::accepted, nlohmann::json{{"message_id", "x"}, {"n", 3}});
  EXPECT_EQ(response.result(), http::status::accepted);
  EXPECT_EQ(response[http::field::content_type], "application/json");
  EXPECT_EQ(nlohmann::json::parse(response.body()),
            (nlohmann::json{{"message_id", "x"}, {"n", 3}}));
  EXPECT_EQ(response[http::field::content_length], std::to_string(response.body().size()));
}

TEST(JsonResponseTest, InvalidUtf8IsReplacedNotThrown) {
  const auto response =
      MakeJsonResponse(http::status::ok, nlohmann::json{{"text", std::string("a\xff"
                                                                             "b")}});
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_TRUE(nlohmann::json::accept(response.body()));
}

}  // namespace
}  // namespace msgbroker::net
