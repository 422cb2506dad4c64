// The main server's internal delivery endpoint and its read API, over real mutual TLS.

#include <cstdio>
#include <fstream>

#include "msgbroker/api/delivery.hpp"
#include "msgbroker/api/queue_envelope.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "system_fixture.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

class MainServerApiTest : public SystemFixture {
 protected:
  // A queue payload exactly as a proxy would make it.
  api::DeliveryItem MakeItem(const std::string& sender, const std::string& body,
                             const std::string& client = "demo") {
    auto sealer = crypto::EnvelopeSealer::LoadPublicKeyFile(layout_.envelope_public_key());
    EXPECT_TRUE(sealer);
    const auto id = MessageId::Generate(SystemClock::Instance().Now());
    const auto client_id = *ClientId::Parse(client);
    auto sealed = (*sealer)->Seal(api::EncodeContent({sender, body, nullptr}),
                                  api::EnvelopeAssociatedData(id, client_id));
    EXPECT_TRUE(sealed);
    return {id, 1, api::EncodeQueuePayload({client_id, SystemClock::Instance().Now(), *sealed}),
            std::nullopt};
  }

  Result<std::vector<api::DeliveryResult>> Deliver(
      const std::vector<api::DeliveryItem>& items,
      pki::ServiceRole role = pki::ServiceRole::kWorker) {
    auto client = MainServer(ServiceTls(role));
    auto r = client.Send(Post("/internal/v1/deliveries", api::EncodeDeliveryRequest(items)));
    if (!r) return tl::unexpected(r.error());
    if (r->result_int() != 200) return Fail(ErrorCode::kUpstreamError, r->body());
    return api::DecodeDeliveryResponse(r->body());
  }

  nlohmann::json List(const std::string& query, unsigned expect_status = 200) {
    auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
    auto r = admin.Get("/api/v1/messages" + query);
    EXPECT_TRUE(r);
    EXPECT_EQ(r->result_int(), expect_status) << r->body();
    return Json(*r);
  }
};

TEST_F(MainServerApiTest, DeliveriesAcceptOnlyWorkerCertificates) {
  const std::vector<api::DeliveryItem> items{MakeItem("+4915112345678", "x")};
  for (auto [tls, status, code] :
       {std::tuple{DemoTls(), 403u, "FORBIDDEN"},
        std::tuple{ServiceTls(pki::ServiceRole::kAdmin), 403u, "FORBIDDEN"},
        std::tuple{ServiceTls(pki::ServiceRole::kProxy), 403u, "FORBIDDEN"},
        std::tuple{NoCertTls(), 401u, "CLIENT_CERTIFICATE_REQUIRED"}}) {
    auto client = MainServer(tls);
    auto r = client.Send(Post("/internal/v1/deliveries", api::EncodeDeliveryRequest(items)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), status);
    EXPECT_EQ(Json(*r)["error"]["code"], code);
  }
  EXPECT_EQ(StoredTotal(), 0u);
}

TEST_F(MainServerApiTest, ReadApiAcceptsOnlyAdminCertificates) {
  for (auto [tls, status] :
       {std::pair{DemoTls(), 403u}, std::pair{ServiceTls(pki::ServiceRole::kWorker), 403u},
        std::pair{NoCertTls(), 401u}}) {
    auto client = MainServer(tls);
    EXPECT_EQ(client.Get("/api/v1/messages")->result_int(), status);
    EXPECT_EQ(client.Get("/api/v1/messages/018bcfe5-6800-7abc-8def-0123456789ab")->result_int(),
              status);
  }
}

TEST_F(MainServerApiTest, DeliveryIsIdempotentByMessageId) {
  const std::vector<api::DeliveryItem> items{MakeItem("+4915112345678", "one"),
                                             MakeItem("+4915112345679", "two")};
  auto first = Deliver(items);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ((*first)[0].outcome, api::DeliveryOutcome::kStored);
  EXPECT_EQ((*first)[1].outcome, api::DeliveryOutcome::kStored);
  auto again = Deliver(items);
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0].outcome, api::DeliveryOutcome::kDuplicate);
  EXPECT_EQ((*again)[1].outcome, api::DeliveryOutcome::kDuplicate);
  EXPECT_EQ(StoredTotal(), 2u);
}

