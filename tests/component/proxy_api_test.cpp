// POST /api/v1/messages over real mutual TLS: identity, validation, durability, encryption.

#include <sqlite3.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/time_format.hpp"
#include "system_fixture.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

class ProxyApiTest : public SystemFixture {
 protected:
  // Sends `body`; expects an error envelope with `status`, `code` and (optionally) `field`.
  void ExpectRejected(net::HttpsClient& client, std::string body, unsigned status,
                      std::string_view code, std::string_view field = {},
                      std::string content_type = "application/json",
                      std::string_view path_suffix = {}) {
    auto response = client.Send(
        Post("/api/v1/messages" + std::string(path_suffix), std::move(body), content_type));
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->result_int(), status) << response->body();
    auto json = Json(*response);
    ASSERT_TRUE(json.contains("error")) << response->body();
    EXPECT_EQ(json["error"]["code"], code) << response->body();
    EXPECT_FALSE(json["error"]["message"].get<std::string>().empty());
    EXPECT_EQ(json["error"]["request_id"], std::string((*response)["X-Request-Id"]));
    if (!field.empty()) {
      EXPECT_EQ(json["error"]["field"], field) << response->body();
    }
  }

  // Proves nothing was stored by the rejected requests: one good message goes through the same
  // queue and worker behind them, and afterwards exactly `expected` messages are stored.
  void ExpectOnlyTheControlMessageStored(std::uint64_t expected = 1) {
    auto client = Proxy(DemoTls());
    auto ok = client.Send(Post("/api/v1/messages", kValidMessage));
    ASSERT_TRUE(ok);
    ASSERT_EQ(ok->result_int(), 202u) << ok->body();
    ASSERT_TRUE(WaitStored(expected)) << "stored: " << StoredTotal();
    // The worker has drained the queue; give any stray message a chance to show up.
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(StoredTotal(), expected);
  }
};

TEST_F(ProxyApiTest, AcceptedMessageIsStoredEncryptedAndReadableByAdmin) {
  auto client = Proxy(DemoTls());
  auto response = client.Send(Post(
      "/api/v1/messages",
      R"({"sender_number":"+4915112345678","message_body":"Grüße, secret body 42","metadata":{"ref":"T-1"}})"));
  ASSERT_TRUE(response) << response.error().message;
  ASSERT_EQ(response->result_int(), 202u) << response->body();
  auto accepted = Json(*response);
  EXPECT_EQ(accepted["status"], "queued");
  EXPECT_EQ(accepted["client_id"], "demo");
  ASSERT_TRUE(MessageId::Parse(accepted["message_id"].get<std::string>()));
  EXPECT_TRUE(ParseTimestamp(accepted["queued_at"].get<std::string>()));
  const std::string id = accepted["message_id"];

  auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
  nlohmann::json stored;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = admin.Get("/api/v1/messages/" + id);
        if (!r || r->result_int() != 200) return false;
        stored = Json(*r);
        return true;
      },
      20s));
  EXPECT_EQ(stored["status"], "delivered");
  EXPECT_EQ(stored["message_body"], "Grüße, secret body 42");
  EXPECT_EQ(stored["metadata"]["ref"], "T-1");
  EXPECT_EQ(stored["sender_number_masked"], "+4915****5678");
  EXPECT_EQ(stored["client_id"], "demo");
  EXPECT_EQ(stored["attempts"], 1);
  EXPECT_TRUE(stored["delivered_at"].is_string());
  EXPECT_EQ(stored["queued_at"], accepted["queued_at"]);

  // At rest: neither the body nor the number appears in the database row or the queue files.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(layout_.database().c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT * FROM messages WHERE id = ?", -1, &stmt, nullptr),
            SQLITE_OK);
  sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  std::string row;
  for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
    const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt, c));
    row.append(bytes ? bytes : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, c)));
    row.push_back('|');
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(row.find("secret body"), std::string::npos);
  EXPECT_EQ(row.find("4915112345678"), std::string::npos);
  EXPECT_NE(row.find("+4915****5678"), std::string::npos);

  for (const auto& entry : std::filesystem::recursive_directory_iterator(layout_.queue_dir())) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    EXPECT_EQ(content.str().find("secret body"), std::string::npos) << entry.path();
    EXPECT_EQ(content.str().find("4915112345678"), std::string::npos) << entry.path();
  }
}

