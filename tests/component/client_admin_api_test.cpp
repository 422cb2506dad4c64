// The main server's admin client API (issue, sign a CSR, renew, suspend, resume, revoke) over
// real mutual TLS, with what it issues used against the real proxy.

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "msgbroker/core/base64.hpp"
#include "system_fixture.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class ClientAdminApiTest : public SystemFixture {
 protected:
  // An admin API call; checks the status and returns the JSON answer.
  nlohmann::json Call(net::http::verb verb, const std::string& target, const std::string& body,
                      unsigned expect) {
    auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
    net::HttpRequest request{verb, target, 11};
    request.set(net::http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    auto r = admin.Send(std::move(request));
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->result_int(), expect) << target << " " << body << ": " << r->body();
    if (r->result_int() == 201) {
      EXPECT_EQ((*r)[net::http::field::cache_control], "no-store");
    }
    return Json(*r);
  }
  nlohmann::json Post(const std::string& target, const std::string& body, unsigned expect) {
    return Call(net::http::verb::post, target, body, expect);
  }
  std::string ErrorField(const std::string& target, const std::string& body, unsigned expect,
                         const std::string& code) {
    auto answer = Post(target, body, expect);
    EXPECT_EQ(answer["error"]["code"], code) << body;
    return answer["error"].value("field", "");
  }

  // The bundle's certificate and key as files, for a TLS client of the proxy.
  net::TlsClientConfig BundleTls(const std::string& name, const nlohmann::json& bundle,
                                 const std::filesystem::path& key_file = {}) {
    pki::IssuedCertificate issued;
    issued.certificate_pem = bundle["certificate_pem"];
    issued.private_key_pem =
        key_file.empty() ? bundle["private_key_pem"].get<std::string>() : ReadFile(key_file);
    return WriteCert(name, issued);
  }

  // The proxy's answer to one valid message from this certificate.
  unsigned Send(const net::TlsClientConfig& tls) {
    auto r = Proxy(tls).Send(SystemFixture::Post("/api/v1/messages", kValidMessage));
    return r ? r->result_int() : 0u;
  }
  bool Becomes(const net::TlsClientConfig& tls, unsigned status) {
    return WaitFor([&] { return Send(tls) == status; }, 5s, 50ms);
  }

  // A key and a PEM PKCS#10 request for it, made by openssl(1) as a client would.
  std::pair<std::filesystem::path, std::string> KeyAndCsr(const std::string& name) {
    const auto key = tmp_.path() / (name + "-own.key");
    const auto csr = tmp_.path() / (name + ".csr");
    const std::string command =
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -subj /CN=ignored -keyout " +
        key.string() + " -out " + csr.string() + " 2>/dev/null";
    EXPECT_EQ(std::system(command.c_str()), 0);
    return {key, ReadFile(csr)};
  }

  // The audit records with `action`.
  std::vector<nlohmann::json> Audited(const std::string& action) {
    std::vector<nlohmann::json> records;
    std::ifstream log(layout_.audit_log());
    std::string line;
    while (std::getline(log, line)) {
      auto record = nlohmann::json::parse(line, nullptr, false);
      if (!record.is_discarded() && record["action"] == action) records.push_back(record);
    }
    return records;
  }

  static constexpr const char* kClients = "/api/v1/admin/clients";
};

TEST_F(ClientAdminApiTest, OnlyAnAdminCertificateMayCallIt) {
  for (auto [tls, status] :
       {std::pair{DemoTls(), 403u}, std::pair{ServiceTls(pki::ServiceRole::kWorker), 403u},
        std::pair{ServiceTls(pki::ServiceRole::kProxy), 403u}, std::pair{NoCertTls(), 401u}}) {
    auto client = MainServer(tls);
    EXPECT_EQ(client.Send(SystemFixture::Post(kClients, R"({"client_id":"x","domain":"x"})"))
                  ->result_int(),
              status);
    EXPECT_EQ(client.Get(std::string(kClients) + "/demo")->result_int(), status);
    EXPECT_EQ(
        client
            .Send(SystemFixture::Post("/api/v1/admin/service-certificates", R"({"role":"admin"})"))
            ->result_int(),
        status);
    for (const std::string verb : {"renew", "suspend", "resume", "revoke"}) {
      EXPECT_EQ(client.Send(SystemFixture::Post(std::string(kClients) + "/demo/" + verb, "{}"))
                    ->result_int(),
                status)
          << verb;
    }
  }
  EXPECT_EQ(Send(DemoTls()), 202u);  // nothing happened to the demo client
  EXPECT_TRUE(Audited("client.issue").empty());
  EXPECT_TRUE(Audited("certificate.issue").size() == 5u);  // only up's, from its first run
}

