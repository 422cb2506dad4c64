// API keys (docs/adr/0012) over real TLS without a client certificate, against the whole system
// in-process; keys are created and revoked with the real `msgbroker admin apikey` binary on the
// same data directory while the proxy runs (registry refresh 100 ms in the fixture).

#include "msgbroker/crypto/api_key.hpp"

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "system_fixture.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

// The system with proxy API keys enabled.
class ProxyApiKeyTest : public SystemFixture {
 protected:
  void Configure(cli::EmbeddedOptions& options) override { options.api_keys = true; }

  std::string DataDir() const { return (tmp_.path() / "data").string(); }

  // Runs `msgbroker admin apikey <args> --data-dir <data>`; {exit code, output}.
  std::pair<int, std::string> Cli(const std::string& args) {
    return RunShell(MsgbrokerBinary() + " admin apikey " + args + " --data-dir '" + DataDir() +
                    "' 2>&1");
  }

  // Creates a key with the CLI and returns it (empty on failure, with a gtest failure).
  std::string CreateKey(const std::string& args) {
    auto [rc, out] = Cli("create " + args);
    EXPECT_EQ(rc, 0) << out;
    const auto at = out.find("mbk_");
    if (rc != 0 || at == std::string::npos) {
      ADD_FAILURE() << "no key in: " << out;
      return {};
    }
    const std::string key = out.substr(at, crypto::kApiKeyLength);
    EXPECT_TRUE(crypto::ParseApiKeyId(key)) << key;
    EXPECT_EQ(out.find(key, at + 1), std::string::npos) << "the key is printed once";
    return key;
  }

  static net::HttpRequest WithKey(net::HttpRequest request, const std::string& key) {
    request.set(net::http::field::authorization, "Bearer " + key);
    return request;
  }

  // Expects the error envelope `status` / `code` for a request with `key` and no certificate.
  void ExpectRefused(const std::string& key, unsigned status, std::string_view code,
                     const net::TlsClientConfig& tls) {
    auto client = Proxy(tls);
    auto response = client.Send(WithKey(Post("/api/v1/messages", kValidMessage), key));
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->result_int(), status) << response->body();
    auto json = Json(*response);
    ASSERT_TRUE(json.contains("error")) << response->body();
    EXPECT_EQ(json["error"]["code"], code) << response->body();
    EXPECT_EQ(response->body().find(key), std::string::npos);
  }
  void ExpectRefused(const std::string& key, unsigned status, std::string_view code) {
    ExpectRefused(key, status, code, NoCertTls());
  }

  unsigned SendWithKey(const std::string& key) {
    auto client = Proxy(NoCertTls());
    auto response = client.Send(WithKey(Post("/api/v1/messages", kValidMessage), key));
    return response ? response->result_int() : 0;
  }

  // The error code of a request with `key` ("" for a success or no answer).
  std::string CodeWithKey(const std::string& key) {
    auto client = Proxy(NoCertTls());
    auto response = client.Send(WithKey(Post("/api/v1/messages", kValidMessage), key));
    if (!response || response->result_int() < 400) return {};
    return Json(*response)["error"]["code"].get<std::string>();
  }

  // After the refused requests: one control message with the certificate, and exactly
  // `expected` messages stored in the end.
  void ExpectOnlyTheControlMessageStored(std::uint64_t expected = 1) {
    auto client = Proxy(DemoTls());
    auto ok = client.Send(Post("/api/v1/messages", kValidMessage));
    ASSERT_TRUE(ok);
    ASSERT_EQ(ok->result_int(), 202u) << ok->body();
    ASSERT_TRUE(WaitStored(expected)) << "stored: " << StoredTotal();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(StoredTotal(), expected);
  }

  // Waits for the proxy's key snapshot (100 ms refresh) to hold a key created by the CLI.
  bool WaitAccepted(const std::string& key) {
    return WaitFor([&] { return SendWithKey(key) == 202; }, 5s, 50ms);
  }
};

TEST_F(ProxyApiKeyTest, ValidKeyWithoutCertificateIs202AndAttributedToItsClient) {
  const auto key = CreateKey("--client-id demo --label 'billing'");
  ASSERT_FALSE(key.empty());
  auto client = Proxy(NoCertTls());
  Result<net::HttpResponse> response = Fail(ErrorCode::kInternal, "not sent");
  ASSERT_TRUE(WaitFor(
      [&] {
        response = client.Send(WithKey(Post("/api/v1/messages", kValidMessage), key));
        return response && response->result_int() != 401;
      },
      5s, 50ms));
  ASSERT_EQ(response->result_int(), 202u) << response->body();
  auto accepted = Json(*response);
  EXPECT_EQ(accepted["client_id"], "demo");
  const std::string id = accepted["message_id"];
  // The batch route takes the key too, on the same kept-alive connection.
  auto batch = client.Send(WithKey(
      Post("/api/v1/messages/batch", std::string(R"({"messages":[)") + kValidMessage + "]}"), key));
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->result_int(), 202u) << batch->body();
  ASSERT_TRUE(WaitStored(2));
  auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
  auto stored = admin.Get("/api/v1/messages/" + id);
  ASSERT_TRUE(stored && stored->result_int() == 200);
  EXPECT_EQ(Json(*stored)["client_id"], "demo");
}

