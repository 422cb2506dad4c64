#include "msgbroker/net/router.hpp"

#include <gtest/gtest.h>

namespace msgbroker::net {
namespace {

Handler Named(std::string* called, std::string name) {
  return [called, name](HttpRequest&&, const RequestContext&, Responder) { *called = name; };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add(http::verb::post, "/api/v1/messages", Named(&called_, "submit"));
    router_.Add(http::verb::get, "/api/v1/messages", Named(&called_, "list"));
    router_.Add(http::verb::get, "/api/v1/messages/{id}", Named(&called_, "get"));
    router_.Add(http::verb::get, "/api/v1/clients/{client}/messages/{id}",
                Named(&called_, "client_message"));
    router_.Add(http::verb::get, "/", Named(&called_, "root"));
  }

  void Call(const Router::Match& match) {
    ASSERT_NE(match.handler, nullptr);
    (*match.handler)(HttpRequest{}, RequestContext{}, [](HttpResponse) {});
  }

  Router router_;
  std::string called_;
};

TEST_F(RouterTest, MatchesExactPathAndMethod) {
  auto match = router_.Find(http::verb::post, "/api/v1/messages");
  Call(match);
  EXPECT_EQ(called_, "submit");
  EXPECT_EQ(match.route, "/api/v1/messages");
  EXPECT_TRUE(match.params.empty());
  EXPECT_TRUE(match.allowed.empty());

  Call(router_.Find(http::verb::get, "/api/v1/messages"));
  EXPECT_EQ(called_, "list");
  Call(router_.Find(http::verb::get, "/"));
  EXPECT_EQ(called_, "root");
}

TEST_F(RouterTest, ExtractsPlaceholders) {
  auto match = router_.Find(http::verb::get, "/api/v1/messages/0190-abc");
  Call(match);
  EXPECT_EQ(called_, "get");
  EXPECT_EQ(match.route, "/api/v1/messages/{id}");
  ASSERT_EQ(match.params.size(), 1u);
  EXPECT_EQ(match.params.at("id"), "0190-abc");

  match = router_.Find(http::verb::get, "/api/v1/clients/acme/messages/42");
  Call(match);
  EXPECT_EQ(called_, "client_message");
  EXPECT_EQ(match.params.at("client"), "acme");
  EXPECT_EQ(match.params.at("id"), "42");
}

TEST_F(RouterTest, IgnoresTheQueryString) {
  auto match = router_.Find(http::verb::get, "/api/v1/messages?limit=10&after=x/y");
  Call(match);
  EXPECT_EQ(called_, "list");
  match = router_.Find(http::verb::get, "/api/v1/messages/7?x=1");
  Call(match);
  EXPECT_EQ(match.params.at("id"), "7");
}

TEST_F(RouterTest, UnknownPathIsNotFound) {
  for (const char* path : {"/nope", "/api/v1/messages/1/extra", "/api/v1", "/api/v1/messages/", "",
                           "api/v1/messages", "/api/v1/messages//"}) {
    const auto match = router_.Find(http::verb::get, path);
    EXPECT_EQ(match.handler, nullptr) << path;
    EXPECT_TRUE(match.allowed.empty()) << path;
  }
}

TEST_F(RouterTest, EmptyPlaceholderSegmentDoesNotMatch) {
  const auto match = router_.Find(http::verb::get, "/api/v1/clients//messages/1");
  EXPECT_EQ(match.handler, nullptr);
}

TEST_F(RouterTest, KnownPathOtherMethodListsAllowedMethods) {
  auto match = router_.Find(http::verb::delete_, "/api/v1/messages");
  EXPECT_EQ(match.handler, nullptr);
  EXPECT_EQ(match.route, "/api/v1/messages");
  EXPECT_EQ(match.allowed, (std::vector<http::verb>{http::verb::post, http::verb::get}));

  match = router_.Find(http::verb::post, "/api/v1/messages/5?q");
  EXPECT_EQ(match.handler, nullptr);
  EXPECT_EQ(match.allowed, std::vector<http::verb>{http::verb::get});
}

}  // namespace
}  // namespace msgbroker::net
