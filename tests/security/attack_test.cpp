// The attack suite: the whole embedded system in-process with real mutual TLS, attacked the way a
// hostile client (or a stolen service key) would. Every case states its expected outcome and
// checks that nothing the attacker sent was stored: after the attack, one good message goes
// through the same proxy, queue and worker, and afterwards exactly that one is stored.
// The table of cases is in docs/SECURITY.md, "Attack suite".

#include <cstdio>
#include <set>
#include <thread>

#include "attack_support.hpp"
#include "msgbroker/api/contract.hpp"
#include "msgbroker/api/delivery.hpp"
#include "msgbroker/api/queue_envelope.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "system_fixture.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

class AttackTest : public SystemFixture {
 protected:
  // Checks the error envelope of a refusal.
  static void ExpectError(const Result<net::HttpResponse>& response, unsigned status,
                          std::string_view code, std::string_view field = {}) {
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->result_int(), status) << response->body();
    auto json = Json(*response);
    ASSERT_TRUE(json.contains("error")) << response->body();
    EXPECT_EQ(json["error"]["code"], code) << response->body();
    if (!field.empty()) {
      EXPECT_EQ(json["error"]["field"], field) << response->body();
    }
  }
  static void ExpectError(const std::optional<RawHttpResponse>& response, unsigned status,
                          std::string_view code) {
    ASSERT_TRUE(response) << "no response";
    EXPECT_EQ(response->status, status) << response->body;
    auto json = nlohmann::json::parse(response->body, nullptr, false);
    EXPECT_EQ(json["error"]["code"], code) << response->body;
  }

  // Proves that nothing was stored by the attacks before it: one good message goes through the
  // same queue and worker, and afterwards exactly `expected` messages are stored.
  void ExpectOnlyTheControlMessageStored(std::uint64_t expected = 1) {
    auto client = Proxy(DemoTls());
    auto ok = client.Send(Post("/api/v1/messages", kValidMessage));
    ASSERT_TRUE(ok) << ok.error().message;
    ASSERT_EQ(ok->result_int(), 202u) << ok->body();
    ASSERT_TRUE(WaitStored(expected)) << "stored: " << StoredTotal();
    // The worker has drained the queue up to the control message, which was enqueued last; give
    // any stray message a moment to show up anyway.
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(StoredTotal(), expected);
  }

  // Adds `issued` to the registry as a certificate of `client` (created with `status` if new).
  void Register(const std::string& client, const pki::IssuedCertificate& issued,
                storage::ClientStatus status = storage::ClientStatus::kActive,
                storage::CertificateStatus cert_status = storage::CertificateStatus::kActive) {
    auto db = Database();
    const auto id = *ClientId::Parse(client);
    auto existing = db->clients()->GetClient(id);
    ASSERT_TRUE(existing);
    if (!*existing) {
      ASSERT_TRUE(db->clients()->CreateClient(
          {id, client + ".example", status, SystemClock::Instance().Now()}));
    }
    ASSERT_TRUE(db->clients()->AddCertificate(
        {issued.info.fingerprint_sha256, id, issued.info.serial_hex, issued.info.not_before,
         issued.info.not_after, cert_status, SystemClock::Instance().Now()}));
  }

  // Waits until the proxy's registry snapshot holds everything registered so far: a fresh probe
  // client, registered suspended, is recognised (403, never 202, so nothing is stored).
  void AwaitRegistryRefresh() {
    const std::string probe = "probe" + std::to_string(++probes_);
    auto issued = LoadCa().IssueClient({*ClientId::Parse(probe), "probe.example"});
    ASSERT_TRUE(issued);
    Register(probe, *issued, storage::ClientStatus::kSuspended);
    auto client = Proxy(WriteCert(probe, *issued));
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = client.Send(Post("/api/v1/messages", kValidMessage));
          return r && r->result_int() == 403;
        },
        10s));
  }

  // A certificate file pair for `issued` presented over a raw TLS connection.
  RawTlsOptions RawWith(const net::TlsClientConfig& tls) const {
    return {tls.ca_file, tls.cert_file, tls.key_file};
  }
  RawTlsConnection RawProxy(const net::TlsClientConfig& tls) const {
    return RawTlsConnection(system_->ports().proxy, RawWith(tls));
  }
  RawTlsConnection RawMainServer(const net::TlsClientConfig& tls) const {
    return RawTlsConnection(system_->ports().main_server, RawWith(tls));
  }

  // A message in the admin API, or null when it is not (yet) there.
  nlohmann::json StoredMessage(const std::string& id) {
    auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
    auto r = admin.Get("/api/v1/messages/" + id);
    if (!r || r->result_int() != 200) return nullptr;
    return Json(*r);
  }
  nlohmann::json WaitStoredMessage(const std::string& id) {
    nlohmann::json stored;
    EXPECT_TRUE(WaitFor(
        [&] {
          stored = StoredMessage(id);
          return !stored.is_null();
        },
        20s))
        << id;
    return stored;
  }

  int probes_ = 0;
};