// Issue: a bundle (certificate, generated key, CA, PKCS#12) that works at once and exists only in
// the answer; every refused request stores nothing.
TEST_F(ClientAdminApiTest, IssueAnswersABundleOnceAndRefusesBadRequests) {
  const std::vector<std::tuple<std::string, unsigned, std::string, std::string>> bad = {
      {"{", 400, "INVALID_JSON", ""},
      {"[]", 400, "INVALID_JSON", ""},
      {"{}", 400, "MISSING_FIELD", "client_id"},
      {R"({"client_id":"acme"})", 400, "MISSING_FIELD", "domain"},
      {R"({"client_id":"bad id","domain":"acme.example"})", 400, "INVALID_REQUEST", "client_id"},
      {R"({"client_id":7,"domain":"acme.example"})", 400, "INVALID_REQUEST", "client_id"},
      {R"({"client_id":"acme","domain":""})", 400, "INVALID_REQUEST", "domain"},
      {R"({"client_id":"acme","domain":")" + std::string(65, 'a') + R"("})", 400, "INVALID_REQUEST",
       "domain"},
      {R"({"client_id":"acme","domain":"acme.example","days":0})", 400, "INVALID_REQUEST", "days"},
      {R"({"client_id":"acme","domain":"acme.example","days":3651})", 400, "INVALID_REQUEST",
       "days"},
      {R"({"client_id":"acme","domain":"acme.example","days":"30"})", 400, "INVALID_REQUEST",
       "days"},
      {R"({"client_id":"acme","domain":"acme.example","csr":"junk"})", 400, "INVALID_REQUEST",
       "csr"},
      {R"({"client_id":"acme","domain":"acme.example","pkcs12_password":""})", 400,
       "INVALID_REQUEST", "pkcs12_password"},
      {R"({"client_id":"acme","domain":"acme.example","csr":"x","pkcs12_password":"p"})", 400,
       "INVALID_REQUEST", "pkcs12_password"},
      {R"({"client_id":"acme","domain":"acme.example","owner":"root"})", 400, "INVALID_REQUEST",
       "owner"},
      {R"({"client_id":"demo","domain":"demo.local"})", 409, "ALREADY_EXISTS", "client_id"},
  };
  for (const auto& [body, status, code, field] : bad) {
    EXPECT_EQ(ErrorField(kClients, body, status, code), field) << body;
  }
  EXPECT_EQ(Call(net::http::verb::get, std::string(kClients) + "/acme", "", 404)["error"]["code"],
            "NOT_FOUND");
  EXPECT_TRUE(Audited("client.issue").empty());

  auto issued = Post(
      kClients,
      R"({"client_id":"acme","domain":"acme.example","days":30,"pkcs12_password":"s3cret pw"})",
      201);
  EXPECT_EQ(issued["client"]["client_id"], "acme");
  EXPECT_EQ(issued["client"]["status"], "active");
  EXPECT_EQ(issued["certificate"]["owner"], "acme");
  EXPECT_EQ(issued["certificate"]["domain"], "acme.example");
  EXPECT_EQ(issued["certificate"]["status"], "active");
  const auto& bundle = issued["bundle"];
  EXPECT_EQ(bundle["ca_certificate_pem"], ReadFile(layout_.ca_cert()));
  ASSERT_TRUE(bundle["private_key_pem"].is_string());
  // Registered before the answer; the proxy knows it after its next registry refresh.
  EXPECT_TRUE(Becomes(BundleTls("acme", bundle), 202u));

  // The PKCS#12 opens with the password and holds the certificate and the key.
  auto p12 = Base64Decode(bundle["pkcs12_base64"].get<std::string>());
  ASSERT_TRUE(p12);
  const auto p12_file = tmp_.path() / "acme.p12";
  std::ofstream(p12_file, std::ios::binary) << *p12;
  const auto dump = tmp_.path() / "acme-p12.pem";
  const std::string open = "openssl pkcs12 -in " + p12_file.string() +
                           " -passin 'pass:s3cret pw' -nodes -out " + dump.string() +
                           " 2>/dev/null";
  ASSERT_EQ(std::system(open.c_str()), 0);
  const auto opened = ReadFile(dump);
  EXPECT_NE(opened.find("CN = acme"), std::string::npos) << opened;
  EXPECT_NE(opened.find("PRIVATE KEY"), std::string::npos);
  const std::string wrong = "openssl pkcs12 -in " + p12_file.string() +
                            " -passin pass:wrong -nodes -out /dev/null 2>/dev/null";
  EXPECT_NE(std::system(wrong.c_str()), 0);

  // The key is nowhere but in that answer: not in the database, not in the audit log.
  auto key_line = bundle["private_key_pem"].get<std::string>();
  key_line = key_line.substr(key_line.find('\n') + 1, 40);
  EXPECT_EQ(ReadFile(layout_.database()).find(key_line), std::string::npos);
  const auto log = ReadFile(layout_.audit_log());
  EXPECT_EQ(log.find(key_line), std::string::npos);
  EXPECT_EQ(log.find("s3cret"), std::string::npos);
  auto records = Audited("client.issue");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["target"], "client:acme");
  EXPECT_EQ(records[0]["actor"].get<std::string>().rfind("admin-certificate:", 0), 0u);
  EXPECT_EQ(records[0]["details"]["pkcs12"], true);
  EXPECT_EQ(records[0]["details"]["fingerprint_sha256"],
            issued["certificate"]["fingerprint_sha256"]);

  auto shown = Call(net::http::verb::get, std::string(kClients) + "/acme", "", 200);
  EXPECT_EQ(shown["domain"], "acme.example");
  ASSERT_EQ(shown["certificates"].size(), 1u);
  EXPECT_EQ(shown["certificates"][0]["fingerprint_sha256"],
            issued["certificate"]["fingerprint_sha256"]);
  EXPECT_EQ(shown.dump().find("PRIVATE KEY"), std::string::npos);
}

