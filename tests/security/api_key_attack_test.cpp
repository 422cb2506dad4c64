// The attack suite for API keys (docs/adr/0012): the whole system in-process with
// proxy.api_keys.enabled, attacked over real TLS without a client certificate. As in
// attack_test.cpp, every case checks that nothing the attacker sent was stored.

#include <thread>

#include "msgbroker/crypto/api_key.hpp"
#include "system_fixture.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

class ApiKeyAttackTest : public SystemFixture {
 protected:
  void Configure(cli::EmbeddedOptions& options) override { options.api_keys = true; }

  // A key for `client` written to the registry; returned once the proxy's snapshot has it.
  std::string MakeKey(const std::string& client) {
    auto generated = crypto::GenerateApiKey();
    EXPECT_TRUE(generated);
    if (!generated) return {};
    storage::ApiKey key;
    key.key_id = generated->key_id;
    key.client_id = *ClientId::Parse(client);
    key.secret_hash = generated->secret_hash;
    key.created_at = SystemClock::Instance().Now();
    auto created = Database()->api_keys()->Create(key);
    EXPECT_TRUE(created) << created.error().message;
    std::this_thread::sleep_for(400ms);  // several registry refreshes (100 ms)
    return generated->key;
  }

  static void ExpectError(const Result<net::HttpResponse>& response, unsigned status,
                          std::string_view code) {
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->result_int(), status) << response->body();
    EXPECT_EQ(Json(*response)["error"]["code"], code) << response->body();
  }

  void ExpectOnlyTheControlMessageStored(std::uint64_t expected = 1) {
    auto client = Proxy(DemoTls());
    auto ok = client.Send(Post("/api/v1/messages", kValidMessage));
    ASSERT_TRUE(ok) << ok.error().message;
    ASSERT_EQ(ok->result_int(), 202u) << ok->body();
    ASSERT_TRUE(WaitStored(expected)) << "stored: " << StoredTotal();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(StoredTotal(), expected);
  }
};

// A key of `demo` with every other way of naming a client pointing at a registered `victim`:
// accepted as `demo`, the key's client; nothing is stored for `victim`.
TEST_F(ApiKeyAttackTest, SpoofedClientFieldsBesideAKeyAreIgnored) {
  auto db = Database();
  ASSERT_TRUE(
      db->clients()->CreateClient({*ClientId::Parse("victim"), "victim.example",
                                   storage::ClientStatus::kActive, SystemClock::Instance().Now()}));
  const auto key = MakeKey("demo");
  auto client = Proxy(NoCertTls());
  auto request = Post(
      "/api/v1/messages?client_id=victim",
      R"({"sender_number":"+4915112345678","message_body":"x","client_id":"victim","clientId":"victim"})");
  request.set(net::http::field::authorization, "Bearer " + key);
  request.set("X-Client-ID", "victim");
  request.set("X-Client-Cert-CN", "victim");
  request.set("X-Forwarded-Client-Cert", "Subject=\"CN=victim\"");
  auto response = client.Send(std::move(request));
  ASSERT_TRUE(response) << response.error().message;
  ASSERT_EQ(response->result_int(), 202u) << response->body();
  EXPECT_EQ(Json(*response)["client_id"], "demo");
  ASSERT_TRUE(WaitStored(1));
  EXPECT_EQ(StoredTotal("&client_id=victim"), 0u);
  EXPECT_EQ(StoredTotal("&client_id=demo"), 1u);
}

// A valid key anywhere but `Authorization: Bearer` is no key: 401 CLIENT_CERTIFICATE_REQUIRED.
TEST_F(ApiKeyAttackTest, KeyOutsideTheAuthorizationHeaderIsNotAccepted) {
  const auto key = MakeKey("demo");
  auto client = Proxy(NoCertTls());
  for (const std::string& target :
       {"/api/v1/messages?api_key=" + key, "/api/v1/messages?access_token=" + key}) {
    ExpectError(client.Send(Post(target, kValidMessage)), 401, "CLIENT_CERTIFICATE_REQUIRED");
  }
  ExpectError(
      client.Send(Post(
          "/api/v1/messages",
          R"({"sender_number":"+4915112345678","message_body":"x","api_key":")" + key + "\"}")),
      401, "CLIENT_CERTIFICATE_REQUIRED");
  for (const char* header : {"X-API-Key", "Api-Key", "Proxy-Authorization", "Cookie"}) {
    auto request = Post("/api/v1/messages", kValidMessage);
    request.set(header, std::string(header) == "Cookie" ? "api_key=" + key : "Bearer " + key);
    ExpectError(client.Send(std::move(request)), 401, "CLIENT_CERTIFICATE_REQUIRED");
  }
  ExpectOnlyTheControlMessageStored();
}

// Altered keys: upper-case hex, the key id of one key with the secret of another, a key
// truncated or extended, another scheme. All 401 UNKNOWN_CLIENT, nothing stored.
TEST_F(ApiKeyAttackTest, AlteredKeysAreRefused) {
  const auto key = MakeKey("demo");
  const auto other = MakeKey("demo");
  auto client = Proxy(NoCertTls());
  std::string upper = key;
  for (std::size_t i = 4; i < upper.size(); ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  }
  const std::string swapped = key.substr(0, 21) + other.substr(21);
  for (const std::string& value :
       {"Bearer " + upper, "Bearer " + swapped, "Bearer " + key.substr(0, key.size() - 1),
        "Bearer " + key + "0", "Basic " + key, "Bearer mbk_" + key.substr(4, 16) + "_",
        "Bearer " + key.substr(0, 21) + std::string(64, '0')}) {
    auto request = Post("/api/v1/messages", kValidMessage);
    request.set(net::http::field::authorization, value);
    ExpectError(client.Send(std::move(request)), 401, "UNKNOWN_CLIENT");
  }
  ExpectOnlyTheControlMessageStored();
}

// A service certificate (it carries clientAuth) with a valid client key: one identity per
// request, 400 INVALID_REQUEST; an Authorization header over the header limit: 431.
TEST_F(ApiKeyAttackTest, ServiceCertificateWithKeyAndOversizedHeaderAreRefused) {
  const auto key = MakeKey("demo");
  auto worker = Proxy(ServiceTls(pki::ServiceRole::kWorker));
  auto request = Post("/api/v1/messages", kValidMessage);
  request.set(net::http::field::authorization, "Bearer " + key);
  ExpectError(worker.Send(std::move(request)), 400, "INVALID_REQUEST");

  auto client = Proxy(NoCertTls());
  auto huge = Post("/api/v1/messages", kValidMessage);
  huge.set(net::http::field::authorization, "Bearer " + key + std::string(9 * 1024, 'a'));
  ExpectError(client.Send(std::move(huge)), 431, "HEADERS_TOO_LARGE");
  ExpectOnlyTheControlMessageStored();
}

}  // namespace
}  // namespace msgbroker::testing
