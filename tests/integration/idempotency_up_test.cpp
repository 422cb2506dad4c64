// Idempotency-Key with the real `msgbroker up` binary: a key's answer survives a graceful restart
// (SIGTERM) and a crash (SIGKILL) of the process, through the key store in the data directory.

#include <signal.h>

#include <nlohmann/json.hpp>

#include "msgbroker/net/https_client.hpp"
#include "up_process.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kMessage =
    R"({"sender_number":"+4915112345678","message_body":"exactly once, please"})";

net::HttpRequest Keyed(std::string body, std::string_view key) {
  net::HttpRequest req{net::http::verb::post, "/api/v1/messages", 11};
  req.set(net::http::field::content_type, "application/json");
  req.set("Idempotency-Key", key);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

Result<net::HttpResponse> SendTo(const std::filesystem::path& data, int port,
                                 net::HttpRequest request) {
  const auto client_dir = data / "clients" / "demo";
  net::TlsClientConfig tls{data / "pki" / "ca.crt", client_dir / "client.crt",
                           client_dir / "client.key"};
  net::HttpsClient client({true, "127.0.0.1", static_cast<std::uint16_t>(port)}, tls,
                          std::chrono::seconds{10});
  return client.Send(std::move(request));
}

TEST(IdempotencyUpTest, KeySurvivesRestartAndCrashOfTheProcess) {
  TempDir tmp;
  const auto data = tmp.path() / "data";
  std::string first_body;
  {
    UpProcess up(data);
    ASSERT_TRUE(up.WaitUntilUp()) << up.output();
    auto first = SendTo(data, up.ports.proxy, Keyed(kMessage, R"("invoice-17")"));
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_EQ(first->result_int(), 202u) << first->body();
    EXPECT_EQ(first->count("Idempotent-Replayed"), 0u);
    first_body = first->body();
    up.process().Signal(SIGTERM);
    auto code = up.process().Wait(30s);
    ASSERT_TRUE(code) << up.output();
    EXPECT_EQ(*code, 0) << up.output();
  }
  {
    UpProcess up(data);
    ASSERT_TRUE(up.WaitUntilUp()) << up.output();
    auto replay = SendTo(data, up.ports.proxy, Keyed(kMessage, R"("invoice-17")"));
    ASSERT_TRUE(replay) << replay.error().message;
    EXPECT_EQ(replay->result_int(), 202u);
    EXPECT_EQ(replay->body(), first_body);
    EXPECT_EQ((*replay)["Idempotent-Replayed"], "true");
    auto other = SendTo(data, up.ports.proxy, Keyed("{\"x\":1}", R"("invoice-17")"));
    ASSERT_TRUE(other);
    EXPECT_EQ(other->result_int(), 422u);
    // A second key answered just before a crash is kept too.
    auto second = SendTo(data, up.ports.proxy, Keyed(kMessage, R"("invoice-18")"));
    ASSERT_TRUE(second);
    ASSERT_EQ(second->result_int(), 202u);
    first_body = second->body();
    up.process().Signal(SIGKILL);
    ASSERT_TRUE(up.process().Wait(30s));
  }
  UpProcess up(data);
  ASSERT_TRUE(up.WaitUntilUp()) << up.output();
  auto replay = SendTo(data, up.ports.proxy, Keyed(kMessage, R"("invoice-18")"));
  ASSERT_TRUE(replay) << replay.error().message;
  EXPECT_EQ(replay->body(), first_body);
  EXPECT_EQ((*replay)["Idempotent-Replayed"], "true");
  up.process().Signal(SIGTERM);
  EXPECT_EQ(up.process().Wait(30s), 0);
}

}  // namespace
}  // namespace msgbroker::testing