TEST_F(ProxyApiTest, KeepAliveConnectionCarriesManyMessages) {
  auto client = Proxy(DemoTls());
  for (int i = 0; i < 50; ++i) {
    auto r = client.Send(Post("/api/v1/messages", kValidMessage));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->result_int(), 202u);
  }
  EXPECT_TRUE(WaitStored(50));
}

TEST_F(ProxyApiTest, NoClientCertificateIs401) {
  auto client = Proxy(NoCertTls());
  ExpectRejected(client, kValidMessage, 401, "CLIENT_CERTIFICATE_REQUIRED");
  ExpectOnlyTheControlMessageStored();
}

TEST_F(ProxyApiTest, CertificateFromAnotherCaIsRefusedInTheHandshake) {
  auto other =
      pki::CertificateAuthority::Create({.common_name = "evil CA"}, SystemClock::Instance());
  ASSERT_TRUE(other);
  auto issued = other->IssueClient({*ClientId::Parse("demo"), "demo.local"});
  ASSERT_TRUE(issued);
  auto client = Proxy(WriteCert("foreign", *issued));
  auto response = client.Send(Post("/api/v1/messages", kValidMessage));
  EXPECT_FALSE(response) << "a foreign certificate must not get an HTTP answer";
  ExpectOnlyTheControlMessageStored();
}

TEST_F(ProxyApiTest, UnregisteredCertificateIs401UnknownClient) {
  auto ca = LoadCa();
  auto issued =
      ca.IssueClient({*ClientId::Parse("demo"), "demo.local"});  // same CN, not registered
  ASSERT_TRUE(issued);
  auto client = Proxy(WriteCert("unregistered", *issued));
  ExpectRejected(client, kValidMessage, 401, "UNKNOWN_CLIENT");
  ExpectOnlyTheControlMessageStored();
}

TEST_F(ProxyApiTest, ServiceCertificateIsNotAClient) {
  auto client = Proxy(ServiceTls(pki::ServiceRole::kWorker));
  ExpectRejected(client, kValidMessage, 401, "UNKNOWN_CLIENT");
}

TEST_F(ProxyApiTest, SuspendedAndRevokedClientsAre403) {
  auto db = Database();
  auto client = Proxy(DemoTls());
  // Until the proxy's registry snapshot refreshes, messages are still accepted; count them.
  std::uint64_t accepted_before_refresh = 0;
  ASSERT_TRUE(
      db->clients()->SetClientStatus(*ClientId::Parse("demo"), storage::ClientStatus::kSuspended));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = client.Send(Post("/api/v1/messages", kValidMessage));
        if (r && r->result_int() == 202) ++accepted_before_refresh;
        return r && r->result_int() == 403;
      },
      5s));
  ExpectRejected(client, kValidMessage, 403, "CLIENT_SUSPENDED");
  ASSERT_TRUE(
      db->clients()->SetClientStatus(*ClientId::Parse("demo"), storage::ClientStatus::kRevoked));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = client.Send(Post("/api/v1/messages", kValidMessage));
        return r && Json(*r)["error"]["code"] == "CLIENT_REVOKED";
      },
      5s));
  ExpectRejected(client, kValidMessage, 403, "CLIENT_REVOKED");
  // Only what was accepted before the suspension reached the proxy is stored; nothing after.
  ASSERT_TRUE(WaitStored(accepted_before_refresh));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(StoredTotal(), accepted_before_refresh);
}

