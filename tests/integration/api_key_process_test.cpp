// API keys with the real binaries: a separate `msgbroker proxy` process with
// proxy.api_keys.enabled (Redis queue, SQLite database of the data directory), keys created and
// revoked with `msgbroker admin apikey` while it runs. A message sent with a key and no client
// certificate is stored as the key's client; after the revocation the running proxy refuses the
// key within its registry refresh interval (2 s).

#include <gtest/gtest.h>

#include "deployment.hpp"
#include "msgbroker/crypto/api_key.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

TEST(ApiKeyProcessTest, SeparateProxyAdmitsAKeyUntilItIsRevoked) {
  DeploymentOptions options;
  options.proxies = 1;
  options.workers = 1;
  options.proxy_extra = "  api_keys: {enabled: true}\n";
  Deployment deployment(options);
  ASSERT_TRUE(deployment.Start());
  const std::string data = "'" + deployment.layout().root.string() + "'";
  const std::string bin = MsgbrokerBinary();

  auto [rc, out] = RunShell(bin + " admin apikey create --client-id demo --label process-test" +
                            " --data-dir " + data + " 2>&1");
  ASSERT_EQ(rc, 0) << out;
  const auto at = out.find("mbk_");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string key = out.substr(at, crypto::kApiKeyLength);
  ASSERT_TRUE(crypto::ParseApiKeyId(key)) << key;

  const net::TlsClientConfig no_cert{deployment.layout().ca_cert(), {}, {}};
  net::HttpsClient client(
      {true, "127.0.0.1", static_cast<std::uint16_t>(deployment.proxy_ports()[0])}, no_cert, 10s);
  auto send = [&]() -> Result<net::HttpResponse> {
    net::HttpRequest request{net::http::verb::post, "/api/v1/messages", 11};
    request.set(net::http::field::content_type, "application/json");
    request.set(net::http::field::authorization, "Bearer " + key);
    request.body() = R"({"sender_number":"+4915112345678","message_body":"sent with a key"})";
    request.prepare_payload();
    return client.Send(std::move(request));
  };
  unsigned status = 0;
  std::string body;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto response = send();
        status = response ? response->result_int() : 0;
        body = response ? response->body() : response.error().message;
        return status == 202;
      },
      10s, 200ms))
      << status << " " << body << "\n"
      << deployment.Outputs();
  EXPECT_NE(body.find("\"client_id\":\"demo\""), std::string::npos) << body;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto stored = deployment.StoredIds();
        return stored && stored->ids.size() == 1;
      },
      20s, 100ms));

  auto [revoke_rc, revoked] =
      RunShell(bin + " admin apikey revoke --key-id " + *crypto::ParseApiKeyId(key) +
               " --reason process-test --data-dir " + data + " 2>&1");
  ASSERT_EQ(revoke_rc, 0) << revoked;
  const auto revoked_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto response = send();
        return response && response->result_int() == 401;
      },
      10s, 100ms));
  EXPECT_LT(std::chrono::steady_clock::now() - revoked_at, 5s);  // refresh interval 2 s
  auto refused = send();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 401u);
  EXPECT_NE(refused->body().find("UNKNOWN_CLIENT"), std::string::npos) << refused->body();
  // The proxy's log names the key id, never the key.
  EXPECT_EQ(deployment.Outputs().find(key), std::string::npos);
  deployment.StopAll();
}

}  // namespace
}  // namespace msgbroker::testing