TEST_F(ProxyApiKeyTest, WrongUnknownAndMalformedKeysAre401AndStoreNothing) {
  const auto key = CreateKey("--client-id demo");
  ASSERT_FALSE(key.empty());
  ASSERT_TRUE(WaitAccepted(key));
  std::string wrong = key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  auto unknown = crypto::GenerateApiKey();
  ASSERT_TRUE(unknown);
  ExpectRefused(wrong, 401, "UNKNOWN_CLIENT");
  ExpectRefused(unknown->key, 401, "UNKNOWN_CLIENT");
  ExpectRefused("not-a-key", 401, "UNKNOWN_CLIENT");
  // No key and no certificate.
  auto client = Proxy(NoCertTls());
  auto none = client.Send(Post("/api/v1/messages", kValidMessage));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->result_int(), 401u);
  EXPECT_EQ(Json(*none)["error"]["code"], "CLIENT_CERTIFICATE_REQUIRED");
  // X-API-Key is not a way in (one documented header only).
  auto other_header = Post("/api/v1/messages", kValidMessage);
  other_header.set("X-API-Key", key);
  auto refused = client.Send(std::move(other_header));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 401u);
  ExpectOnlyTheControlMessageStored(1 + 1);  // the WaitAccepted message and the control
}

TEST_F(ProxyApiKeyTest, RevokedKeyIsRefusedByTheRunningProxyWithinTheRefresh) {
  const auto key = CreateKey("--client-id demo");
  ASSERT_FALSE(key.empty());
  ASSERT_TRUE(WaitAccepted(key));
  const std::string key_id = *crypto::ParseApiKeyId(key);
  auto [rc, out] = Cli("revoke --key-id " + key_id + " --reason 'leaked'");
  ASSERT_EQ(rc, 0) << out;
  const auto revoked_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return SendWithKey(key) == 401; }, 5s, 20ms));
  // Well within a few refresh intervals (100 ms here).
  EXPECT_LT(std::chrono::steady_clock::now() - revoked_at, 3s);
  ExpectRefused(key, 401, "UNKNOWN_CLIENT");
  // Messages sent before the refresh may have been accepted: count what is stored now.
  std::this_thread::sleep_for(500ms);
  const auto before = StoredTotal();
  ExpectRefused(key, 401, "UNKNOWN_CLIENT");
  ExpectOnlyTheControlMessageStored(before + 1);
}

TEST_F(ProxyApiKeyTest, ExpiredKeyIs401) {
  // The CLI gives at least a day; an already expired key is written to the database directly.
  auto generated = crypto::GenerateApiKey();
  ASSERT_TRUE(generated);
  storage::ApiKey key;
  key.key_id = generated->key_id;
  key.client_id = *ClientId::Parse("demo");
  key.secret_hash = generated->secret_hash;
  key.created_at = SystemClock::Instance().Now() - std::chrono::hours(48);
  key.expires_at = SystemClock::Instance().Now() - std::chrono::seconds(1);
  ASSERT_TRUE(Database()->api_keys()->Create(key));
  std::this_thread::sleep_for(500ms);  // several refreshes: the key is in the snapshot
  ExpectRefused(generated->key, 401, "UNKNOWN_CLIENT");
  ExpectOnlyTheControlMessageStored();
}

TEST_F(ProxyApiKeyTest, SuspendedClientIs403AndRevokedClientGetsNoKey) {
  const auto key = CreateKey("--client-id demo");
  ASSERT_FALSE(key.empty());
  ASSERT_TRUE(WaitAccepted(key));
  auto [rc, out] = RunShell(MsgbrokerBinary() + " admin client suspend --client-id demo" +
                            " --data-dir '" + DataDir() + "' 2>&1");
  ASSERT_EQ(rc, 0) << out;
  ASSERT_TRUE(WaitFor([&] { return SendWithKey(key) == 403; }, 5s, 20ms));
  ExpectRefused(key, 403, "CLIENT_SUSPENDED");
  std::this_thread::sleep_for(500ms);
  const auto before = StoredTotal();
  ExpectRefused(key, 403, "CLIENT_SUSPENDED");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(StoredTotal(), before);

  auto [revoke_rc, revoke_out] =
      RunShell(MsgbrokerBinary() + " admin client revoke --client-id demo" + " --data-dir '" +
               DataDir() + "' 2>&1");
  ASSERT_EQ(revoke_rc, 0) << revoke_out;
  ASSERT_TRUE(WaitFor([&] { return CodeWithKey(key) == "CLIENT_REVOKED"; }, 5s, 20ms));
  ExpectRefused(key, 403, "CLIENT_REVOKED");
  auto [create_rc, create_out] = Cli("create --client-id demo");
  EXPECT_EQ(create_rc, 1) << create_out;
  EXPECT_NE(create_out.find("is revoked"), std::string::npos) << create_out;
  EXPECT_FALSE(std::regex_search(create_out, std::regex("mbk_[0-9a-f]{16}_")));
}

