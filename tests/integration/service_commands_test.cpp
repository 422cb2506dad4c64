// `msgbroker main-server|proxy --config` and `admin migrate` as an operator runs them: the real
// binary with a YAML configuration, checked from outside with curl.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "msgbroker/cli/data_dir.hpp"
#include "msgbroker/core/clock.hpp"
#include "test_support.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

void WriteFile(const fs::path& path, const std::string& content) { std::ofstream(path) << content; }

// A bootstrapped data directory supplies the certificates, keys and SQLite database.
struct ServiceFixture {
  TempDir tmp;
  cli::DataDirLayout layout;
  fs::path config = tmp / "main-server.yaml";

  ServiceFixture() {
    auto dir = cli::OpenOrCreateDataDir(tmp / "data", SystemClock::Instance());
    EXPECT_TRUE(dir) << dir.error().message;
    if (dir) layout = dir->layout;
    WriteFile(tmp / "database-url", "sqlite://" + layout.database().string() + "\n");
    fs::permissions(tmp / "database-url", fs::perms::owner_read | fs::perms::owner_write);
    WriteFile(config, MainServerYaml(""));
  }

  std::string MainServerYaml(const std::string& extra) const {
    const auto role = pki::ServiceRole::kMainServer;
    return "main_server:\n"
           "  listen: {host: 127.0.0.1, port: 0, io_threads: 1}\n"
           "  tls:\n"
           "    cert_file: " +
           layout.service_cert(role).string() +
           "\n    key_file: " + layout.service_key(role).string() +
           "\n    ca_file: " + layout.ca_cert().string() +
           "\n  database: {url_file: " + (tmp / "database-url").string() +
           "}\n"
           "  secrets:\n"
           "    key_ring_file: " +
           layout.key_ring().string() +
           "\n    sender_hmac_key_file: " + layout.sender_key().string() +
           "\n    envelope_public_key_file: " + layout.envelope_public_key().string() +
           "\n    envelope_secret_key_file: " + layout.envelope_secret_key().string() + "\n" +
           extra;
  }
};

// The port a starting service announces, or 0 when it did not come up within a minute.
int WaitForPort(ChildProcess& server) {
  auto out = server.WaitForOutput("is up on port", 60s);
  std::smatch m;
  if (!out || !std::regex_search(*out, m, std::regex(R"(is up on port (\d+))"))) return 0;
  return std::stoi(m[1].str());
}

TEST(ServiceCommandsTest, MainServerServesHealthOverHttpsAndStopsOnSigterm) {
  ServiceFixture f;
  ChildProcess server(MsgbrokerBinary(), {"main-server", "--config", f.config.string()});
  const int port = WaitForPort(server);
  ASSERT_GT(port, 0) << server.output();

  const std::string curl = "curl -sS --cacert " + f.layout.ca_cert().string() +
                           " https://127.0.0.1:" + std::to_string(port);
  auto [rc, ready] = RunShell(curl + "/readyz -o /dev/null -w '%{http_code}'");
  EXPECT_EQ(rc, 0) << ready;
  EXPECT_EQ(ready, "200");
  auto [hc, health] = RunShell(curl + "/health");
  EXPECT_EQ(hc, 0) << health;
  EXPECT_NE(health.find("\"status\":\"healthy\""), std::string::npos) << health;
  EXPECT_NE(health.find("\"service\":\"main_server\""), std::string::npos) << health;
  auto [mc, metrics] = RunShell(curl + "/metrics");
  EXPECT_NE(metrics.find("http_requests_total"), std::string::npos) << metrics;

  server.Signal(SIGTERM);
  auto code = server.Wait(30s);
  ASSERT_TRUE(code) << server.output();
  EXPECT_EQ(*code, 0) << server.output();
  EXPECT_NE(server.output().find("Stopped."), std::string::npos) << server.output();
}

// The serial of the certificate a TLS server presents, read with the openssl tool.
std::string ServedSerial(const cli::DataDirLayout& layout, int port) {
  auto [rc, out] =
      RunShell("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile " +
               layout.ca_cert().string() + " 2>/dev/null | openssl x509 -noout -serial");
  return rc == 0 ? out : "error: " + out;
}

