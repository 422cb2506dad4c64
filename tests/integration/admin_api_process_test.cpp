// The admin client API with the real binaries on every database: a separate `msgbroker
// main-server` (SQLite, PostgreSQL or MariaDB) issues a client over HTTPS, and a separate
// `msgbroker proxy` admits it, refuses it while suspended, admits it again once resumed, and after
// a renewal without overlap refuses the old certificate and admits the new one. So PostgreSQL and
// MySQL deployments, which the data-directory CLI does not reach, manage their clients this way.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "deployment.hpp"
#include "msgbroker/pki/certificate_authority.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

class AdminApiProcessTest : public ::testing::TestWithParam<DatabaseKind> {};

TEST_P(AdminApiProcessTest, ClientIssuedSuspendedResumedAndRenewedOverTheApi) {
  DeploymentOptions options;
  options.database = GetParam();
  options.proxies = 1;
  options.workers = 1;
  Deployment deployment(options);
  ASSERT_TRUE(deployment.Start());

  net::HttpsClient admin(
      {true, "127.0.0.1", static_cast<std::uint16_t>(deployment.main_server_port())},
      deployment.Admin(), 30s);
  auto call = [&](const std::string& target, const nlohmann::json& body) {
    net::HttpRequest request{net::http::verb::post, target, 11};
    request.set(net::http::field::content_type, "application/json");
    request.body() = body.dump();
    request.prepare_payload();
    auto r = admin.Send(std::move(request));
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::pair{r->result_int(), nlohmann::json::parse(r->body(), nullptr, false)}
             : std::pair{0u, nlohmann::json()};
  };
  // The bundle's certificate and key as files, and a proxy client presenting them.
  int bundles = 0;
  auto tls_of = [&](const nlohmann::json& bundle) {
    const auto dir = deployment.layout().root / ("bundle-" + std::to_string(++bundles));
    std::filesystem::create_directories(dir);
    const auto perms = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
    EXPECT_TRUE(pki::WriteFileAtomically(dir / "client.crt",
                                         bundle["certificate_pem"].get<std::string>(), perms));
    EXPECT_TRUE(pki::WriteFileAtomically(dir / "client.key",
                                         bundle["private_key_pem"].get<std::string>(), perms));
    return net::TlsClientConfig{deployment.layout().ca_cert(), dir / "client.crt",
                                dir / "client.key"};
  };
  auto status_of = [&](const net::TlsClientConfig& tls) {
    net::HttpsClient proxy(
        {true, "127.0.0.1", static_cast<std::uint16_t>(deployment.proxy_ports()[0])}, tls, 10s);
    net::HttpRequest request{net::http::verb::post, "/api/v1/messages", 11};
    request.set(net::http::field::content_type, "application/json");
    request.body() = R"({"sender_number":"+4915112345678","message_body":"over the admin API"})";
    request.prepare_payload();
    auto r = proxy.Send(std::move(request));
    return r ? r->result_int() : 0u;
  };
  // The proxy re-reads the registry every 2 s.
  auto becomes = [&](const net::TlsClientConfig& tls, unsigned status) {
    return WaitFor([&] { return status_of(tls) == status; }, 10s, 100ms);
  };

  auto [issued_status, issued] =
      call("/api/v1/admin/clients", {{"client_id", "ops"}, {"domain", "ops.example"}});
  ASSERT_EQ(issued_status, 201u) << issued.dump();
  const auto first = tls_of(issued["bundle"]);
  EXPECT_TRUE(becomes(first, 202u)) << deployment.Outputs();

  EXPECT_EQ(call("/api/v1/admin/clients/ops/suspend", {{"reason", "test"}}).first, 200u);
  EXPECT_TRUE(becomes(first, 403u));
  EXPECT_EQ(call("/api/v1/admin/clients/ops/resume", nlohmann::json::object()).first, 200u);
  EXPECT_TRUE(becomes(first, 202u));

  auto [renewed_status, renewed] =
      call("/api/v1/admin/clients/ops/renew", {{"overlap_days", 0}, {"days", 30}});
  ASSERT_EQ(renewed_status, 201u) << renewed.dump();
  EXPECT_EQ(renewed["superseded"].size(), 1u);
  const auto second = tls_of(renewed["bundle"]);
  EXPECT_TRUE(becomes(second, 202u));
  EXPECT_TRUE(becomes(first, 403u));

  auto listed = admin.Get("/api/v1/admin/certificates?domain=ops.example&status=revoked");
  ASSERT_TRUE(listed);
  auto page = nlohmann::json::parse(listed->body(), nullptr, false);
  EXPECT_EQ(page["total"], 1) << listed->body();
  EXPECT_EQ(page["items"][0]["revocation_reason"], "superseded");
  deployment.StopAll();
}

INSTANTIATE_TEST_SUITE_P(Databases, AdminApiProcessTest, AllDatabases(), DatabaseTestName);

}  // namespace
}  // namespace msgbroker::testing