TEST_F(MainServerApiTest, TamperedOrMisroutedContentIsRejectedAndNotStored) {
  auto good = MakeItem("+4915112345678", "fine");
  auto tampered = MakeItem("+4915112345678", "evil");
  auto payload = api::DecodeQueuePayload(tampered.payload);
  ASSERT_TRUE(payload);
  payload->sealed_content.back() ^= 0x01;
  tampered.payload = api::EncodeQueuePayload(*payload);
  // Content sealed for one client, relabelled as another: the associated data no longer matches.
  auto moved = MakeItem("+4915112345678", "moved");
  auto moved_payload = api::DecodeQueuePayload(moved.payload);
  moved_payload->client_id = *ClientId::Parse("other");
  moved.payload = api::EncodeQueuePayload(*moved_payload);
  auto garbage = MakeItem("+4915112345678", "x");
  garbage.payload = "not a payload";

  auto results = Deliver({good, tampered, moved, garbage});
  ASSERT_TRUE(results) << results.error().message;
  EXPECT_EQ((*results)[0].outcome, api::DeliveryOutcome::kStored);
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ((*results)[i].outcome, api::DeliveryOutcome::kRejected) << i;
    ASSERT_TRUE((*results)[i].error);
    EXPECT_EQ((*results)[i].error->code, ErrorCode::kDataCorrupted);
  }
  EXPECT_EQ(StoredTotal(), 1u);
}

TEST_F(MainServerApiTest, FailureReportsAreStoredAsFailed) {
  auto item = MakeItem("+4915112345678", "too late");
  item.attempts = 10;
  item.failure = "gave up after 10 attempts";
  auto results = Deliver({item});
  ASSERT_TRUE(results);
  EXPECT_EQ((*results)[0].outcome, api::DeliveryOutcome::kStored);
  auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
  auto r = admin.Get("/api/v1/messages/" + item.message_id.str());
  ASSERT_TRUE(r);
  auto m = Json(*r);
  EXPECT_EQ(m["status"], "failed");
  EXPECT_EQ(m["attempts"], 10);
  EXPECT_EQ(m["last_error"], "gave up after 10 attempts");
  EXPECT_TRUE(m["failed_at"].is_string());
  EXPECT_TRUE(m["delivered_at"].is_null());
  EXPECT_EQ(List("?status=failed")["total"], 1);
  EXPECT_EQ(List("?status=delivered")["total"], 0);
}