TEST_F(ProxyApiKeyTest, AllowListIsCheckedAgainstThePeerAddress) {
  const auto outside =
      CreateKey("--client-id demo --allow-ip 192.0.2.0/24 --allow-ip 2001:db8::/32");
  const auto inside = CreateKey("--client-id demo --allow-ip 10.0.0.0/8 --allow-ip 127.0.0.0/8");
  ASSERT_FALSE(outside.empty());
  ASSERT_FALSE(inside.empty());
  ASSERT_TRUE(WaitAccepted(inside));  // from 127.0.0.1
  ExpectRefused(outside, 401, "UNKNOWN_CLIENT");
  ExpectOnlyTheControlMessageStored(2);
}

TEST_F(ProxyApiKeyTest, CertificateAndKeyTogetherAre400AndStoreNothing) {
  const auto key = CreateKey("--client-id demo");
  ASSERT_FALSE(key.empty());
  ASSERT_TRUE(WaitAccepted(key));
  ExpectRefused(key, 400, "INVALID_REQUEST", DemoTls());
  // Any Authorization header beside a certificate is refused, not just a valid key.
  ExpectRefused("something-else", 400, "INVALID_REQUEST", DemoTls());
  ExpectOnlyTheControlMessageStored(2);
}

TEST_F(ProxyApiKeyTest, CliCreatesListsAndRevokesWithoutShowingSecretsAndAudits) {
  const auto key = CreateKey("--client-id demo --label 'billing system' --expires-in-days 30");
  ASSERT_FALSE(key.empty());
  const std::string key_id = *crypto::ParseApiKeyId(key);
  const std::string secret = key.substr(21);
  const std::string hash = crypto::HashApiKeyHex(key);

  auto [list_rc, listed] = Cli("list --client-id demo");
  ASSERT_EQ(list_rc, 0) << listed;
  EXPECT_NE(listed.find(key_id), std::string::npos) << listed;
  EXPECT_NE(listed.find("billing system"), std::string::npos) << listed;
  EXPECT_NE(listed.find("active"), std::string::npos) << listed;
  EXPECT_EQ(listed.find(secret), std::string::npos);
  EXPECT_EQ(listed.find(hash), std::string::npos);
  auto [other_rc, other] = Cli("list --client-id nobody");
  ASSERT_EQ(other_rc, 0);
  EXPECT_EQ(other.find(key_id), std::string::npos);

  auto [rc, revoked] = Cli("revoke --key-id " + key_id + " --reason 'rotated'");
  ASSERT_EQ(rc, 0) << revoked;
  auto [again_rc, again] = Cli("revoke --key-id " + key_id);
  EXPECT_EQ(again_rc, 1) << again;
  EXPECT_NE(again.find("revoked already"), std::string::npos) << again;
  auto [after_rc, after] = Cli("list");
  ASSERT_EQ(after_rc, 0);
  EXPECT_NE(after.find("revoked"), std::string::npos) << after;

  // Refusals: nothing is created, nothing printed that looks like a key.
  for (const std::string& args : std::vector<std::string>{
           "create --client-id nobody", "create --client-id demo --allow-ip 10.0.0.1/8",
           "create --client-id demo --allow-ip example.com",
           "create --client-id demo --expires-in-days 0", "create --client-id 'bad id'",
           "revoke --key-id 0123", "revoke --key-id " + key, "revoke --key-id ffffffffffffffff",
           "create"}) {
    auto [bad_rc, bad] = Cli(args);
    EXPECT_NE(bad_rc, 0) << args << ": " << bad;
    EXPECT_FALSE(std::regex_search(bad, std::regex("mbk_[0-9a-f]{16}_[0-9a-f]{64}")))
        << args << ": " << bad;
  }
  auto keys = Database()->api_keys()->List(std::nullopt);
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].secret_hash, hash);  // stored hashed, never the key

  // The audit log has both actions, with who/what/where, and neither key nor hash; its chain
  // verifies.
  std::ifstream in(layout_.audit_log());
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_NE(log.str().find("\"apikey.create\""), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("\"apikey.revoke\""), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("\"apikey:" + key_id + "\""), std::string::npos);
  EXPECT_NE(log.str().find("rotated"), std::string::npos);
  EXPECT_EQ(log.str().find(secret), std::string::npos);
  EXPECT_EQ(log.str().find(hash), std::string::npos);
  auto [verify_rc, verified] =
      RunShell(MsgbrokerBinary() + " admin audit verify --data-dir '" + DataDir() + "' 2>&1");
  EXPECT_EQ(verify_rc, 0) << verified;
}