std::string MessageJson(const std::string& body) {
  return nlohmann::json{{"sender_number", "+4915112345678"}, {"message_body", body}}.dump();
}

// ---------------------------------------------------------------------------------------------
// Certificates

// No client certificate: the handshake succeeds (so the client gets a JSON answer), the request
// is refused with 401 CLIENT_CERTIFICATE_REQUIRED on both routes; nothing is stored.
TEST_F(AttackTest, NoClientCertificateIs401) {
  auto client = Proxy(NoCertTls());
  ExpectError(client.Send(Post("/api/v1/messages", kValidMessage)), 401,
              "CLIENT_CERTIFICATE_REQUIRED");
  ExpectError(client.Send(Post("/api/v1/messages/batch",
                               R"({"messages":[)" + std::string(kValidMessage) + "]}")),
              401, "CLIENT_CERTIFICATE_REQUIRED");
  ExpectOnlyTheControlMessageStored();
}

// Certificates that do not chain to our CA, or that our CA's trust does not cover, fail the TLS
// handshake: no HTTP answer at all. Each one names the registered client "demo" and is registered
// under its fingerprint, so that only the TLS verification stands between it and a 202.
TEST_F(AttackTest, UntrustedCertificatesFailTheHandshake) {
  const auto ca_cert = layout_.ca_cert();
  const auto ca_key = layout_.ca_key();
  struct Case {
    std::string name;
    Result<pki::IssuedCertificate> issued;
  };
  // Another CA with exactly our CA's name: only the signature differs.
  auto other = pki::CertificateAuthority::Create({}, SystemClock::Instance());
  ASSERT_TRUE(other);
  std::vector<Case> cases;
  cases.push_back({"self-signed", IssueRogue({})});
  cases.push_back({"another CA", other->IssueClient({*ClientId::Parse("demo"), "demo.local"})});
  cases.push_back({"expired", IssueRogue({.not_before = -48h, .not_after = -1h}, ca_cert, ca_key)});
  cases.push_back(
      {"not yet valid", IssueRogue({.not_before = 1h, .not_after = 48h}, ca_cert, ca_key)});
  cases.push_back(
      {"EKU serverAuth only", IssueRogue({.extended_key_usage = {"serverAuth"}}, ca_cert, ca_key)});
  cases.push_back(
      {"EKU without clientAuth",
       IssueRogue({.extended_key_usage = {"emailProtection", "codeSigning"}}, ca_cert, ca_key)});
  for (auto& c : cases) {
    ASSERT_TRUE(c.issued) << c.name << ": " << c.issued.error().message;
    Register("demo", *c.issued);
  }
  AwaitRegistryRefresh();
  for (auto& c : cases) {
    auto client = Proxy(WriteCert("rogue", *c.issued));
    auto response = client.Send(Post("/api/v1/messages", kValidMessage));
    EXPECT_FALSE(response) << c.name << ": got HTTP " << response->result_int() << " "
                           << response->body();
    // The main server applies the same verification.
    auto main = MainServer(WriteCert("rogue", *c.issued));
    auto listed = main.Get("/api/v1/messages");
    EXPECT_FALSE(listed) << c.name << ": main server answered HTTP " << listed->result_int();
  }
  // The control: the same code path with a certificate from our CA is accepted.
  auto good = IssueRogue({}, ca_cert, ca_key);
  ASSERT_TRUE(good);
  Register("demo", *good);
  AwaitRegistryRefresh();
  auto control = Proxy(WriteCert("good", *good));
  auto accepted = control.Send(Post("/api/v1/messages", kValidMessage));
  ASSERT_TRUE(accepted) << accepted.error().message;
  EXPECT_EQ(accepted->result_int(), 202u) << accepted->body();
  ExpectOnlyTheControlMessageStored(2);
}

// A certificate from our CA without any extended key usage extension (by RFC 5280 good for any
// purpose; our CA always sets clientAuth on client certificates, docs/adr/0003) is not a client
// certificate: even registered to an active client, it must not submit (no 202; a failed
// handshake or 401). One naming "victim" in CN and URI SAN, unregistered, is 401 UNKNOWN_CLIENT or
// fails the handshake: the identity comes from the registry, never from the certificate's names.
TEST_F(AttackTest, CertificateWithoutClientAuthUsageIsNotAClient) {
  auto registered = IssueRogue({.extended_key_usage = {}}, layout_.ca_cert(), layout_.ca_key());
  auto named = IssueRogue(
      {.common_name = "victim", .uri_san = "urn:msgbroker:client:victim", .extended_key_usage = {}},
      layout_.ca_cert(), layout_.ca_key());
  ASSERT_TRUE(registered && named);
  auto victim = LoadCa().IssueClient({*ClientId::Parse("victim"), "victim.example"});
  ASSERT_TRUE(victim);
  Register("victim", *victim);
  Register("demo", *registered);
  AwaitRegistryRefresh();
  for (auto [name, issued] : {std::pair{"registered", &*registered}, std::pair{"named", &*named}}) {
    SCOPED_TRACE(name);
    auto client = Proxy(WriteCert(name, *issued));
    auto r = client.Send(Post("/api/v1/messages", kValidMessage));
    if (r) {
      EXPECT_EQ(r->result_int(), 401u) << r->body();
    }
  }
  ExpectOnlyTheControlMessageStored();
}