TEST_F(MainServerApiTest, MalformedDeliveryRequestIs400) {
  auto client = MainServer(ServiceTls(pki::ServiceRole::kWorker));
  auto r = client.Send(Post("/internal/v1/deliveries", R"({"deliveries":[{"message_id":"x"}]})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 400u);
  EXPECT_EQ(Json(*r)["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(Json(*r)["error"]["field"], "deliveries[0]");
}

TEST_F(MainServerApiTest, ListFiltersAndPaginates) {
  std::vector<api::DeliveryItem> items;
  for (int i = 0; i < 7; ++i) items.push_back(MakeItem("+4915100000001", "a" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) items.push_back(MakeItem("+4915100000002", "b" + std::to_string(i)));
  ASSERT_TRUE(Deliver(items));

  auto page1 = List("?page_size=4");
  EXPECT_EQ(page1["total"], 10);
  EXPECT_EQ(page1["pages"], 3);
  EXPECT_EQ(page1["items"].size(), 4u);
  auto page3 = List("?page_size=4&page=3");
  EXPECT_EQ(page3["items"].size(), 2u);
  EXPECT_EQ(List("?sender_number=%2B4915100000002")["total"], 3);
  EXPECT_EQ(List("?sender_number=%2B4915100000001&page_size=500")["items"].size(), 7u);
  EXPECT_EQ(List("?client_id=demo")["total"], 10);
  EXPECT_EQ(List("?client_id=nobody")["total"], 0);
  EXPECT_EQ(List("?status=delivered")["total"], 10);
  EXPECT_EQ(List("?from=2000-01-01&to=2200-01-01")["total"], 10);
  EXPECT_EQ(List("?to=2000-01-01")["total"], 0);

  EXPECT_EQ(List("?status=lost", 400)["error"]["field"], "status");
  EXPECT_EQ(List("?page_size=501", 400)["error"]["code"], "INVALID_QUERY");
  EXPECT_EQ(List("?page=0", 400)["error"]["field"], "page");
  EXPECT_EQ(List("?from=yesterday", 400)["error"]["field"], "from");
  EXPECT_EQ(List("?to=2999-01-01", 400)["error"]["field"], "to");  // beyond what we can represent
  EXPECT_EQ(List("?sender_number=12", 400)["error"]["field"], "sender_number");
  EXPECT_EQ(List("?client_id=a'--", 400)["error"]["field"], "client_id");
  EXPECT_EQ(List("?bogus=1", 400)["error"]["field"], "bogus");
}

TEST_F(MainServerApiTest, UnknownMessageIs404) {
  auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
  auto r = admin.Get("/api/v1/messages/018bcfe5-6800-7abc-8def-0123456789ab");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 404u);
  EXPECT_EQ(Json(*r)["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(admin.Get("/api/v1/messages/not-a-uuid")->result_int(), 404u);
}

// The main server's background task applies an ended renewal overlap by itself: no CLI command
// runs, yet the old certificate is revoked as superseded and the proxy refuses it.
TEST_F(MainServerApiTest, RenewalOverlapEndsWithoutAnyCommand) {
  auto certificates = Database()->certificates();
  auto listed = certificates->List({.kind = storage::CertificateKind::kClient});
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->items.size(), 1u);  // the demo client's certificate
  const auto fingerprint = listed->items[0].fingerprint_sha256;
  const auto overlap_end = SystemClock::Instance().Now() + 2s;
  ASSERT_TRUE(certificates->ScheduleRevocation(fingerprint, overlap_end));
  auto status = [&] {
    auto found = certificates->FindByFingerprint(fingerprint);
    EXPECT_TRUE(found && *found);
    return found && *found ? (*found)->status : storage::CertificateStatus::kActive;
  };
  EXPECT_EQ(status(), storage::CertificateStatus::kActive);  // the overlap has not ended
  ASSERT_TRUE(WaitFor([&] { return status() == storage::CertificateStatus::kRevoked; }, 10s, 50ms));
  EXPECT_GE(SystemClock::Instance().Now(), overlap_end);
  auto found = certificates->FindByFingerprint(fingerprint);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->revocation_reason, "superseded");
  ASSERT_TRUE((*found)->revoked_at);
  // revoked_at is the end of the overlap (stored in milliseconds), not the time of the run.
  EXPECT_LT(std::chrono::abs(*(*found)->revoked_at - overlap_end), 1ms);
  auto proxy = Proxy(DemoTls());
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = proxy.Send(
            Post("/api/v1/messages", R"({"sender_number":"+14155550100","message_body":"hi"})"));
        return r && r->result_int() == 403;
      },
      5s));
}

// A revoked service certificate is refused by the main server within seconds, also on an open
// keep-alive connection; other service certificates keep working.
TEST_F(MainServerApiTest, RevokedServiceCertificateIs403) {
  auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
  auto before = admin.Get("/api/v1/messages");
  ASSERT_TRUE(before);
  ASSERT_EQ(before->result_int(), 200u) << before->body();

  auto certificates = Database()->certificates();
  auto listed = certificates->List({.kind = storage::CertificateKind::kService});
  ASSERT_TRUE(listed) << listed.error().message;
  std::string admin_fingerprint;
  for (const auto& c : listed->items) {
    if (c.owner == "admin") admin_fingerprint = c.fingerprint_sha256;
  }
  ASSERT_FALSE(admin_fingerprint.empty());
  ASSERT_TRUE(certificates->Revoke(storage::CertificateKind::kService, admin_fingerprint,
                                   "key-compromise", SystemClock::Instance().Now()));

  net::HttpResponse refused;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = admin.Get("/api/v1/messages");
        if (!r) return false;
        refused = *r;
        return r->result_int() == 403;
      },
      5s, 50ms));
  EXPECT_EQ(Json(refused)["error"]["code"], "CLIENT_REVOKED");
  // A new connection with the same certificate is refused too, on every admin endpoint.
  auto again = MainServer(ServiceTls(pki::ServiceRole::kAdmin))
                   .Get("/api/v1/messages/018bcfe5-6800-7abc-8def-0123456789ab");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->result_int(), 403u);
  EXPECT_EQ(Json(*again)["error"]["code"], "CLIENT_REVOKED");
  // The worker's certificate is not revoked: deliveries still go through.
  auto delivered = Deliver({MakeItem("+14155550100", "after the admin was revoked")});
  ASSERT_TRUE(delivered) << delivered.error().message;
  EXPECT_EQ((*delivered)[0].outcome, api::DeliveryOutcome::kStored);
}