TEST_F(ProxyApiTest, ValidationErrorsNameTheFieldAndStoreNothing) {
  auto c = Proxy(DemoTls());
  ExpectRejected(c, "{not json", 400, "INVALID_JSON");
  ExpectRejected(c, "[1,2]", 400, "INVALID_JSON");
  ExpectRejected(c, "", 400, "INVALID_JSON");
  ExpectRejected(c, R"({"message_body":"hi"})", 400, "INVALID_SENDER_NUMBER", "sender_number");
  ExpectRejected(c, R"({"sender_number":"0151123","message_body":"hi"})", 400,
                 "INVALID_SENDER_NUMBER", "sender_number");
  ExpectRejected(c, R"({"sender_number":"+0151123","message_body":"hi"})", 400,
                 "INVALID_SENDER_NUMBER", "sender_number");
  ExpectRejected(c, R"({"sender_number":"+1234567890123456","message_body":"hi"})", 400,
                 "INVALID_SENDER_NUMBER", "sender_number");
  ExpectRejected(c, R"({"sender_number":4915112345678,"message_body":"hi"})", 400,
                 "INVALID_SENDER_NUMBER", "sender_number");
  ExpectRejected(c, R"({"sender_number":"+4915112345678"})", 400, "INVALID_MESSAGE_BODY",
                 "message_body");
  ExpectRejected(c, R"({"sender_number":"+4915112345678","message_body":""})", 400,
                 "INVALID_MESSAGE_BODY", "message_body");
  ExpectRejected(c, R"({"sender_number":"+4915112345678","message_body":"  \t\n "})", 400,
                 "INVALID_MESSAGE_BODY", "message_body");
  ExpectRejected(
      c,
      nlohmann::json{{"sender_number", "+4915112345678"}, {"message_body", std::string(1001, 'x')}}
          .dump(),
      400, "INVALID_MESSAGE_BODY", "message_body");
  ExpectRejected(c, "{\"sender_number\":\"+4915112345678\",\"message_body\":\"bad \xC3\x28\"}", 400,
                 "INVALID_JSON");
  ExpectRejected(c, R"({"sender_number":"+4915112345678","message_body":"a\u0000b"})", 400,
                 "INVALID_MESSAGE_BODY", "message_body");
  ExpectRejected(c, R"({"sender_number":"+4915112345678","message_body":"hi","metadata":[]})", 400,
                 "INVALID_METADATA", "metadata");
  ExpectRejected(c, kValidMessage, 415, "UNSUPPORTED_MEDIA_TYPE", {}, "text/plain");
  ExpectOnlyTheControlMessageStored();
}

TEST_F(ProxyApiTest, OversizedBodyIs413) {
  auto c = Proxy(DemoTls());
  nlohmann::json big = {{"sender_number", "+4915112345678"},
                        {"message_body", "x"},
                        {"metadata", {{"pad", std::string(70 * 1024, 'p')}}}};
  ExpectRejected(c, big.dump(), 413, "PAYLOAD_TOO_LARGE");
  ExpectOnlyTheControlMessageStored();
}

TEST_F(ProxyApiTest, BodyOverTheBatchLimitIs413AtTheHttpLayer) {
  auto c = Proxy(DemoTls());
  const std::string huge(api::kMaxBatchBodyBytes + 1, ' ');
  auto r = c.Send(Post("/api/v1/messages/batch", huge));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->result_int(), 413u);
  EXPECT_EQ(Json(*r)["error"]["code"], "PAYLOAD_TOO_LARGE");
  ExpectOnlyTheControlMessageStored();
}

nlohmann::json BatchOf(const std::vector<nlohmann::json>& items) {
  nlohmann::json doc = {{"messages", nlohmann::json::array()}};
  for (const auto& item : items) doc["messages"].push_back(item);
  return doc;
}

nlohmann::json Item(const std::string& body) {
  return {{"sender_number", "+4915112345678"}, {"message_body", body}};
}