TEST_F(ProxyApiKeyTest, HealthAndMetricsShowApiKeys) {
  const auto key = CreateKey("--client-id demo");
  ASSERT_FALSE(key.empty());
  ASSERT_TRUE(WaitAccepted(key));
  std::string wrong = key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  ExpectRefused(wrong, 401, "UNKNOWN_CLIENT");
  auto c = Proxy(DemoTls());
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  auto h = Json(*health);
  EXPECT_EQ(h["checks"]["api_keys"]["status"], "healthy") << health->body();
  EXPECT_EQ(h["checks"]["api_keys"]["detail"], "1 active keys") << health->body();
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body().find("proxy_api_key_auth_success_total 1"), std::string::npos)
      << metrics->body();
  EXPECT_NE(metrics->body().find("proxy_api_key_auth_failures_total{reason=\"wrong_secret\"} 1"),
            std::string::npos)
      << metrics->body();
  EXPECT_EQ(metrics->body().find(key), std::string::npos);
}

// Without proxy.api_keys.enabled (the default) a key changes nothing: no certificate, no entry.
class ProxyApiKeysDisabledTest : public SystemFixture {};

TEST_F(ProxyApiKeysDisabledTest, KeyWithoutCertificateIsStillCertificateRequired) {
  auto [rc, out] =
      RunShell(MsgbrokerBinary() + " admin apikey create --client-id demo --data-dir '" +
               (tmp_.path() / "data").string() + "' 2>&1");
  ASSERT_EQ(rc, 0) << out;
  const std::string key = out.substr(out.find("mbk_"), crypto::kApiKeyLength);
  std::this_thread::sleep_for(300ms);
  auto client = Proxy(NoCertTls());
  auto request = Post("/api/v1/messages", kValidMessage);
  request.set(net::http::field::authorization, "Bearer " + key);
  auto response = client.Send(std::move(request));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->result_int(), 401u) << response->body();
  EXPECT_EQ(Json(*response)["error"]["code"], "CLIENT_CERTIFICATE_REQUIRED");
  // A certificate with an Authorization header is just the certificate when keys are off.
  auto with_cert = Proxy(DemoTls());
  auto both = Post("/api/v1/messages", kValidMessage);
  both.set(net::http::field::authorization, "Bearer " + key);
  auto ok = with_cert.Send(std::move(both));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->result_int(), 202u) << ok->body();
  EXPECT_TRUE(WaitStored(1));
}

// An Idempotency-Key sent with an API key is scoped to the key's client, like one sent with that
// client's certificate: the second request is a replay of the first, whichever way it came.
TEST_F(ProxyApiKeyTest, IdempotencyKeysOfKeyedRequestsBelongToTheKeysClient) {
  const auto key = CreateKey("--client-id demo");
  ASSERT_FALSE(key.empty());
  ASSERT_TRUE(WaitAccepted(key));
  auto keyed = [&](const net::TlsClientConfig& tls, bool with_key) {
    auto client = Proxy(tls);
    auto request = Post("/api/v1/messages", kValidMessage);
    request.set("Idempotency-Key", "\"order-17\"");
    return client.Send(with_key ? WithKey(std::move(request), key) : std::move(request));
  };
  auto first = keyed(NoCertTls(), true);
  ASSERT_TRUE(first && first->result_int() == 202) << (first ? first->body() : "no answer");
  EXPECT_EQ((*first)["Idempotent-Replayed"], "");
  auto again = keyed(NoCertTls(), true);
  ASSERT_TRUE(again && again->result_int() == 202) << (again ? again->body() : "no answer");
  EXPECT_EQ((*again)["Idempotent-Replayed"], "true");
  EXPECT_EQ(Json(*again)["message_id"], Json(*first)["message_id"]);
  auto by_certificate = keyed(DemoTls(), false);
  ASSERT_TRUE(by_certificate && by_certificate->result_int() == 202);
  EXPECT_EQ((*by_certificate)["Idempotent-Replayed"], "true");
  EXPECT_EQ(Json(*by_certificate)["message_id"], Json(*first)["message_id"]);
}

}  // namespace
}  // namespace msgbroker::testing