// Revoking the worker's certificate stops its deliveries (nothing stored).
TEST_F(MainServerApiTest, RevokedWorkerCertificateCannotDeliver) {
  auto certificates = Database()->certificates();
  auto listed = certificates->List({.kind = storage::CertificateKind::kService});
  ASSERT_TRUE(listed) << listed.error().message;
  std::string worker_fingerprint;
  for (const auto& c : listed->items) {
    if (c.owner == "worker") worker_fingerprint = c.fingerprint_sha256;
  }
  ASSERT_FALSE(worker_fingerprint.empty());
  ASSERT_TRUE(certificates->Revoke(storage::CertificateKind::kService, worker_fingerprint,
                                   "cessation-of-operation", SystemClock::Instance().Now()));
  std::string last;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = Deliver({MakeItem("+14155550100", "from a revoked worker")});
        if (r) return false;
        last = r.error().message;
        return last.find("CLIENT_REVOKED") != std::string::npos;
      },
      5s, 50ms))
      << last;
}

// The admin certificate API: admin certificate only, filters and pages, revocation with a reason,
// every call in the audit log with the admin certificate as actor and the peer as source.
TEST_F(MainServerApiTest, AdminCertificateApiListsAndRevokes) {
  const std::string list = "/api/v1/admin/certificates";
  for (auto [tls, status] :
       {std::pair{DemoTls(), 403u}, std::pair{ServiceTls(pki::ServiceRole::kWorker), 403u},
        std::pair{NoCertTls(), 401u}}) {
    auto client = MainServer(tls);
    EXPECT_EQ(client.Get(list)->result_int(), status);
    EXPECT_EQ(client.Send(Post(list + "/00/revoke", R"({"reason":"unspecified"})"))->result_int(),
              status);
  }
  auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
  auto get = [&](const std::string& query, unsigned expect = 200) {
    auto r = admin.Get(list + query);
    EXPECT_TRUE(r);
    EXPECT_EQ(r->result_int(), expect) << query << ": " << r->body();
    return Json(*r);
  };
  EXPECT_EQ(get("?kind=service")["total"], 5);
  auto clients = get("?kind=client&status=active&domain=demo.local");
  ASSERT_EQ(clients["total"], 1);
  EXPECT_EQ(clients["items"][0]["owner"], "demo");
  EXPECT_EQ(get("")["total"], 1);  // kind defaults to client
  EXPECT_EQ(get("?status=revoked")["total"], 0);
  EXPECT_EQ(get("?domain=other.example")["total"], 0);
  EXPECT_EQ(get("?expiring_within_days=1")["total"], 0);
  EXPECT_EQ(get("?expiring_within_days=3650")["total"], 1);
  auto paged = get("?kind=service&page=2&page_size=2");
  EXPECT_EQ(paged["items"].size(), 2u);
  EXPECT_EQ(paged["pages"], 3);
  for (const std::string bad : {"kind=x", "status=x", "page=0", "page_size=501",
                                "expiring_within_days=0", "bogus=1", "kind=service&domain=x"}) {
    EXPECT_EQ(get("?" + bad, 400)["error"]["code"], "INVALID_QUERY") << bad;
  }

  const auto fingerprint = clients["items"][0]["fingerprint_sha256"].get<std::string>();
  const auto revoke = list + "/" + fingerprint + "/revoke";
  auto post = [&](const std::string& target, const std::string& body, unsigned expect) {
    auto r = admin.Send(Post(target, body));
    EXPECT_TRUE(r);
    EXPECT_EQ(r->result_int(), expect) << body << ": " << r->body();
    return Json(*r);
  };
  EXPECT_EQ(post(revoke, "{", 400)["error"]["code"], "INVALID_JSON");
  EXPECT_EQ(post(revoke, "{}", 400)["error"]["code"], "MISSING_FIELD");
  EXPECT_EQ(post(revoke, R"({"reason":"stolen"})", 400)["error"]["field"], "reason");
  EXPECT_EQ(post(revoke, R"({"reason":1})", 400)["error"]["field"], "reason");
  EXPECT_EQ(post(revoke, R"({"reason":"superseded","x":1})", 400)["error"]["field"], "x");
  EXPECT_EQ(post(list + "/" + std::string(64, 'a') + "/revoke", R"({"reason":"superseded"})",
                 404)["error"]["code"],
            "NOT_FOUND");
  EXPECT_EQ(get("?status=revoked")["total"], 0);  // nothing was revoked by the bad requests
  auto revoked = post(revoke, R"({"reason":"key-compromise"})", 200);
  EXPECT_EQ(revoked["status"], "revoked");
  EXPECT_EQ(revoked["revocation_reason"], "key-compromise");
  EXPECT_EQ(post(revoke, R"({"reason":"superseded"})", 409)["error"]["code"], "ALREADY_EXISTS");
  EXPECT_EQ(get("?status=revoked")["items"][0]["revocation_reason"], "key-compromise");
  auto proxy = Proxy(DemoTls());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = proxy.Send(
            Post("/api/v1/messages", R"({"sender_number":"+14155550100","message_body":"hi"})"));
        return r && r->result_int() == 403;
      },
      5s));

  // The audit log: who (the admin certificate), what, where (the peer address).
  std::string admin_fingerprint;
  const auto services = get("?kind=service");
  for (const auto& c : services["items"]) {
    if (c["owner"] == "admin") admin_fingerprint = c["fingerprint_sha256"];
  }
  std::ifstream log(layout_.audit_log());
  std::string line;
  std::size_t lists = 0, revokes = 0;
  while (std::getline(log, line)) {
    auto record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() || !record["action"].is_string()) continue;
    const auto action = record["action"].get<std::string>();
    if (action != "certificate.list" && action != "certificate.revoke") continue;
    EXPECT_EQ(record["actor"], "admin-certificate:" + admin_fingerprint);
    EXPECT_EQ(record["source"].get<std::string>().rfind("127.0.0.1:", 0), 0u) << line;
    if (action == "certificate.list") ++lists;
    if (action == "certificate.revoke") {
      ++revokes;
      EXPECT_EQ(record["details"]["reason"], "key-compromise");
      EXPECT_EQ(record["details"]["fingerprint"], fingerprint);
    }
  }
  EXPECT_EQ(revokes, 1u);  // refused requests change nothing and are not revocations
  EXPECT_GE(lists, 9u);
}

