// Idempotency-Key across separate `msgbroker proxy` processes sharing one Redis (deployment.hpp,
// SQLite database): a key answered by one proxy is replayed by the other, the same key with
// another body is refused by either, and the message is stored exactly once.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "deployment.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

net::HttpRequest Keyed(std::string body, std::string_view key) {
  net::HttpRequest req{net::http::verb::post, "/api/v1/messages", 11};
  req.set(net::http::field::content_type, "application/json");
  req.set("Idempotency-Key", key);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

TEST(IdempotencyProxiesTest, AKeyAnsweredByOneProxyIsReplayedByTheOtherAndStoredOnce) {
  DeploymentOptions options;
  options.proxies = 2;
  options.workers = 1;
  Deployment deployment(options);
  ASSERT_TRUE(deployment.Start());
  auto proxy = [&](std::size_t i) {
    return net::HttpsClient(
        {true, "127.0.0.1", static_cast<std::uint16_t>(deployment.proxy_ports()[i])},
        deployment.Demo(), std::chrono::seconds{10});
  };
  const std::string body =
      R"({"sender_number":"+4915112345678","message_body":"via two proxies, once"})";
  auto one = proxy(0);
  auto first = one.Send(Keyed(body, R"("shared-redis-key")"));
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->result_int(), 202u) << first->body();
  const auto id = nlohmann::json::parse(first->body())["message_id"].get<std::string>();

  auto two = proxy(1);
  auto replay = two.Send(Keyed(body, R"("shared-redis-key")"));
  ASSERT_TRUE(replay) << replay.error().message;
  EXPECT_EQ(replay->result_int(), 202u);
  EXPECT_EQ(replay->body(), first->body());
  EXPECT_EQ((*replay)["Idempotent-Replayed"], "true");
  auto other = two.Send(
      Keyed(R"({"sender_number":"+4915112345678","message_body":"x"})", R"("shared-redis-key")"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->result_int(), 422u) << other->body();

  std::optional<Stored> stored;
  ASSERT_TRUE(WaitFor(
      [&] {
        stored = deployment.StoredIds();
        return stored && stored->ids.count(id) == 1;
      },
      30s, 100ms))
      << deployment.Outputs();
  EXPECT_EQ(stored->ids.size(), 1u);
  deployment.StopAll();
}

}  // namespace
}  // namespace msgbroker::testing