// Revoked certificate of an active client: 403 CLIENT_REVOKED. Revoked client and suspended
// client (with active certificates): 403 CLIENT_REVOKED / CLIENT_SUSPENDED. They are registered in
// that state from the start, so no request of theirs can ever have been accepted.
TEST_F(AttackTest, RevokedAndSuspendedIdentitiesAre403) {
  auto ca = LoadCa();
  auto revoked_cert = ca.IssueClient({*ClientId::Parse("demo"), "demo.local"});
  auto revoked_client = ca.IssueClient({*ClientId::Parse("gone"), "gone.example"});
  auto suspended_client = ca.IssueClient({*ClientId::Parse("paused"), "paused.example"});
  ASSERT_TRUE(revoked_cert && revoked_client && suspended_client);
  Register("demo", *revoked_cert, storage::ClientStatus::kActive,
           storage::CertificateStatus::kRevoked);
  Register("gone", *revoked_client, storage::ClientStatus::kRevoked);
  Register("paused", *suspended_client, storage::ClientStatus::kSuspended);
  AwaitRegistryRefresh();

  for (auto [name, issued, code] :
       {std::tuple{"revoked-cert", &*revoked_cert, "CLIENT_REVOKED"},
        std::tuple{"revoked-client", &*revoked_client, "CLIENT_REVOKED"},
        std::tuple{"suspended-client", &*suspended_client, "CLIENT_SUSPENDED"}}) {
    SCOPED_TRACE(name);
    auto client = Proxy(WriteCert(name, *issued));
    ExpectError(client.Send(Post("/api/v1/messages", kValidMessage)), 403, code);
    ExpectError(client.Send(Post("/api/v1/messages/batch",
                                 R"({"messages":[)" + std::string(kValidMessage) + "]}")),
                403, code);
  }
  ExpectOnlyTheControlMessageStored();
}

// Service certificates (proxy, worker, main-server, admin) are from the same CA but are not
// clients: 401 UNKNOWN_CLIENT on the proxy; nothing stored.
TEST_F(AttackTest, ServiceCertificatesAreNotClientsOnTheProxy) {
  for (auto role : {pki::ServiceRole::kProxy, pki::ServiceRole::kWorker,
                    pki::ServiceRole::kMainServer, pki::ServiceRole::kAdmin}) {
    SCOPED_TRACE(std::string(pki::RoleName(role)));
    auto client = Proxy(ServiceTls(role));
    ExpectError(client.Send(Post("/api/v1/messages", kValidMessage)), 401, "UNKNOWN_CLIENT");
  }
  ExpectOnlyTheControlMessageStored();
}

// A client certificate on the main server: the internal delivery endpoint is 403 FORBIDDEN even
// with a perfectly sealed delivery item, and the admin read API is 403 FORBIDDEN too; a proxy
// certificate is no worker either. Nothing is stored.
TEST_F(AttackTest, ClientCertificateCannotReachTheMainServer) {
  auto sealer = crypto::EnvelopeSealer::LoadPublicKeyFile(layout_.envelope_public_key());
  ASSERT_TRUE(sealer);
  const auto id = MessageId::Generate(SystemClock::Instance().Now());
  const auto demo = *ClientId::Parse("demo");
  auto sealed = (*sealer)->Seal(api::EncodeContent({"+4915112345678", "forged", nullptr}),
                                api::EnvelopeAssociatedData(id, demo));
  ASSERT_TRUE(sealed);
  const std::string delivery = api::EncodeDeliveryRequest(
      {{id, 1, api::EncodeQueuePayload({demo, SystemClock::Instance().Now(), *sealed}),
        std::nullopt}});
  for (auto role : {std::optional<pki::ServiceRole>{}, std::optional{pki::ServiceRole::kProxy},
                    std::optional{pki::ServiceRole::kAdmin}}) {
    auto client = MainServer(role ? ServiceTls(*role) : DemoTls());
    ExpectError(client.Send(Post("/internal/v1/deliveries", delivery)), 403, "FORBIDDEN");
  }
  auto client = MainServer(DemoTls());
  ExpectError(client.Get("/api/v1/messages"), 403, "FORBIDDEN");
  ExpectError(client.Get("/api/v1/messages/" + id.str()), 403, "FORBIDDEN");
  auto worker = MainServer(ServiceTls(pki::ServiceRole::kWorker));
  ExpectError(worker.Get("/api/v1/messages"), 403, "FORBIDDEN");
  EXPECT_TRUE(StoredMessage(id.str()).is_null());
  ExpectOnlyTheControlMessageStored();
}