// SIGHUP reads the service's certificate files again: a renewed certificate is served to new
// connections without a restart; a broken file is refused and the old certificate stays.
TEST(ServiceCommandsTest, SighupReloadsTheServiceCertificate) {
  ServiceFixture f;
  ChildProcess server(MsgbrokerBinary(), {"main-server", "--config", f.config.string()});
  const int port = WaitForPort(server);
  ASSERT_GT(port, 0) << server.output();
  const std::string before = ServedSerial(f.layout, port);
  ASSERT_EQ(before.rfind("serial=", 0), 0u) << before;

  // Renew: a new certificate for the same role, put in place of the old files.
  const auto renewed = f.tmp / "renewed";
  auto [ic, issued] =
      RunShell(MsgbrokerBinary() + " admin cert issue --role main-server --ca-dir " +
               f.layout.pki_dir().string() + " --out " + renewed.string());
  ASSERT_EQ(ic, 0) << issued;
  const auto role = pki::ServiceRole::kMainServer;
  fs::copy_file(renewed / "main-server.crt", f.layout.service_cert(role),
                fs::copy_options::overwrite_existing);
  fs::copy_file(renewed / "main-server.key", f.layout.service_key(role),
                fs::copy_options::overwrite_existing);
  server.Signal(SIGHUP);
  std::string after;
  EXPECT_TRUE(WaitFor(
      [&] {
        after = ServedSerial(f.layout, port);
        return after.rfind("serial=", 0) == 0 && after != before;
      },
      10s, 100ms))
      << before << " / " << after;

  // A broken certificate file: the reload fails, is logged, and the renewed one is still served.
  WriteFile(f.layout.service_cert(role), "not a certificate\n");
  server.Signal(SIGHUP);
  EXPECT_TRUE(server.WaitForOutput("event=tls_reload_failed", 10s)) << server.output();
  EXPECT_EQ(ServedSerial(f.layout, port), after);

  server.Signal(SIGTERM);
  auto code = server.Wait(30s);
  ASSERT_TRUE(code) << server.output();
  EXPECT_EQ(*code, 0) << server.output();
}

TEST(ServiceCommandsTest, CheckConfigPrintsTheEffectiveConfigWithSecretsRedacted) {
  ServiceFixture f;
  const std::string bin = MsgbrokerBinary();
  auto [ok_code, ok_out] =
      RunShell("env DATABASE_URL='postgresql://mb:s3cret@db.internal/mb' MAIN_SERVER_PORT=9443 " +
               bin + " main-server --config " + f.config.string() + " --check-config");
  EXPECT_EQ(ok_code, 0) << ok_out;
  EXPECT_NE(ok_out.find("url: postgresql://mb:***@db.internal/mb"), std::string::npos) << ok_out;
  EXPECT_NE(ok_out.find("port: 9443"), std::string::npos) << ok_out;
  EXPECT_NE(ok_out.find("configuration ok"), std::string::npos) << ok_out;
  EXPECT_EQ(ok_out.find("s3cret"), std::string::npos) << ok_out;

  fs::permissions(f.layout.key_ring(), fs::perms::others_read, fs::perm_options::add);
  auto [exposed_code, exposed] =
      RunShell(bin + " main-server --config " + f.config.string() + " --check-config");
  EXPECT_EQ(exposed_code, 2) << exposed;
  EXPECT_NE(exposed.find("main_server.secrets.key_ring_file: "), std::string::npos) << exposed;
  EXPECT_NE(exposed.find("readable by group or others"), std::string::npos) << exposed;
}

TEST(ServiceCommandsTest, ABadConfigExitsWithTwoAndNamesTheKeyPath) {
  ServiceFixture f;
  const std::string bin = MsgbrokerBinary();
  WriteFile(f.config, f.MainServerYaml("  listen_typo: {port: 1}\n"));
  auto [code, out] = RunShell(bin + " main-server --config " + f.config.string());
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("main_server.listen_typo: unknown key"), std::string::npos) << out;

  WriteFile(f.config, f.MainServerYaml("  log_level: \"${MSGBROKER_TEST_UNSET_VARIABLE}\"\n"));
  auto [env_code, env_out] = RunShell(bin + " main-server --config " + f.config.string());
  EXPECT_EQ(env_code, 2) << env_out;
  EXPECT_NE(env_out.find("MSGBROKER_TEST_UNSET_VARIABLE is not set"), std::string::npos) << env_out;

  auto [missing_code, missing] =
      RunShell(bin + " portal --config " + (f.tmp / "none.yaml").string());
  EXPECT_EQ(missing_code, 2) << missing;
  EXPECT_NE(missing.find("none.yaml: cannot read"), std::string::npos) << missing;
}

TEST(ServiceCommandsTest, SeparateProxyAndWorkerRefuseTheEmbeddedQueue) {
  TempDir tmp;
  const std::string bin = MsgbrokerBinary();
  WriteFile(tmp / "proxy.yaml", "proxy:\n  queue: {type: embedded}\n");
  auto [code, out] = RunShell(bin + " proxy --config " + (tmp / "proxy.yaml").string());
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("proxy.queue.type: 'embedded' is a single-process queue"), std::string::npos)
      << out;
  WriteFile(tmp / "worker.yaml", "worker: {}\n");
  auto [worker_code, worker_out] =
      RunShell(bin + " worker --config " + (tmp / "worker.yaml").string() + " --check-config");
  EXPECT_EQ(worker_code, 2) << worker_out;
  EXPECT_NE(worker_out.find("worker.queue.type"), std::string::npos) << worker_out;
}