// Sign a client's CSR: the certificate certifies the client's own key; no key in the answer.
TEST_F(ClientAdminApiTest, SignCsrCertifiesTheClientsOwnKey) {
  auto [key, csr] = KeyAndCsr("beta");
  auto issued = Post(
      kClients,
      nlohmann::json{{"client_id", "beta"}, {"domain", "beta.example"}, {"csr", csr}}.dump(), 201);
  const auto& bundle = issued["bundle"];
  EXPECT_FALSE(bundle.contains("private_key_pem"));
  EXPECT_FALSE(bundle.contains("pkcs12_base64"));
  EXPECT_TRUE(Becomes(BundleTls("beta", bundle, key), 202u));
  auto records = Audited("client.sign-csr");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["details"]["key"], "csr");
}

// Renew: a new certificate works at once; the old one during the overlap only (none: at once).
TEST_F(ClientAdminApiTest, RenewReplacesTheCertificateAfterTheOverlap) {
  const std::string renew = std::string(kClients) + "/demo/renew";
  for (const auto& [body, field] :
       std::vector<std::pair<std::string, std::string>>{{R"({"days":0})", "days"},
                                                        {R"({"overlap_days":-1})", "overlap_days"},
                                                        {R"({"overlap_days":366})", "overlap_days"},
                                                        {R"({"csr":"junk"})", "csr"},
                                                        {R"({"client_id":"x"})", "client_id"}}) {
    EXPECT_EQ(ErrorField(renew, body, 400, "INVALID_REQUEST"), field) << body;
  }
  EXPECT_EQ(ErrorField(std::string(kClients) + "/nobody/renew", "{}", 404, "NOT_FOUND"), "");
  EXPECT_EQ(
      Call(net::http::verb::get, std::string(kClients) + "/demo", "", 200)["certificates"].size(),
      1u);  // nothing was issued by the refused requests

  // With an overlap (and an empty body: the defaults) both certificates work.
  auto first = Post(renew, "", 201);
  ASSERT_EQ(first["superseded"].size(), 1u);
  const auto first_tls = BundleTls("demo-1", first["bundle"]);
  EXPECT_TRUE(Becomes(first_tls, 202u));
  EXPECT_EQ(Send(DemoTls()), 202u);

  // Without one, from a CSR, every older certificate is revoked at once.
  auto [key, csr] = KeyAndCsr("demo-2");
  auto second =
      Post(renew, nlohmann::json{{"overlap_days", 0}, {"days", 10}, {"csr", csr}}.dump(), 201);
  EXPECT_EQ(second["superseded"].size(), 2u);
  const auto second_tls = BundleTls("demo-2", second["bundle"], key);
  EXPECT_TRUE(Becomes(second_tls, 202u));
  EXPECT_TRUE(Becomes(first_tls, 403u));
  EXPECT_TRUE(Becomes(DemoTls(), 403u));
  auto shown = Call(net::http::verb::get, std::string(kClients) + "/demo", "", 200);
  std::size_t revoked = 0;
  for (const auto& c : shown["certificates"]) revoked += c["status"] == "revoked";
  EXPECT_EQ(revoked, 2u);
  auto records = Audited("client.renew");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["details"]["overlap_days"], 0);
  EXPECT_EQ(records[1]["details"]["key"], "csr");
}