// TLS 1.0 and 1.1 are refused in the handshake by both servers; TLS 1.2 and 1.3 (the controls)
// are accepted.
TEST_F(AttackTest, OldTlsVersionsFailTheHandshake) {
  for (auto port : {system_->ports().proxy, system_->ports().main_server}) {
    for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
      RawTlsConnection old(port, {layout_.ca_cert(), {}, {}, version, version});
      EXPECT_FALSE(old.handshake_ok()) << "port " << port << " accepted version " << version;
    }
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
      RawTlsConnection current(port, {layout_.ca_cert(), {}, {}, version, version});
      EXPECT_TRUE(current.handshake_ok()) << port << " " << version << ": " << current.error();
      EXPECT_EQ(current.version(), version);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Identity spoofing

// Headers a reverse proxy might use to pass on a client identity, a client_id query parameter and
// client_id/clientId body fields all name another registered client ("victim"): every message is
// accepted and stored as the certificate's client, "demo"; nothing is stored for "victim".
TEST_F(AttackTest, IdentityCannotBeSpoofed) {
  auto victim = LoadCa().IssueClient({*ClientId::Parse("victim"), "victim.example"});
  ASSERT_TRUE(victim);
  Register("victim", *victim);
  AwaitRegistryRefresh();

  auto spoof = [](net::HttpRequest request) {
    request.set("X-Client-Cert-CN", "victim");
    request.set("X-Client-ID", "victim");
    request.set("X-Forwarded-Client-Cert",
                "Hash=00;Subject=\"CN=victim\";URI=urn:msgbroker:client:victim");
    request.set("X-SSL-Client-S-DN", "CN=victim");
    return request;
  };
  const std::string body =
      R"({"sender_number":"+4915112345678","message_body":"spoof","client_id":"victim",)"
      R"("clientId":"victim","client":"victim"})";
  auto client = Proxy(DemoTls());
  std::vector<std::string> ids;
  for (const std::string target : {"/api/v1/messages", "/api/v1/messages?client_id=victim",
                                   "/api/v1/messages?clientId=victim&client_id=victim"}) {
    auto r = client.Send(spoof(Post(target, body)));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->result_int(), 202u) << target << ": " << r->body();
    EXPECT_EQ(Json(*r)["client_id"], "demo");
    ids.push_back(Json(*r)["message_id"]);
  }
  auto batch = client.Send(spoof(Post("/api/v1/messages/batch?client_id=victim",
                                      R"({"client_id":"victim","messages":[)" + body + "]}")));
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->result_int(), 202u) << batch->body();
  EXPECT_EQ(Json(*batch)["client_id"], "demo");
  ids.push_back(Json(*batch)["results"][0]["message_id"]);

  for (const auto& id : ids) {
    auto stored = WaitStoredMessage(id);
    EXPECT_EQ(stored["client_id"], "demo") << stored.dump();
    EXPECT_EQ(stored["message_body"], "spoof");
  }
  EXPECT_EQ(StoredTotal("&client_id=victim"), 0u);
  EXPECT_EQ(StoredTotal("&client_id=demo"), ids.size());
}

// ---------------------------------------------------------------------------------------------
// Size and time limits

std::string RawRequest(std::string_view method, std::string_view target,
                       const std::vector<std::string>& headers, std::string_view body = {}) {
  std::string text = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  text += "Host: 127.0.0.1\r\n";
  for (const auto& h : headers) text += h + "\r\n";
  text += "\r\n";
  text += body;
  return text;
}

// Headers over 8 KiB (one huge header, many small ones, a huge request target) are refused with
// 431 HEADERS_TOO_LARGE and the connection is closed, on the proxy and on the main server.
TEST_F(AttackTest, OversizedHeadersAre431OnBothServers) {
  const std::string big(9 * 1024, 'h');
  std::vector<std::string> many;
  for (int i = 0; i < 200; ++i)
    many.push_back("X-Pad-" + std::to_string(i) + ": " + "p" + big.substr(0, 50));
  const std::string body = kValidMessage;
  const std::vector<std::string> json = {"Content-Type: application/json",
                                         "Content-Length: " + std::to_string(body.size())};
  struct Target {
    std::uint16_t port;
    net::TlsClientConfig tls;
    std::string path;
  };
  for (const auto& t : {Target{system_->ports().proxy, DemoTls(), "/api/v1/messages"},
                        Target{system_->ports().proxy, DemoTls(), "/api/v1/messages/batch"},
                        Target{system_->ports().main_server, ServiceTls(pki::ServiceRole::kWorker),
                               "/internal/v1/deliveries"},
                        Target{system_->ports().main_server, ServiceTls(pki::ServiceRole::kAdmin),
                               "/api/v1/messages"}}) {
    SCOPED_TRACE(t.path);
    for (const auto& request :
         {RawRequest("POST", t.path, {json[0], json[1], "X-Big: " + big}, body),
          [&] {
            auto headers = many;
            headers.insert(headers.end(), json.begin(), json.end());
            return RawRequest("POST", t.path, headers, body);
          }(),
          RawRequest("POST", t.path + "?q=" + big, json, body)}) {
      RawTlsConnection c(t.port, RawWith(t.tls));
      ASSERT_TRUE(c.handshake_ok()) << c.error();
      c.Send(request);
      ExpectError(c.ReadResponse(5s), 431, "HEADERS_TOO_LARGE");
      EXPECT_TRUE(c.ReadUntilClosed(5s)) << "the connection stayed open";
    }
  }
  ExpectOnlyTheControlMessageStored();
}