TEST_F(ProxyApiTest, BatchOfValidMessagesIs202AndEveryOneIsStored) {
  auto c = Proxy(DemoTls());
  auto r = c.Send(
      Post("/api/v1/messages/batch",
           BatchOf(std::vector<nlohmann::json>{Item("one"), Item("two"), Item("three")}).dump()));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->result_int(), 202u) << r->body();
  auto doc = Json(*r);
  EXPECT_EQ(doc["queued"], 3);
  EXPECT_EQ(doc["rejected"], 0);
  EXPECT_EQ(doc["client_id"], "demo");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(doc["results"][i]["index"], i);
    EXPECT_EQ(doc["results"][i]["status"], "queued");
    ids.insert(doc["results"][i]["message_id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 3u);
  ASSERT_TRUE(WaitStored(3));
  auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
  auto stored = admin.Get("/api/v1/messages/" + doc["results"][1]["message_id"].get<std::string>());
  ASSERT_TRUE(stored);
  EXPECT_EQ(Json(*stored)["message_body"], "two");
}

TEST_F(ProxyApiTest, MixedBatchIs207AndOnlyValidItemsAreStored) {
  auto c = Proxy(DemoTls());
  auto r = c.Send(Post("/api/v1/messages/batch",
                       BatchOf(std::vector<nlohmann::json>{
                                   Item("good"),
                                   {{"sender_number", "0151"}, {"message_body", "bad number"}},
                                   Item(""),
                                   "not an object",
                                   Item("also good")})
                           .dump()));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->result_int(), 207u) << r->body();
  auto doc = Json(*r);
  EXPECT_EQ(doc["queued"], 2);
  EXPECT_EQ(doc["rejected"], 3);
  EXPECT_EQ(doc["results"][0]["status"], "queued");
  EXPECT_EQ(doc["results"][1]["status"], "rejected");
  EXPECT_EQ(doc["results"][1]["error"]["code"], "INVALID_SENDER_NUMBER");
  EXPECT_EQ(doc["results"][1]["error"]["field"], "sender_number");
  EXPECT_EQ(doc["results"][2]["error"]["code"], "INVALID_MESSAGE_BODY");
  EXPECT_EQ(doc["results"][3]["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(doc["results"][4]["status"], "queued");
  ExpectOnlyTheControlMessageStored(3);
}

TEST_F(ProxyApiTest, BatchEnvelopeErrorsStoreNothing) {
  auto c = Proxy(DemoTls());
  ExpectRejected(c, "{}", 400, "INVALID_REQUEST", "messages", "application/json", "/batch");
  ExpectRejected(c, R"({"messages":[]})", 400, "INVALID_REQUEST", "messages", "application/json",
                 "/batch");
  nlohmann::json too_many = {{"messages", nlohmann::json::array()}};
  for (std::size_t i = 0; i <= api::kMaxBatchMessages; ++i)
    too_many["messages"].push_back(Item("x"));
  ExpectRejected(c, too_many.dump(), 400, "INVALID_REQUEST", "messages", "application/json",
                 "/batch");
  ExpectRejected(c, "{not json", 400, "INVALID_JSON", {}, "application/json", "/batch");
  ExpectRejected(c, BatchOf(std::vector<nlohmann::json>{Item("x")}).dump(), 415,
                 "UNSUPPORTED_MEDIA_TYPE", {}, "text/plain", "/batch");
  auto anonymous = Proxy(NoCertTls());
  ExpectRejected(anonymous, BatchOf(std::vector<nlohmann::json>{Item("x")}).dump(), 401,
                 "CLIENT_CERTIFICATE_REQUIRED", {}, "application/json", "/batch");
  ExpectOnlyTheControlMessageStored();
}

TEST_F(ProxyApiTest, ThousandCharacterBodyIsAccepted) {
  std::string body;
  for (int i = 0; i < 1000; ++i) body += "\xE2\x9C\x93";  // ✓, 3 bytes each
  auto c = Proxy(DemoTls());
  auto r = c.Send(Post("/api/v1/messages",
                       nlohmann::json{{"sender_number", "+12"}, {"message_body", body}}.dump()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 202u) << r->body();
  EXPECT_TRUE(WaitStored(1));
}

TEST_F(ProxyApiTest, IdentityCannotBeSpoofedByHeadersQueryOrBody) {
  auto c = Proxy(DemoTls());
  auto req = Post("/api/v1/messages?client_id=victim",
                  R"({"sender_number":"+4915112345678","message_body":"x","client_id":"victim"})");
  req.set("X-Client-ID", "victim");
  req.set("X-Client-Cert-CN", "victim");
  auto r = c.Send(std::move(req));
  ASSERT_TRUE(r);
  // The query string does not match the route exactly, so the router decides; either way the
  // message, if accepted, belongs to the certificate's client.
  if (r->result_int() == 202) {
    EXPECT_EQ(Json(*r)["client_id"], "demo");
    ASSERT_TRUE(WaitStored(1));
    EXPECT_EQ(StoredTotal("&client_id=victim"), 0u);
    EXPECT_EQ(StoredTotal("&client_id=demo"), 1u);
  } else {
    EXPECT_EQ(r->result_int(), 404u);
  }
}

TEST_F(ProxyApiTest, HealthAndMetricsEndpoints) {
  auto c = Proxy(DemoTls());
  ASSERT_EQ(c.Send(Post("/api/v1/messages", kValidMessage))->result_int(), 202u);
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->result_int(), 200u);
  auto h = Json(*health);
  EXPECT_EQ(h["status"], "healthy");
  EXPECT_TRUE(h["checks"].contains("queue"));
  EXPECT_TRUE(h.contains("uptime_seconds"));
  EXPECT_EQ(c.Get("/healthz")->result_int(), 200u);
  EXPECT_EQ(c.Get("/readyz")->result_int(), 200u);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body().find("proxy_messages_accepted_total 1"), std::string::npos)
      << metrics->body();
  EXPECT_NE(metrics->body().find("http_request_duration_seconds_bucket"), std::string::npos);
}

// Per-client rate limit: 5 messages per second, burst 3.
class RateLimitedProxyTest : public ProxyApiTest {
 protected:
  void Configure(cli::EmbeddedOptions& options) override { options.rate_limit = {5, 3}; }
};

// The burst goes through with RateLimit headers, the next message is refused with 429,
// RATE_LIMITED, Retry-After and the same headers, and nothing refused is stored; a batch counts
// every item; another client is not affected.
TEST_F(RateLimitedProxyTest, OverTheLimitIs429WithRetryAfterAndNothingStored) {
  auto client = Proxy(DemoTls());
  for (int i = 0; i < 3; ++i) {
    auto ok = client.Send(Post("/api/v1/messages", kValidMessage));
    ASSERT_TRUE(ok) << ok.error().message;
    ASSERT_EQ(ok->result_int(), 202u) << i << ": " << ok->body();
    EXPECT_EQ(std::string((*ok)["RateLimit-Policy"]), "\"messages\";q=3;w=1");
    EXPECT_EQ(std::string((*ok)["RateLimit"]).rfind("\"messages\";r=" + std::to_string(2 - i), 0),
              0u)
        << (*ok)["RateLimit"];
  }
  auto limited = client.Send(Post("/api/v1/messages", kValidMessage));
  ASSERT_TRUE(limited) << limited.error().message;
  EXPECT_EQ(limited->result_int(), 429u) << limited->body();
  EXPECT_EQ(Json(*limited)["error"]["code"], "RATE_LIMITED");
  EXPECT_EQ(std::string((*limited)[net::http::field::retry_after]), "1");
  EXPECT_EQ(std::string((*limited)["RateLimit"]).rfind("\"messages\";r=0;", 0), 0u);

  // A batch of 3 is refused as a whole while the bucket is empty.
  const std::string batch = R"({"messages":[)" + std::string(kValidMessage) + "," +
                            std::string(kValidMessage) + "," + std::string(kValidMessage) + "]}";
  auto refused_batch = client.Send(Post("/api/v1/messages/batch", batch));
  ASSERT_TRUE(refused_batch);
  EXPECT_EQ(refused_batch->result_int(), 429u) << refused_batch->body();

  ASSERT_TRUE(WaitStored(3));
  // Once the bucket refilled (3 tokens at 5/s: 0.6 s), the batch goes through.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = client.Send(Post("/api/v1/messages/batch", batch));
        return r && r->result_int() == 202u;
      },
      std::chrono::seconds{5}, std::chrono::milliseconds{200}));
  EXPECT_TRUE(WaitStored(6));
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  EXPECT_EQ(StoredTotal(), 6u) << "a refused request was stored";
}

