#include "msgbroker/net/request_parser.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace msgbroker::net {
namespace {

// Feeds a whole request to a parser set up as the server sets it up.
boost::system::error_code Parse(const std::string& text, const ServerLimits& limits) {
  RequestParser parser;
  ApplyLimits(parser, limits);
  parser.eager(true);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(text), ec);
  return ec;
}

TEST(RequestParserTest, LimitsBecomeTheirErrorCodes) {
  ServerLimits limits;
  limits.max_header_bytes = 1024;
  limits.max_body_bytes = 10;
  const auto headers = Parse("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", limits);
  ASSERT_EQ(headers, http::error::header_limit);
  EXPECT_EQ(ReadFailure(headers, limits)->code, ErrorCode::kHeadersTooLarge);
  const auto body = Parse("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits);
  ASSERT_EQ(body, http::error::body_limit);
  EXPECT_EQ(ReadFailure(body, limits)->code, ErrorCode::kPayloadTooLarge);
  const auto malformed = Parse("GET / HTTP/1.1 x\r\n\r\n", limits);
  ASSERT_TRUE(malformed);
  EXPECT_EQ(ReadFailure(malformed, limits)->code, ErrorCode::kInvalidRequest);
}

TEST(RequestParserTest, NobodyToAnswerWhenThePeerWentAway) {
  const ServerLimits limits;
  EXPECT_FALSE(ReadFailure(http::error::end_of_stream, limits));
  EXPECT_FALSE(ReadFailure(http::error::partial_message, limits));
  EXPECT_FALSE(ReadFailure(boost::beast::error::timeout, limits));
  EXPECT_FALSE(ReadFailure(boost::asio::error::connection_reset, limits));
}

TEST(RequestParserTest, UnroutedRequestsGet404Or405) {
  Router router;
  router.Add(http::verb::post, "/api/v1/messages",
             [](HttpRequest&&, const RequestContext&, Responder) {});
  const auto missing = UnroutedResponse(router.Find(http::verb::get, "/nope?secret=1"),
                                        http::verb::get, "/nope?secret=1", "rid");
  EXPECT_EQ(missing.result(), http::status::not_found);
  EXPECT_EQ(nlohmann::json::parse(missing.body())["error"]["message"], "no such resource: /nope");
  const auto wrong_method = UnroutedResponse(router.Find(http::verb::get, "/api/v1/messages"),
                                             http::verb::get, "/api/v1/messages", "rid");
  EXPECT_EQ(wrong_method.result(), http::status::method_not_allowed);
  EXPECT_EQ(wrong_method[http::field::allow], "POST");
}

TEST(RequestParserTest, RequestIdIsTheClientsWhenSane) {
  EXPECT_EQ(RequestIdFor("abc-123"), "abc-123");
  EXPECT_NE(RequestIdFor("a\r\nSet-Cookie: x"), "a\r\nSet-Cookie: x");
  EXPECT_FALSE(RequestIdFor("").empty());
}

}  // namespace
}  // namespace msgbroker::net
