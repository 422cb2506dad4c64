// HttpsClient: headers it sets, timeouts, connection failures and protocol errors.

#include "msgbroker/net/https_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "msgbroker/core/version.hpp"
#include "msgbroker/testing/temp_dir.hpp"
#include "net_test_support.hpp"

namespace msgbroker::net {
namespace {

using std::chrono::milliseconds;
using testing::ClientTls;
using testing::Pki;
using testing::ServerTls;
using testing::TestServer;

// A listening socket that never accepts or answers: connects succeed, nothing comes back.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen");
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

TEST(HttpsClientTest, SetsHostUserAgentAndContentLength) {
  Router router;
  router.Add(http::verb::post, "/headers",
             [](HttpRequest&& request, const RequestContext&, Responder respond) {
               respond(MakeJsonResponse(http::status::ok,
                                        {{"host", request[http::field::host]},
                                         {"user_agent", request[http::field::user_agent]},
                                         {"content_length", request[http::field::content_length]},
                                         {"content_type", request[http::field::content_type]}}));
             });
  TestServer server(std::move(router), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  const auto response = client.PostJson("/headers", R"({"x":"y"})");
  ASSERT_TRUE(response) << response.error().message;
  const auto body = nlohmann::json::parse(response->body());
  EXPECT_EQ(body["host"], "127.0.0.1:" + std::to_string(server.server->port()));
  EXPECT_EQ(body["user_agent"], "msgbroker/" + std::string(Version()));
  EXPECT_EQ(body["content_length"], "9");
  EXPECT_EQ(body["content_type"], "application/json");
}

TEST(HttpsClientTest, ConnectionRefusedIsServiceUnavailable) {
  std::uint16_t port = 0;
  {
    SilentListener listener;  // reserve a port, then free it
    port = listener.port();
  }
  HttpsClient client({false, "127.0.0.1", port}, std::nullopt, milliseconds{2'000});
  const auto response = client.Get("/");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_NE(response.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << response.error().message;
}

TEST(HttpsClientTest, NoAnswerIsATimeout) {
  SilentListener listener;
  for (const bool tls : {false, true}) {
    HttpsClient client({tls, "127.0.0.1", listener.port()},
                       tls ? std::optional(ClientTls()) : std::nullopt, milliseconds{300});
    const auto started = std::chrono::steady_clock::now();
    const auto response = client.Get("/");
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, ErrorCode::kTimeout) << response.error().message;
    EXPECT_GE(took, milliseconds{250});
    EXPECT_LT(took, milliseconds{2'000});
  }
}

TEST(HttpsClientTest, SlowHandlerIsATimeoutAndTheClientRecovers) {
  std::promise<Responder> parked;
  bool first = true;
  Router router;
  router.Add(http::verb::get, "/maybe-slow",
             [&](HttpRequest&&, const RequestContext&, Responder respond) {
               if (first) {
                 first = false;
                 parked.set_value(std::move(respond));
                 return;
               }
               respond(MakeJsonResponse(http::status::ok, {}));
             });
  TestServer server(std::move(router), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client(ClientTls(), milliseconds{300});
  const auto slow = client.Get("/maybe-slow");
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, ErrorCode::kTimeout);
  const auto next = client.Get("/maybe-slow");
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->result(), http::status::ok);
  parked.get_future().get()(MakeJsonResponse(http::status::ok, {}));
}

TEST(HttpsClientTest, HttpsEndpointWithoutTlsConfigurationIsAnError) {
  HttpsClient client({true, "127.0.0.1", 1}, std::nullopt, milliseconds{100});
  const auto response = client.Get("/");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kInvalidRequest);
}

TEST(HttpsClientTest, BadTlsFilesAreReportedBySend) {
  auto tls = ClientTls();
  tls.ca_file = testing::Pki().dir / "absent-ca.crt";
  HttpsClient client({true, "127.0.0.1", 1}, tls, milliseconds{100});
  const auto response = client.Get("/");
  ASSERT_FALSE(response);
  EXPECT_NE(response.error().message.find("absent-ca.crt"), std::string::npos);
}

TEST(HttpsClientTest, ServerClosingWithConnectionCloseMakesTheNextRequestReconnect) {
  ServerLimits limits;
  limits.max_requests_per_connection = 1;
  Router router;
  router.Add(http::verb::get, "/remote",
             [](HttpRequest&&, const RequestContext& context, Responder respond) {
               respond(MakeJsonResponse(http::status::ok, {{"remote", context.remote_address}}));
             });
  TestServer server(std::move(router), ServerTls(), limits);
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client();
  std::set<std::string> remotes;
  for (int i = 0; i < 5; ++i) {
    const auto response = client.Get("/remote");
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_FALSE(response->keep_alive());
    remotes.insert(nlohmann::json::parse(response->body())["remote"].get<std::string>());
  }
  EXPECT_EQ(remotes.size(), 5u);
}

// The worker's certificate on SIGHUP: after a Reload the next request presents the new
// certificate on a new connection; a broken file leaves the current one in use.
TEST(HttpsClientTest, ReloadableContextPresentsTheNewCertificateOnTheNextRequest) {
  Router router;
  router.Add(http::verb::get, "/whoami",
             [](HttpRequest&&, const RequestContext& context, Responder respond) {
               respond(MakeJsonResponse(http::status::ok,
                                        {{"cn", context.peer ? context.peer->subject_cn : ""},
                                         {"connection", context.remote_address}}));
             });
  TestServer server(std::move(router), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;

  msgbroker::testing::TempDir dir;
  TlsClientConfig config = ClientTls();
  const auto cert = dir.path() / "client.crt";
  const auto key = dir.path() / "client.key";
  std::filesystem::copy_file(config.cert_file, cert);
  std::filesystem::copy_file(config.key_file, key);
  config.cert_file = cert;
  config.key_file = key;
  auto context = ReloadableClientContext::Create(config, "test");
  ASSERT_TRUE(context) << context.error().message;
  HttpsClient client(server.endpoint(), *context, milliseconds{5'000});
  const auto whoami = [&client] {
    auto response = client.Get("/whoami");
    EXPECT_TRUE(response && response->result_int() == 200);
    return response ? nlohmann::json::parse(response->body()) : nlohmann::json{};
  };

  const auto first = whoami();
  EXPECT_EQ(first["cn"], "acme");
  EXPECT_EQ(whoami()["connection"], first["connection"]);  // kept alive

  std::filesystem::copy_file(Pki().worker_cert, cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(Pki().worker_key, key,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE((*context)->Reload());
  const auto renewed = whoami();
  EXPECT_EQ(renewed["cn"], "worker");
  EXPECT_NE(renewed["connection"], first["connection"]);  // not the old connection

  {
    std::ofstream broken(cert, std::ios::trunc);
    broken << "not a certificate\n";
  }
  const auto failed = (*context)->Reload();
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("client.crt"), std::string::npos) << failed.error().message;
  const auto after = whoami();
  EXPECT_EQ(after["cn"], "worker");
  EXPECT_EQ(after["connection"], renewed["connection"]);
}

}  // namespace
}  // namespace msgbroker::net