// A client's own limit from the registry replaces the configured one at the next registry
// refresh: the headers and the 429 follow it; unlimited drops the headers; --default restores
// the configured limit.
TEST_F(RateLimitedProxyTest, AClientsOwnLimitReplacesTheDefault) {
  auto db = Database();
  auto client = Proxy(DemoTls());
  const auto demo = *ClientId::Parse("demo");
  auto policy = [&] {
    auto r = client.Send(Post("/api/v1/messages", kValidMessage));
    return r ? std::string((*r)["RateLimit-Policy"]) + "|" + std::to_string(r->result_int())
             : std::string("error");
  };
  ASSERT_TRUE(db->clients()->SetClientRateLimit(demo, storage::ClientRateLimit{1, 50}));
  ASSERT_TRUE(WaitFor([&] { return policy().starts_with("\"messages\";q=50;w=50|"); }, 5s));

  ASSERT_TRUE(db->clients()->SetClientRateLimit(demo, storage::ClientRateLimit{0, 0}));
  ASSERT_TRUE(WaitFor([&] { return policy() == "|202"; }, 5s));
  for (int i = 0; i < 20; ++i) {
    auto r = client.Send(Post("/api/v1/messages", kValidMessage));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->result_int(), 202u) << i << ": unlimited, yet " << r->body();
    EXPECT_EQ(std::string((*r)["RateLimit"]), "");
  }

  ASSERT_TRUE(db->clients()->SetClientRateLimit(demo, std::nullopt));
  std::string last;
  ASSERT_TRUE(WaitFor(
      [&] {
        last = policy();
        return last.starts_with("\"messages\";q=3;w=1|");
      },
      5s))
      << last;
  // The configured burst of 3 applies again: a 429 follows soon.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = client.Send(Post("/api/v1/messages", kValidMessage));
        return r && r->result_int() == 429u && Json(*r)["error"]["code"] == "RATE_LIMITED";
      },
      5s, std::chrono::milliseconds{1}));
}

}  // namespace
}  // namespace msgbroker::testing