// Suspend and resume block and unblock sending within seconds; revoke is final.
TEST_F(ClientAdminApiTest, SuspendResumeAndRevokeReachTheProxy) {
  const std::string demo = std::string(kClients) + "/demo/";
  EXPECT_EQ(ErrorField(demo + "suspend", R"({"reason":7})", 400, "INVALID_REQUEST"), "reason");
  EXPECT_EQ(ErrorField(demo + "suspend", R"({"why":"x"})", 400, "INVALID_REQUEST"), "why");
  EXPECT_EQ(ErrorField(demo + "suspend", "nope", 400, "INVALID_JSON"), "");
  EXPECT_EQ(ErrorField(std::string(kClients) + "/nobody/suspend", "", 404, "NOT_FOUND"), "");
  EXPECT_EQ(Send(DemoTls()), 202u);

  auto suspended = Post(demo + "suspend", R"({"reason":"invoice overdue"})", 200);
  EXPECT_EQ(suspended["status"], "suspended");
  EXPECT_EQ(suspended["previous_status"], "active");
  EXPECT_EQ(suspended["changed"], true);
  EXPECT_TRUE(Becomes(DemoTls(), 403u));
  EXPECT_EQ(Post(demo + "suspend", "", 200)["changed"], false);
  EXPECT_EQ(Post(demo + "resume", "", 200)["status"], "active");
  EXPECT_TRUE(Becomes(DemoTls(), 202u));
  EXPECT_EQ(Post(demo + "revoke", R"({"reason":"contract ended"})", 200)["status"], "revoked");
  EXPECT_TRUE(Becomes(DemoTls(), 403u));
  EXPECT_EQ(ErrorField(demo + "resume", "", 400, "INVALID_REQUEST"), "");
  EXPECT_EQ(ErrorField(demo + "renew", "", 400, "INVALID_REQUEST"), "");

  // Changes are audited with their reason; the no-op suspend is not an action.
  auto records = Audited("client.suspend");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["details"]["reason"], "invoice overdue");
  EXPECT_EQ(records[0]["details"]["from"], "active");
  EXPECT_EQ(Audited("client.resume").size(), 1u);
  EXPECT_EQ(Audited("client.revoke").size(), 1u);
}

