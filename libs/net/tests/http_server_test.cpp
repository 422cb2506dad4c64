// HttpServer behaviour over real connections: routing, request ids, responders on other
// threads, failures inside handlers, keep-alive and graceful Stop.

#include "msgbroker/net/http_server.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "msgbroker/core/version.hpp"
#include "net_test_support.hpp"

namespace msgbroker::net {
namespace {

using std::chrono::milliseconds;
using testing::ClientTls;
using testing::ServerTls;
using testing::TestServer;
using testing::WaitFor;

// GET /echo -> {"request_id", "remote", "route", "params"}; GET/PUT /items/{id} likewise.
Handler Echo() {
  return [](HttpRequest&& request, const RequestContext& context, Responder respond) {
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [name, value] : context.path_params) params[name] = value;
    respond(MakeJsonResponse(http::status::ok, {{"request_id", context.request_id},
                                                {"remote", context.remote_address},
                                                {"route", context.route},
                                                {"params", params},
                                                {"body", request.body()}}));
  };
}

Router EchoRouter() {
  Router router;
  router.Add(http::verb::get, "/echo", Echo());
  router.Add(http::verb::post, "/echo", Echo());
  router.Add(http::verb::get, "/items/{id}", Echo());
  router.Add(http::verb::put, "/items/{id}", Echo());
  return router;
}

nlohmann::json Json(const HttpResponse& response) { return nlohmann::json::parse(response.body()); }

TEST(HttpServerTest, RoutesWithParamsAndStandardHeaders) {
  TestServer server(EchoRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  const auto response = client.Get("/items/42?verbose=1");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->result(), http::status::ok);
  const auto body = Json(*response);
  EXPECT_EQ(body["route"], "/items/{id}");
  EXPECT_EQ(body["params"], (nlohmann::json{{"id", "42"}}));
  EXPECT_EQ(body["remote"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ((*response)[http::field::server], "msgbroker");
  EXPECT_FALSE((*response)[http::field::date].empty());
  EXPECT_EQ((*response)["X-Request-Id"], body["request_id"].get<std::string>());

  const auto posted = client.PostJson("/echo", R"({"a":1})");
  ASSERT_TRUE(posted) << posted.error().message;
  EXPECT_EQ(Json(*posted)["body"], R"({"a":1})");
}

TEST(HttpServerTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  TestServer server(EchoRouter(), std::nullopt);
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  auto response = client.Get("/nowhere");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->result(), http::status::not_found);
  EXPECT_EQ(Json(*response)["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(Json(*response)["error"]["request_id"], std::string((*response)["X-Request-Id"]));

  response = client.Send(HttpRequest{http::verb::delete_, "/items/7", 11});
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->result(), http::status::method_not_allowed);
  EXPECT_EQ(Json(*response)["error"]["code"], "METHOD_NOT_ALLOWED");
  EXPECT_EQ((*response)[http::field::allow], "GET, PUT");

  EXPECT_EQ(testing::MetricValue(*server.registry, "http_requests_total",
                                 {{"route", "unmatched"}, {"method", "GET"}, {"status", "404"}}),
            1);
  EXPECT_EQ(
      testing::MetricValue(*server.registry, "http_requests_total",
                           {{"route", "/items/{id}"}, {"method", "DELETE"}, {"status", "405"}}),
      1);
}

TEST(HttpServerTest, SaneRequestIdIsEchoedOtherwiseReplaced) {
  TestServer server(EchoRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  auto send = [&](std::string id) {
    HttpRequest request{http::verb::get, "/echo", 11};
    request.set("X-Request-Id", id);
    auto response = client.Send(std::move(request));
    EXPECT_TRUE(response) << response.error().message;
    EXPECT_EQ((*response)["X-Request-Id"], Json(*response)["request_id"].get<std::string>());
    return std::string((*response)["X-Request-Id"]);
  };
  EXPECT_EQ(send("client-req_1.2"), "client-req_1.2");
  for (const std::string& bad : {std::string("has space"), std::string(65, 'a'),
                                 std::string("semi;colon"), std::string("quote\"")}) {
    const auto replaced = send(bad);
    EXPECT_NE(replaced, bad);
    EXPECT_EQ(replaced.size(), 16u) << replaced;
  }
  const auto fresh = client.Get("/echo");
  ASSERT_TRUE(fresh);
  EXPECT_EQ((*fresh)["X-Request-Id"].size(), 16u);
}

TEST(HttpServerTest, ResponderWorksFromAnotherThread) {
  std::mutex mutex;
  std::vector<std::thread> threads;
  Router router;
  router.Add(http::verb::get, "/later",
             [&](HttpRequest&&, const RequestContext& context, Responder respond) {
               std::lock_guard lock(mutex);
               threads.emplace_back([respond, id = context.request_id] {
                 respond(MakeJsonResponse(http::status::accepted, {{"id", id}}));
               });
             });
  {
    TestServer server(std::move(router), ServerTls());
    ASSERT_TRUE(server.started) << server.started.error().message;
    auto client = server.Client();
    for (int i = 0; i < 20; ++i) {
      const auto response = client.Get("/later");
      ASSERT_TRUE(response) << response.error().message;
      EXPECT_EQ(response->result(), http::status::accepted);
      EXPECT_EQ(Json(*response)["id"], std::string((*response)["X-Request-Id"]));
    }
  }
  for (auto& thread : threads) thread.join();
}

TEST(HttpServerTest, HandlerExceptionBecomes500AndTheConnectionSurvives) {
  Router router = EchoRouter();
  router.Add(http::verb::get, "/boom", [](HttpRequest&&, const RequestContext&, Responder) {
    throw std::runtime_error("kaboom");
  });
  router.Add(http::verb::get, "/silent", [](HttpRequest&&, const RequestContext&, Responder) {});
  TestServer server(std::move(router), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  for (const char* target : {"/boom", "/silent"}) {
    HttpRequest request{http::verb::get, target, 11};
    request.set("X-Request-Id", "trace-me");
    const auto response = client.Send(std::move(request));
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->result(), http::status::internal_server_error) << target;
    const auto error = Json(*response)["error"];
    EXPECT_EQ(error["code"], "INTERNAL_ERROR");
    EXPECT_EQ(error["request_id"], "trace-me");
    EXPECT_EQ(error["message"].get<std::string>().find("kaboom"), std::string::npos);
  }
  const auto after = client.Get("/echo");
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->result(), http::status::ok);
  EXPECT_EQ(testing::MetricValue(*server.registry, "http_requests_total",
                                 {{"route", "/boom"}, {"status", "500"}}),
            1);
}

TEST(HttpServerTest, HundredRequestsShareOneKeptAliveConnection) {
  TestServer server(EchoRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  std::set<std::string> remotes;
  for (int i = 0; i < 100; ++i) {
    const auto response = client.Get("/echo");
    ASSERT_TRUE(response) << response.error().message;
    remotes.insert(Json(*response)["remote"].get<std::string>());
  }
  EXPECT_EQ(remotes.size(), 1u);
  EXPECT_EQ(testing::MetricValue(*server.registry, "http_connections_active", {}), 1);
  EXPECT_EQ(testing::MetricValue(*server.registry, "http_requests_total", {{"route", "/echo"}}),
            100);
  EXPECT_EQ(
      testing::MetricValue(*server.registry, "http_request_duration_seconds", {{"route", "/echo"}}),
      100);
}

TEST(HttpServerTest, ClientReconnectsAfterTheServerClosedAnIdleConnection) {
  ServerLimits limits;
  limits.idle_timeout = milliseconds{200};
  TestServer server(EchoRouter(), ServerTls(), limits);
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  const auto first = client.Get("/echo");
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(WaitFor(
      [&] { return testing::MetricValue(*server.registry, "http_connections_active", {}) == 0; },
      std::chrono::seconds{5}));
  const auto second = client.Get("/echo");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_NE(Json(*first)["remote"], Json(*second)["remote"]);
}

TEST(HttpServerTest, ManyClientsOnManyThreads) {
  TestServer server(EchoRouter(), ServerTls(), {}, 2);
  ASSERT_TRUE(server.started) << server.started.error().message;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto client = server.Client();
      for (int i = 0; i < 50; ++i) {
        if (auto response = client.Get("/echo"); response && response->result_int() == 200) ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 400);
}

TEST(HttpServerTest, StopLetsAnInFlightRequestFinish) {
  std::promise<Responder> handed_over;
  Router router;
  router.Add(http::verb::get, "/slow", [&](HttpRequest&&, const RequestContext&, Responder r) {
    handed_over.set_value(std::move(r));
  });
  TestServer server(std::move(router), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  auto request = std::async(std::launch::async, [&] { return client.Get("/slow"); });
  auto responder_future = handed_over.get_future();
  ASSERT_EQ(responder_future.wait_for(std::chrono::seconds{5}), std::future_status::ready);
  // The handler's work completes 300 ms into the drain.
  std::thread late([respond = responder_future.get()] {
    std::this_thread::sleep_for(milliseconds{300});
    respond(MakeJsonResponse(http::status::ok, {{"done", true}}));
  });
  const auto stop_started = std::chrono::steady_clock::now();
  server.server->Stop(std::chrono::seconds{2});
  const auto stop_took = std::chrono::steady_clock::now() - stop_started;
  late.join();
  const auto response = request.get();
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->result(), http::status::ok);
  EXPECT_FALSE(response->keep_alive());
  EXPECT_GE(stop_took, milliseconds{250});
  EXPECT_LT(stop_took, milliseconds{1900});

  auto after = server.Client(ClientTls(), milliseconds{1000});
  const auto refused = after.Get("/slow");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kServiceUnavailable);
}

TEST(HttpServerTest, StopClosesIdleConnectionsPromptlyAndTwiceIsFine) {
  TestServer server(EchoRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  ASSERT_TRUE(client.Get("/echo"));
  const auto stop_started = std::chrono::steady_clock::now();
  server.server->Stop(std::chrono::seconds{10});
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, milliseconds{1000});
  server.server->Stop(std::chrono::seconds{10});
  EXPECT_EQ(testing::MetricValue(*server.registry, "http_connections_active", {}), 0);
}

TEST(HttpServerTest, GraceExpiresForAHandlerThatNeverAnswers) {
  std::promise<Responder> handed_over;
  Router router;
  router.Add(http::verb::get, "/stuck", [&](HttpRequest&&, const RequestContext&, Responder r) {
    handed_over.set_value(std::move(r));
  });
  auto server = std::make_unique<TestServer>(std::move(router), ServerTls());
  ASSERT_TRUE(server->started) << server->started.error().message;
  auto client = server->Client();
  auto request = std::async(std::launch::async, [&] { return client.Get("/stuck"); });
  auto responder_future = handed_over.get_future();
  ASSERT_EQ(responder_future.wait_for(std::chrono::seconds{5}), std::future_status::ready);
  Responder respond = responder_future.get();
  const auto stop_started = std::chrono::steady_clock::now();
  server->server->Stop(milliseconds{200});
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, milliseconds{1500});
  const auto response = request.get();
  ASSERT_FALSE(response);
  // The server is gone; answering late (and dropping the Responder afterwards) is harmless.
  server.reset();
  respond(MakeJsonResponse(http::status::ok, {}));
}

TEST(HttpServerTest, StartOnATakenPortSaysSo) {
  TestServer first(EchoRouter(), std::nullopt);
  ASSERT_TRUE(first.started) << first.started.error().message;
  prometheus::Registry registry;
  HttpServerOptions options;
  options.service = "second";
  options.port = first.server->port();
  HttpServer second(options, EchoRouter(), registry);
  const auto started = second.Start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_NE(started.error().message.find("already in use"), std::string::npos);
  EXPECT_NE(started.error().message.find("127.0.0.1:" + std::to_string(first.server->port())),
            std::string::npos)
      << started.error().message;
  second.Stop(milliseconds{0});
}

TEST(HttpServerTest, DestroyWithoutStartOrAfterStop) {
  prometheus::Registry registry;
  { HttpServer never_started({.service = "a"}, EchoRouter(), registry); }
  HttpServer server({.service = "b"}, EchoRouter(), registry);
  ASSERT_TRUE(server.Start());
  EXPECT_NE(server.port(), 0);
  server.Stop(milliseconds{100});
}

}  // namespace
}  // namespace msgbroker::net