// Bodies over the limits are refused with 413 PAYLOAD_TOO_LARGE: the single-message route over
// 64 KiB, the batch route over 4 MiB, the main server over 16 MiB. A Content-Length over the HTTP
// limit is refused as soon as the headers arrive (the body is never read); a chunked body is
// refused once it grows past the limit.
TEST_F(AttackTest, OversizedBodiesAre413OnBothServers) {
  // Single route: the body is under the HTTP limit, so the route's own limit answers.
  auto client = Proxy(DemoTls());
  nlohmann::json big = {{"sender_number", "+4915112345678"},
                        {"message_body", "x"},
                        {"metadata", {{"pad", std::string(api::kMaxSubmitBodyBytes, 'p')}}}};
  ExpectError(client.Send(Post("/api/v1/messages", big.dump())), 413, "PAYLOAD_TOO_LARGE");

  struct Target {
    std::uint16_t port;
    net::TlsClientConfig tls;
    std::string path;
    std::size_t limit;
  };
  for (const auto& t :
       {Target{system_->ports().proxy, DemoTls(), "/api/v1/messages", api::kMaxBatchBodyBytes},
        Target{system_->ports().proxy, DemoTls(), "/api/v1/messages/batch",
               api::kMaxBatchBodyBytes},
        Target{system_->ports().main_server, ServiceTls(pki::ServiceRole::kWorker),
               "/internal/v1/deliveries", api::kMaxDeliveryRequestBytes}}) {
    SCOPED_TRACE(t.path);
    {
      RawTlsConnection c(t.port, RawWith(t.tls));
      ASSERT_TRUE(c.handshake_ok()) << c.error();
      c.Send(RawRequest(
          "POST", t.path,
          {"Content-Type: application/json", "Content-Length: " + std::to_string(t.limit + 1)}));
      ExpectError(c.ReadResponse(5s), 413, "PAYLOAD_TOO_LARGE");
    }
    {
      // Chunked: no length up front; 64 KiB chunks until the server answers.
      RawTlsConnection c(t.port, RawWith(t.tls));
      ASSERT_TRUE(c.handshake_ok()) << c.error();
      c.Send(RawRequest("POST", t.path,
                        {"Content-Type: application/json", "Transfer-Encoding: chunked"}));
      const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
      std::optional<RawHttpResponse> response;
      for (std::size_t sent = 0; sent <= t.limit + chunk.size() && !response; sent += 0x10000) {
        if (!c.Send(chunk)) break;
        response = c.ReadResponse(0ms);
      }
      if (!response) response = c.ReadResponse(5s);
      ExpectError(response, 413, "PAYLOAD_TOO_LARGE");
    }
  }
  ExpectOnlyTheControlMessageStored();
}

// Slow clients sending one byte per second are cut off by the request timeout (10 s in the
// embedded system, from the first byte of a request): one trickles its headers to the proxy,
// one sends its headers at once and trickles the body to the main server. Neither request is
// answered or stored, and both connections are closed well before they could finish.
TEST_F(AttackTest, SlowClientsAreClosedAfterTheRequestTimeout) {
  const std::string message = kValidMessage;
  const std::string headers_to_trickle = RawRequest(
      "POST", "/api/v1/messages",
      {"Content-Type: application/json", "Content-Length: " + std::to_string(message.size()),
       "X-Pad: " + std::string(100, 'p')},
      message);
  RawTlsConnection proxy = RawProxy(DemoTls());
  RawTlsConnection main = RawMainServer(ServiceTls(pki::ServiceRole::kWorker));
  ASSERT_TRUE(proxy.handshake_ok() && main.handshake_ok());
  ASSERT_TRUE(main.Send(RawRequest("POST", "/internal/v1/deliveries",
                                   {"Content-Type: application/json", "Content-Length: 100"})));
  const auto started = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::duration> proxy_closed, main_closed;
  // 20 s bounds the test; trickled at this pace, the requests would take minutes to complete.
  for (std::size_t i = 0; i < 20 && (!proxy_closed || !main_closed); ++i) {
    // ReadUntilClosed paces the trickle (one byte per connection per second) and notices the
    // close at once.
    if (!proxy_closed) {
      proxy.Send(headers_to_trickle.substr(i, 1));
      if (auto rest = proxy.ReadUntilClosed(500ms)) {
        proxy_closed = std::chrono::steady_clock::now() - started;
        EXPECT_EQ(*rest, "") << "the proxy answered a partial request";
      }
    }
    if (!main_closed) {
      main.Send(" ");
      if (auto rest = main.ReadUntilClosed(500ms)) {
        main_closed = std::chrono::steady_clock::now() - started;
        EXPECT_EQ(*rest, "") << "the main server answered a partial request";
      }
    }
  }
  ASSERT_TRUE(proxy_closed) << "the proxy kept a 1 byte/s client for 20 s";
  ASSERT_TRUE(main_closed) << "the main server kept a 1 byte/s client for 20 s";
  EXPECT_GE(*proxy_closed, 9s);
  EXPECT_GE(*main_closed, 9s);
  ExpectOnlyTheControlMessageStored();
}