// A service certificate over the API: recorded, listed, usable at once by its role, revocable.
TEST_F(ClientAdminApiTest, ServiceCertificatesAreIssuedRecordedAndRevocable) {
  const std::string issue = "/api/v1/admin/service-certificates";
  for (const auto& [body, code, field] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"{}", "MISSING_FIELD", "role"},
           {R"({"role":"root"})", "INVALID_REQUEST", "role"},
           {R"({"role":"proxy","dns_names":"localhost"})", "INVALID_REQUEST", "dns_names"},
           {R"({"role":"proxy","dns_names":[""]})", "INVALID_REQUEST", "dns_names"},
           {R"({"role":"proxy","dns_names":["bad name"]})", "INVALID_REQUEST", "dns_names"},
           {R"({"role":"proxy","ip_addresses":["1.2.3"]})", "INVALID_REQUEST", "ip_addresses"},
           {R"({"role":"proxy","dns_names":[],"ip_addresses":[]})", "INVALID_REQUEST", "dns_names"},
           {R"({"role":"proxy","days":0})", "INVALID_REQUEST", "days"},
           {R"({"role":"proxy","domain":"x"})", "INVALID_REQUEST", "domain"}}) {
    EXPECT_EQ(ErrorField(issue, body, 400, code), field) << body;
  }
  const std::string list = "/api/v1/admin/certificates?kind=service";
  EXPECT_EQ(Call(net::http::verb::get, list, "", 200)["total"], 5);  // up's five, nothing more

  auto issued = Post(
      issue,
      R"({"role":"admin","dns_names":["ops.internal"],"ip_addresses":["127.0.0.1"],"days":30,"pkcs12_password":"pw"})",
      201);
  EXPECT_EQ(issued["certificate"]["kind"], "service");
  EXPECT_EQ(issued["certificate"]["owner"], "admin");
  EXPECT_EQ(issued["certificate"]["domain"], "ops.internal");
  EXPECT_TRUE(issued["bundle"]["pkcs12_base64"].is_string());
  EXPECT_EQ(Call(net::http::verb::get, list, "", 200)["total"], 6);
  auto records = Audited("certificate.issue");
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back()["details"]["role"], "admin");
  EXPECT_EQ(records.back()["details"]["dns"], nlohmann::json::array({"ops.internal"}));

  // The new admin certificate works on the admin API, until it is revoked.
  const auto tls = BundleTls("ops-admin", issued["bundle"]);
  auto status = [&] {
    auto r = MainServer(tls).Get(list);
    return r ? r->result_int() : 0u;
  };
  EXPECT_EQ(status(), 200u);
  const auto fingerprint = issued["certificate"]["fingerprint_sha256"].get<std::string>();
  Post("/api/v1/admin/certificates/" + fingerprint + "/revoke", R"({"reason":"superseded"})", 200);
  EXPECT_TRUE(WaitFor([&] { return status() == 403u; }, 5s, 50ms));
}

// Without the CA key nothing can be issued, and the API says why; status changes still work.
class ClientAdminWithoutCaKeyTest : public ClientAdminApiTest {
  void Configure(cli::EmbeddedOptions& options) override { options.publish_crl = false; }
};

TEST_F(ClientAdminWithoutCaKeyTest, IssueAndRenewAre503) {
  EXPECT_EQ(ErrorField(kClients, R"({"client_id":"acme","domain":"acme.example"})", 503,
                       "SERVICE_UNAVAILABLE"),
            "");
  EXPECT_EQ(ErrorField(std::string(kClients) + "/demo/renew", "{}", 503, "SERVICE_UNAVAILABLE"),
            "");
  EXPECT_EQ(ErrorField("/api/v1/admin/service-certificates", R"({"role":"proxy"})", 503,
                       "SERVICE_UNAVAILABLE"),
            "");
  EXPECT_EQ(Post(std::string(kClients) + "/demo/suspend", "", 200)["status"], "suspended");
}

}  // namespace
}  // namespace msgbroker::testing