// Runs a shell command; its exit status and output (stdout and stderr).
std::pair<int, std::string> Shell(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, output};
  char buffer[512];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  return {::pclose(pipe), output};
}

// GET /api/v1/crl: any verified certificate fetches the CRL, signed by the CA; a revocation
// reaches it within seconds, and openssl(1) then refuses the revoked certificate.
TEST_F(MainServerApiTest, CrlIsPublishedAndFollowsRevocations) {
  const auto crl_file = tmp_.path() / "crl.pem";
  const auto client_cert = layout_.client_dir(cli::kDemoClientId) / "client.crt";
  auto fetch = [&](const net::TlsClientConfig& tls) {
    auto r = MainServer(tls).Get("/api/v1/crl");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u) << r->body();
    EXPECT_EQ((*r)[net::http::field::content_type], "application/x-pem-file");
    std::ofstream(crl_file, std::ios::trunc) << r->body();
    return r->body();
  };
  const std::string verify = "openssl verify -crl_check -CAfile " + layout_.ca_cert().string() +
                             " -CRLfile " + crl_file.string() + " " + client_cert.string();
  const auto first = fetch(DemoTls());  // a client certificate may fetch it
  EXPECT_EQ(first.rfind("-----BEGIN X509 CRL-----", 0), 0u) << first;
  auto [ok_status, ok_output] = Shell(verify);
  EXPECT_EQ(ok_status, 0) << ok_output;
  EXPECT_EQ(fetch(ServiceTls(pki::ServiceRole::kWorker)), first);  // not remade per request

  auto certificates = Database()->certificates();
  auto listed = certificates->List({.kind = storage::CertificateKind::kClient});
  ASSERT_TRUE(listed && listed->items.size() == 1u);
  ASSERT_TRUE(certificates->Revoke(storage::CertificateKind::kClient,
                                   listed->items[0].fingerprint_sha256, "key-compromise",
                                   SystemClock::Instance().Now()));
  ASSERT_TRUE(
      WaitFor([&] { return fetch(ServiceTls(pki::ServiceRole::kAdmin)) != first; }, 5s, 50ms));
  auto [revoked_status, revoked_output] = Shell(verify);
  EXPECT_NE(revoked_status, 0);
  EXPECT_NE(revoked_output.find("certificate revoked"), std::string::npos) << revoked_output;
  auto [text_status, text] = Shell("openssl crl -noout -text -in " + crl_file.string());
  EXPECT_EQ(text_status, 0) << text;
  EXPECT_NE(text.find("Key Compromise"), std::string::npos) << text;
  // openssl prints the serial in upper case, two digits per byte, without leading zero bytes
  // (a leading zero digit of the first byte stays: 0A, not A).
  std::string serial = listed->items[0].serial_hex;
  while (serial.size() > 2 && serial.starts_with("00")) serial.erase(0, 2);
  for (auto& c : serial) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_NE(text.find("Serial Number: " + serial.substr(0, 8)), std::string::npos) << text;
}

TEST_F(MainServerApiTest, CrlNeedsACertificate) {
  auto r = MainServer(NoCertTls()).Get("/api/v1/crl");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 401u);
  EXPECT_EQ(Json(*r)["error"]["code"], "CLIENT_CERTIFICATE_REQUIRED");
}

// A main server without the CA key publishes no CRL and says why.
class MainServerWithoutCaKeyTest : public MainServerApiTest {
  void Configure(cli::EmbeddedOptions& options) override { options.publish_crl = false; }
};

TEST_F(MainServerWithoutCaKeyTest, CrlIs503) {
  auto r = MainServer(ServiceTls(pki::ServiceRole::kAdmin)).Get("/api/v1/crl");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 503u);
  EXPECT_EQ(Json(*r)["error"]["code"], "SERVICE_UNAVAILABLE");
  EXPECT_NE(Json(*r)["error"]["message"].get<std::string>().find("ca_key_file"), std::string::npos);
}

}  // namespace
}  // namespace msgbroker::testing