// ---------------------------------------------------------------------------------------------
// Hostile JSON

// Malformed, deeply nested and non-UTF-8 documents, NUL bytes and overlong values: 400 with the
// documented code and, for a field's value, the field's name. The servers stay up.
TEST_F(AttackTest, HostileJsonIs400WithCodeAndField) {
  auto c = Proxy(DemoTls());
  struct Case {
    std::string name, body;
    std::string code, field;
  };
  const std::string sender = R"("sender_number":"+4915112345678")";
  const std::vector<Case> cases = {
      {"truncated", "{" + sender + R"(,"message_body":"x")", "INVALID_JSON", ""},
      {"trailing garbage", "{" + sender + R"(,"message_body":"x"} {})", "INVALID_JSON", ""},
      {"single quotes", R"({'sender_number':'+4915112345678','message_body':'x'})", "INVALID_JSON",
       ""},
      {"60k [", std::string(60'000, '['), "INVALID_JSON", ""},
      {"60k [ closed", std::string(30'000, '[') + std::string(30'000, ']'), "INVALID_JSON", ""},
      {"deep metadata",
       "{" + sender + R"(,"message_body":"x","metadata":{"a":)" + std::string(20, '[') +
           std::string(20, ']') + "}}",
       "INVALID_JSON", ""},
      {"invalid UTF-8", "{" + sender + ",\"message_body\":\"bad \xC3\x28\"}", "INVALID_JSON", ""},
      {"overlong UTF-8 '/'", "{" + sender + ",\"message_body\":\"\xC0\xAF\"}", "INVALID_JSON", ""},
      {"UTF-8 surrogate", "{" + sender + ",\"message_body\":\"\xED\xA0\x80\"}", "INVALID_JSON", ""},
      {"beyond U+10FFFF", "{" + sender + ",\"message_body\":\"\xF4\x90\x80\x80\"}", "INVALID_JSON",
       ""},
      {"lone escaped surrogate", "{" + sender + R"(,"message_body":"\ud800"})", "INVALID_JSON", ""},
      {"invalid UTF-8 in metadata key",
       "{" + sender + ",\"message_body\":\"x\",\"metadata\":{\"\xFF\":1}}", "INVALID_JSON", ""},
      {"raw NUL byte", "{" + sender + ",\"message_body\":\"a" + std::string(1, '\0') + "b\"}",
       "INVALID_JSON", ""},
      {"escaped NUL in body", "{" + sender + R"(,"message_body":"a\u0000b"})",
       "INVALID_MESSAGE_BODY", "message_body"},
      {"escaped NUL in sender", R"({"sender_number":"+49151\u0000123","message_body":"x"})",
       "INVALID_SENDER_NUMBER", "sender_number"},
      {"control character in body", "{" + sender + R"(,"message_body":"a\u001bb"})",
       "INVALID_MESSAGE_BODY", "message_body"},
      {"overlong body", MessageJson(std::string(1001, 'x')), "INVALID_MESSAGE_BODY",
       "message_body"},
      {"overlong sender", R"({"sender_number":"+49151123456789012345","message_body":"x"})",
       "INVALID_SENDER_NUMBER", "sender_number"},
      {"overlong metadata",
       "{" + sender + R"(,"message_body":"x","metadata":{"k":")" + std::string(5000, 'm') + "\"}}",
       "INVALID_METADATA", "metadata"},
      {"body as object", "{" + sender + R"(,"message_body":{"$ne":null}})", "INVALID_MESSAGE_BODY",
       "message_body"},
      {"sender as array", R"({"sender_number":["+4915112345678"],"message_body":"x"})",
       "INVALID_SENDER_NUMBER", "sender_number"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    ExpectError(c.Send(Post("/api/v1/messages", k.body)), 400, k.code, k.field);
  }
  // The batch route takes 4 MiB: 100k '[' reach the JSON checks there.
  ExpectError(c.Send(Post("/api/v1/messages/batch", std::string(100'000, '['))), 400,
              "INVALID_JSON");
  ExpectError(c.Send(Post("/api/v1/messages/batch", R"({"messages":)" + std::string(100'000, '[') +
                                                        std::string(100'000, ']') + "}")),
              400, "INVALID_JSON");
  // A stolen worker key: deep nesting on the main server's delivery endpoint is 400.
  auto worker = MainServer(ServiceTls(pki::ServiceRole::kWorker));
  ExpectError(worker.Send(Post("/internal/v1/deliveries", std::string(1'000'000, '['))), 400,
              "INVALID_JSON");
  ExpectError(worker.Send(Post("/internal/v1/deliveries", std::string(1'000'000, '{'))), 400,
              "INVALID_JSON");
  ExpectOnlyTheControlMessageStored();
}

// A NUL character in metadata is valid JSON and metadata is free-form: it is accepted and read
// back verbatim (not truncated at the NUL).
TEST_F(AttackTest, NulInMetadataIsStoredVerbatim) {
  auto c = Proxy(DemoTls());
  nlohmann::json doc = {{"sender_number", "+4915112345678"},
                        {"message_body", "nul"},
                        {"metadata", {{"k", std::string("a\0b", 3)}, {std::string("\0", 1), "v"}}}};
  auto r = c.Send(Post("/api/v1/messages", doc.dump()));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->result_int(), 202u) << r->body();
  auto stored = WaitStoredMessage(Json(*r)["message_id"]);
  EXPECT_EQ(stored["metadata"], doc["metadata"]) << stored.dump();
}

// ---------------------------------------------------------------------------------------------
// SQL injection

// SQL in the message body and in metadata keys and values is data: accepted, stored and read back
// verbatim through the admin API; afterwards every table still works (the proxy's registry
// refresh reads clients, the main server lists and counts messages, new messages are stored).
// SQL in the admin API's query parameters is 400 INVALID_QUERY or 404.
TEST_F(AttackTest, SqlInjectionIsStoredVerbatimAndHarmless) {
  const std::vector<std::string> payloads = {
      "'; DROP TABLE messages; --",
      "\" OR 1=1 --",
      "Robert'); DROP TABLE clients;--",
      "' UNION SELECT id, client_id, NULL FROM messages --",
      "1; UPDATE clients SET status='active' WHERE '1'='1",
      "\\'; DELETE FROM client_certificates; --",
  };
  auto c = Proxy(DemoTls());
  std::vector<std::pair<std::string, nlohmann::json>> sent;
  for (const auto& p : payloads) {
    nlohmann::json doc = {{"sender_number", "+4915112345678"},
                          {"message_body", p},
                          {"metadata", {{"ref", p}, {p, p}}}};
    auto r = c.Send(Post("/api/v1/messages", doc.dump()));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->result_int(), 202u) << p << ": " << r->body();
    sent.emplace_back(Json(*r)["message_id"], doc);
  }
  for (const auto& [id, doc] : sent) {
    auto stored = WaitStoredMessage(id);
    EXPECT_EQ(stored["message_body"], doc["message_body"]);
    EXPECT_EQ(stored["metadata"], doc["metadata"]);
    EXPECT_EQ(stored["client_id"], "demo");
  }
  EXPECT_EQ(StoredTotal(), payloads.size());

  auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
  for (const std::string query :
       {"?client_id=demo'%20OR%20'1'%3D'1", "?client_id=%27%3B%20DROP%20TABLE%20messages%3B--",
        "?sender_number=%2B49'%20OR%201%3D1", "?status=delivered'--", "?page_size=1;DROP",
        "?from=2020-01-01'%20OR%201=1--"}) {
    SCOPED_TRACE(query);
    ExpectError(admin.Get("/api/v1/messages" + query), 400, "INVALID_QUERY");
  }
  ExpectError(admin.Get("/api/v1/messages/'%20OR%201=1%20--"), 404, "NOT_FOUND");
  EXPECT_EQ(StoredTotal("&client_id=demo"), payloads.size());

  // The clients table still works: a client registered now is recognised by the proxy.
  AwaitRegistryRefresh();
  ExpectOnlyTheControlMessageStored(payloads.size() + 1);
}

// ---------------------------------------------------------------------------------------------
// Request smuggling

// Requests whose framing is ambiguous, sent over a raw TLS connection with a valid client
// certificate, each followed by a valid "smuggled" second request: 400 INVALID_REQUEST, the
// connection is closed without a second response, and nothing is stored.
TEST_F(AttackTest, RequestSmugglingIs400AndClosesTheConnection) {
  const std::string msg = kValidMessage;
  const std::string smuggled = RawRequest(
      "POST", "/api/v1/messages",
      {"Content-Type: application/json", "Content-Length: " + std::to_string(msg.size())}, msg);
  auto hex = [](std::size_t n) {
    char text[32];
    std::snprintf(text, sizeof(text), "%zx", n);
    return std::string(text);
  };
  const std::string chunked = hex(msg.size()) + "\r\n" + msg + "\r\n0\r\n\r\n";
  const std::string ct = "Content-Type: application/json";
  const std::string cl = "Content-Length: " + std::to_string(chunked.size());
  struct Case {
    std::string name;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"CL then TE", RawRequest("POST", "/api/v1/messages", {ct, cl, "Transfer-Encoding: chunked"},
                                chunked + smuggled)},
      {"TE then CL", RawRequest("POST", "/api/v1/messages", {ct, "Transfer-Encoding: chunked", cl},
                                chunked + smuggled)},
      // CL.TE classic: a CL-framed front end would forward "0\r\n\r\n" + the smuggled request.
      {"CL.TE", RawRequest("POST", "/api/v1/messages",
                           {ct, "Content-Length: " + std::to_string(5 + smuggled.size()),
                            "Transfer-Encoding: chunked"},
                           "0\r\n\r\n" + smuggled)},
      // TE.CL classic: a TE-framed front end would see one chunk holding the smuggled request.
      {"TE.CL", RawRequest("POST", "/api/v1/messages",
                           {ct, "Content-Length: 4", "Transfer-Encoding: chunked"},
                           hex(smuggled.size()) + "\r\n" + smuggled + "\r\n0\r\n\r\n")},
      {"two different Content-Lengths",
       RawRequest("POST", "/api/v1/messages",
                  {ct, "Content-Length: " + std::to_string(msg.size()),
                   "Content-Length: " + std::to_string(msg.size() + smuggled.size())},
                  msg + smuggled)},
      {"Content-Length list",
       RawRequest("POST", "/api/v1/messages",
                  {ct, "Content-Length: " + std::to_string(msg.size()) + ", " +
                           std::to_string(msg.size() + smuggled.size())},
                  msg + smuggled)},
      {"Content-Length with sign",
       RawRequest("POST", "/api/v1/messages",
                  {ct, "Content-Length: +" + std::to_string(msg.size())}, msg + smuggled)},
      {"Content-Length in hex",
       RawRequest("POST", "/api/v1/messages", {ct, "Content-Length: 0x" + hex(msg.size())},
                  msg + smuggled)},
      {"space before colon", RawRequest("POST", "/api/v1/messages",
                                        {ct, "Transfer-Encoding : chunked"}, chunked + smuggled)},
      {"duplicate chunked",
       RawRequest("POST", "/api/v1/messages",
                  {ct, "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"},
                  chunked + smuggled)},
      {"chunk size not hex",
       RawRequest("POST", "/api/v1/messages", {ct, "Transfer-Encoding: chunked"},
                  "zz\r\n" + msg + "\r\n0\r\n\r\n" + smuggled)},
      {"negative chunk size",
       RawRequest("POST", "/api/v1/messages", {ct, "Transfer-Encoding: chunked"},
                  "-1\r\n" + msg + "\r\n0\r\n\r\n" + smuggled)},
      {"chunk size overflow",
       RawRequest("POST", "/api/v1/messages", {ct, "Transfer-Encoding: chunked"},
                  "1ffffffffffffffff\r\n" + msg + "\r\n0\r\n\r\n" + smuggled)},
      {"chunk shorter than its size",
       RawRequest("POST", "/api/v1/messages", {ct, "Transfer-Encoding: chunked"},
                  hex(msg.size() + 2) + "\r\n" + msg + "\r\nX\r\n0\r\n\r\n" + smuggled)},
      // RFC 9112 6.1: chunked not the final coding -> the length cannot be determined -> 400.
      {"TE xchunked + CL", RawRequest("POST", "/api/v1/messages",
                                      {ct, "Transfer-Encoding: xchunked", cl}, chunked + smuggled)},
      {"TE chunked, identity",
       RawRequest("POST", "/api/v1/messages", {ct, "Transfer-Encoding: chunked, identity"},
                  chunked + smuggled)},
      {"TE identity only",
       RawRequest("POST", "/api/v1/messages", {ct, "Transfer-Encoding: identity"}, smuggled)},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    RawTlsConnection c = RawProxy(DemoTls());
    ASSERT_TRUE(c.handshake_ok()) << c.error();
    c.Send(k.bytes);
    auto response = c.ReadResponse(5s);
    if (response) {
      EXPECT_EQ(response->status, 400u) << response->body;
      EXPECT_EQ(nlohmann::json::parse(response->body, nullptr, false)["error"]["code"],
                "INVALID_REQUEST")
          << response->body;
      auto second = c.ReadResponse(2s);
      EXPECT_FALSE(second) << "a second response (the smuggled request was served): HTTP "
                           << second->status << " " << second->body;
    }
    auto rest = c.ReadUntilClosed(5s);
    EXPECT_TRUE(rest) << "the connection stayed open";
    if (rest) {
      EXPECT_EQ(*rest, "") << "data after the refusal";
    }
  }
  ExpectOnlyTheControlMessageStored();
}

// The control for the smuggling cases: the same raw connection with well-framed pipelined
// requests (Content-Length, then chunked) gets two 202s, and both messages are stored.
TEST_F(AttackTest, WellFramedPipelinedRequestsAreServed) {
  const std::string msg = kValidMessage;
  RawTlsConnection c = RawProxy(DemoTls());
  ASSERT_TRUE(c.handshake_ok()) << c.error();
  char size[16];
  std::snprintf(size, sizeof(size), "%zx", msg.size());
  c.Send(RawRequest(
             "POST", "/api/v1/messages",
             {"Content-Type: application/json", "Content-Length: " + std::to_string(msg.size())},
             msg) +
         RawRequest("POST", "/api/v1/messages",
                    {"Content-Type: application/json", "Transfer-Encoding: chunked"},
                    std::string(size) + "\r\n" + msg + "\r\n0\r\n\r\n"));
  for (int i = 0; i < 2; ++i) {
    auto r = c.ReadResponse(5s);
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 202u) << r->body;
  }
  ExpectOnlyTheControlMessageStored(3);
}

}  // namespace
}  // namespace msgbroker::testing