TEST(ServiceCommandsTest, AdminMigratePrintsTheSchemaVersion) {
  ServiceFixture f;
  const std::string bin = MsgbrokerBinary();
  auto [code, out] =
      RunShell(bin + " admin migrate --database-url sqlite://" + (f.tmp / "fresh.db").string());
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(database schema version [1-9]\d*)"))) << out;

  auto [cfg_code, cfg_out] = RunShell(bin + " admin migrate --config " + f.config.string());
  EXPECT_EQ(cfg_code, 0) << cfg_out;
  EXPECT_NE(cfg_out.find("database schema version"), std::string::npos) << cfg_out;

  auto [pg_code, pg_out] =
      RunShell(bin + " admin migrate --database-url postgresql://mb:s3cret@127.0.0.1:1/mb");
  EXPECT_EQ(pg_code, 1) << pg_out;
  EXPECT_NE(pg_out.find("cannot connect to PostgreSQL at 127.0.0.1:1"), std::string::npos)
      << pg_out;
  EXPECT_EQ(pg_out.find("s3cret"), std::string::npos) << pg_out;

  auto [usage_code, usage_out] = RunShell(bin + " admin migrate");
  EXPECT_NE(usage_code, 0) << usage_out;
}

// `msgbroker main-server` with main_server.secrets.ca_cert_file/ca_key_file and audit_log_file
// publishes the CRL and serves the admin certificate API (audited); without them both are 503.
TEST(ServiceCommandsTest, MainServerCrlAndAdminCertificateApiFollowTheConfiguration) {
  ServiceFixture f;
  const auto admin = pki::ServiceRole::kAdmin;
  // The body, then the status code on the last line.
  auto curl = [&](int port, const std::string& path, const std::string& args = "") {
    auto [rc, out] = RunShell(
        "curl -sS -w '\\n%{http_code}' --cacert " + f.layout.ca_cert().string() + " --cert " +
        f.layout.service_cert(admin).string() + " --key " + f.layout.service_key(admin).string() +
        " " + args + " https://127.0.0.1:" + std::to_string(port) + path);
    EXPECT_EQ(rc, 0) << out;
    const auto nl = out.rfind('\n');
    return std::pair{out.substr(nl + 1), out.substr(0, nl)};
  };
  const std::string list = "/api/v1/admin/certificates?kind=client";
  {
    ChildProcess server(MsgbrokerBinary(), {"main-server", "--config", f.config.string()});
    const int port = WaitForPort(server);
    ASSERT_GT(port, 0) << server.output();
    auto [crl_status, crl_body] = curl(port, "/api/v1/crl");
    EXPECT_EQ(crl_status, "503");
    EXPECT_NE(crl_body.find("ca_key_file"), std::string::npos) << crl_body;
    auto [list_status, list_body] = curl(port, list);
    EXPECT_EQ(list_status, "503");
    EXPECT_NE(list_body.find("audit_log_file"), std::string::npos) << list_body;
    server.Signal(SIGTERM);
    ASSERT_TRUE(server.Wait(30s));
  }

  const auto audit_log = f.tmp / "main-server-audit.log";
  WriteFile(f.config, f.MainServerYaml("    ca_cert_file: " + f.layout.ca_cert().string() +
                                       "\n    ca_key_file: " + f.layout.ca_key().string() +
                                       "\n  audit_log_file: " + audit_log.string() + "\n"));
  ChildProcess server(MsgbrokerBinary(), {"main-server", "--config", f.config.string()});
  const int port = WaitForPort(server);
  ASSERT_GT(port, 0) << server.output();
  auto [crl_status, crl_body] = curl(port, "/api/v1/crl");
  EXPECT_EQ(crl_status, "200");
  EXPECT_EQ(crl_body.rfind("-----BEGIN X509 CRL-----", 0), 0u) << crl_body;
  auto [list_status, list_body] = curl(port, list);
  ASSERT_EQ(list_status, "200") << list_body;
  auto listed = nlohmann::json::parse(list_body);
  ASSERT_EQ(listed["total"], 1);  // the demo client
  const auto fingerprint = listed["items"][0]["fingerprint_sha256"].get<std::string>();
  auto [revoke_status, revoke_body] =
      curl(port, "/api/v1/admin/certificates/" + fingerprint + "/revoke",
           "-H 'Content-Type: application/json' -d '{\"reason\":\"privilege-withdrawn\"}'");
  EXPECT_EQ(revoke_status, "200") << revoke_body;
  std::ifstream in(audit_log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"action\":\"certificate.revoke\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"action\":\"certificate.list\""), std::string::npos) << text;
  // The next CRL lists the demo client's certificate.
  const auto crl = f.tmp / "crl.pem";
  const std::string verify = "openssl verify -crl_check -CAfile " + f.layout.ca_cert().string() +
                             " -CRLfile " + crl.string() + " " +
                             (f.layout.client_dir(cli::kDemoClientId) / "client.crt").string();
  EXPECT_TRUE(WaitFor(
      [&] {
        WriteFile(crl, curl(port, "/api/v1/crl").second);
        auto [vrc, vout] = RunShell(verify);
        return vrc != 0 && vout.find("certificate revoked") != std::string::npos;
      },
      10s, 100ms));
  server.Signal(SIGTERM);
  EXPECT_TRUE(server.Wait(30s));
}

}  // namespace
}  // namespace msgbroker::testing
