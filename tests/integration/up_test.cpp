// `msgbroker up`, `send` and `admin` as a new user runs them: the real binary, real curl.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "up_process.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The line of the banner that starts with `prefix` after `heading`.
std::string LineAfter(const std::string& output, const std::string& heading) {
  const auto at = output.find(heading);
  if (at == std::string::npos) return {};
  const auto start = output.find("  curl ", at);
  if (start == std::string::npos) return {};
  return output.substr(start + 2, output.find('\n', start) - start - 2);
}

TEST(UpTest, FirstRunPrintsACurlCommandThatDeliversAMessage) {
  TempDir tmp;
  UpProcess up(tmp.path() / "data");
  ASSERT_TRUE(up.WaitUntilUp()) << up.output();
  EXPECT_NE(up.output().find("new data directory"), std::string::npos);

  const std::string send = LineAfter(up.output(), "Send a message");
  ASSERT_FALSE(send.empty()) << up.output();
  auto [code, out] = RunShell(send + " -sS -w '\\nHTTP %{http_code}'");
  ASSERT_EQ(code, 0) << out;
  ASSERT_NE(out.find("HTTP 202"), std::string::npos) << out;
  auto accepted = nlohmann::json::parse(out.substr(0, out.find("\nHTTP")));
  EXPECT_EQ(accepted["status"], "queued");
  const std::string id = accepted["message_id"];

  const std::string read = LineAfter(up.output(), "Read messages back");
  ASSERT_FALSE(read.empty());
  std::string listing;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto [rc, body] = RunShell(read + " -sS");
        listing = body;
        return rc == 0 && body.find(id) != std::string::npos;
      },
      20s))
      << listing;
  auto doc = nlohmann::json::parse(listing);
  ASSERT_EQ(doc["total"], 1);
  EXPECT_EQ(doc["items"][0]["message_body"], "Hello from msgbroker");
  EXPECT_EQ(doc["items"][0]["status"], "delivered");
  EXPECT_EQ(doc["items"][0]["sender_number_masked"], "+4915****5678");

  const auto ca = (tmp.path() / "data" / "pki" / "ca.crt").string();
  auto [pc, portal] = RunShell("curl -sS --cacert " + ca +
                               " https://127.0.0.1:" + std::to_string(up.ports.portal) + "/");
  EXPECT_EQ(pc, 0);
  EXPECT_NE(portal.find("<h1>msgbroker"), std::string::npos) << portal;
  auto [mc, metrics] =
      RunShell("curl -sS http://127.0.0.1:" + std::to_string(up.ports.worker) + "/metrics");
  EXPECT_EQ(mc, 0);
  EXPECT_NE(metrics.find("worker_messages_processed_total 1"), std::string::npos) << metrics;
  for (int port : {up.ports.proxy, up.ports.main_server, up.ports.portal}) {
    auto [hc, health] = RunShell("curl -sS --cacert " + ca +
                                 " https://127.0.0.1:" + std::to_string(port) + "/health");
    EXPECT_NE(health.find("\"status\":\"healthy\""), std::string::npos) << port << health;
  }

  up.process().Signal(SIGTERM);
  auto exit_code = up.process().Wait(30s);
  ASSERT_TRUE(exit_code) << up.output();
  EXPECT_EQ(*exit_code, 0) << up.output();
  EXPECT_NE(up.output().find("Stopped."), std::string::npos);
}

TEST(UpTest, LaterRunsReuseTheDataDirectory) {
  TempDir tmp;
  std::string ca_before;
  {
    UpProcess first(tmp.path() / "data");
    ASSERT_TRUE(first.WaitUntilUp()) << first.output();
    ca_before = ReadFile(tmp.path() / "data" / "pki" / "ca.crt");
    first.process().Signal(SIGINT);
    ASSERT_EQ(first.process().Wait(30s), 0);
  }
  UpProcess second(tmp.path() / "data");
  ASSERT_TRUE(second.WaitUntilUp()) << second.output();
  EXPECT_EQ(second.output().find("new data directory"), std::string::npos);
  EXPECT_EQ(ReadFile(tmp.path() / "data" / "pki" / "ca.crt"), ca_before);
  // Secrets are private to the owner.
  const auto perms =
      std::filesystem::status(tmp.path() / "data" / "secrets" / "keyring.json").permissions();
  EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
}

TEST(UpTest, SendAndAdminCommands) {
  TempDir tmp;
  const auto data = (tmp.path() / "data").string();
  UpProcess up(data);
  ASSERT_TRUE(up.WaitUntilUp()) << up.output();
  const std::string url = "https://127.0.0.1:" + std::to_string(up.ports.proxy);
  const std::string bin = MsgbrokerBinary();

  auto [rc, out] = RunShell(bin + " send --data-dir " + data + " --url " + url +
                            " --sender +4915112345678 --body 'hi from send'");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("\"status\":\"queued\""), std::string::npos) << out;

  auto [bad_rc, bad_out] =
      RunShell(bin + " send --data-dir " + data + " --url " + url + " --sender 12345 --body x");
  EXPECT_EQ(bad_rc, 1);
  EXPECT_NE(bad_out.find("INVALID_SENDER_NUMBER"), std::string::npos) << bad_out;

  // A new client, registered while the system runs, can send within the refresh interval.
  auto [cc, created] = RunShell(bin + " admin client create --data-dir " + data +
                                " --client-id acme --domain acme.example");
  ASSERT_EQ(cc, 0) << created;
  auto [dup_rc, dup] = RunShell(bin + " admin client create --data-dir " + data +
                                " --client-id acme --domain acme.example");
  EXPECT_EQ(dup_rc, 1);
  EXPECT_NE(dup.find("already exists"), std::string::npos) << dup;
  // The new client can send within the registry refresh interval. Suspension reaches the running
  // proxy the same way; resume undoes it; revocation is final.
  const std::string send_acme = bin + " send --data-dir " + data + " --client acme --url " + url +
                                " --sender +4915112345678 --body 'from acme'";
  ASSERT_TRUE(WaitFor([&] { return RunShell(send_acme).first == 0; }, 15s, 250ms));
  auto [suspend_rc, suspended] = RunShell(bin + " admin client suspend --data-dir " + data +
                                          " --client-id acme --reason 'unpaid invoice'");
  ASSERT_EQ(suspend_rc, 0) << suspended;
  std::string refused;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto [code, text] = RunShell(send_acme);
        refused = text;
        return code == 1 && text.find("CLIENT_SUSPENDED") != std::string::npos;
      },
      15s, 250ms))
      << refused;
  auto [rc2, resumed] =
      RunShell(bin + " admin client resume --data-dir " + data + " --client-id acme");
  ASSERT_EQ(rc2, 0) << resumed;
  EXPECT_TRUE(WaitFor([&] { return RunShell(send_acme).first == 0; }, 15s, 250ms));
  auto [rc3, revoked] = RunShell(bin + " admin client revoke --data-dir " + data +
                                 " --client-id acme --reason 'key leaked'");
  ASSERT_EQ(rc3, 0) << revoked;
  auto [rc4, again] =
      RunShell(bin + " admin client resume --data-dir " + data + " --client-id acme");
  EXPECT_EQ(rc4, 1) << again;
  EXPECT_NE(again.find("that is final"), std::string::npos) << again;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto [code, text] = RunShell(send_acme);
        return code == 1 && text.find("CLIENT_REVOKED") != std::string::npos;
      },
      15s, 250ms));

  // The first run and the new client are on record, and the chain verifies; an edit is caught.
  auto [vc, verified] = RunShell(bin + " admin audit verify --data-dir " + data);
  EXPECT_EQ(vc, 0) << verified;
  EXPECT_NE(verified.find("OK: "), std::string::npos) << verified;
  // ca.init, 5 service certificates and the demo client at the first run, then acme: created,
  // suspended, resumed, revoked.
  EXPECT_NE(verified.find(" 11 records"), std::string::npos) << verified;
  const auto log = std::filesystem::path(data) / "pki" / "audit.log";
  std::string text;
  {
    std::ifstream in(log);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_NE(text.find(R"("action":"client.create")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("target":"client:acme")"), std::string::npos) << text;
  const auto at = text.find("acme.example");
  ASSERT_NE(at, std::string::npos);
  std::string tampered = text;
  tampered.replace(at, 4, "evil");
  std::ofstream(log, std::ios::trunc) << tampered;
  auto [tc, tamper_out] = RunShell(bin + " admin audit verify --data-dir " + data);
  EXPECT_EQ(tc, 2) << tamper_out;
  EXPECT_NE(tamper_out.find("TAMPERED"), std::string::npos) << tamper_out;
  std::ofstream(log, std::ios::trunc) << text;

  auto [lc, listing] = RunShell(bin + " admin client list --data-dir " + data);
  EXPECT_EQ(lc, 0);
  EXPECT_NE(listing.find("acme.example"), std::string::npos) << listing;
  EXPECT_NE(listing.find("demo"), std::string::npos) << listing;
}

// SIGHUP reloads the certificates of every part of `up`, the worker's client certificate too: a
// renewed one is taken, and a broken one is logged and the one in use kept; delivery goes on.
TEST(UpTest, SighupReloadsTheWorkersCertificateAndDeliveryGoesOn) {
  TempDir tmp;
  const auto data = tmp.path() / "data";
  UpProcess up(data);
  ASSERT_TRUE(up.WaitUntilUp()) << up.output();
  const std::string bin = MsgbrokerBinary();
  const std::string send = bin + " send --data-dir " + data.string() +
                           " --url https://127.0.0.1:" + std::to_string(up.ports.proxy) +
                           " --sender +4915112345678 --body 'after reload'";
  const auto delivered = [&](int n) {
    return WaitFor(
        [&] {
          auto [code, metrics] =
              RunShell("curl -sS http://127.0.0.1:" + std::to_string(up.ports.worker) + "/metrics");
          return code == 0 && metrics.find("worker_messages_processed_total " +
                                           std::to_string(n)) != std::string::npos;
        },
        30s, 100ms);
  };

  auto [ic, issued] = RunShell(bin + " admin cert issue --role worker --ca-dir " +
                               (data / "pki").string() + " --out " + tmp.path().string());
  ASSERT_EQ(ic, 0) << issued;
  const auto worker_cert = data / "pki" / "worker.crt";
  ASSERT_TRUE(std::filesystem::exists(worker_cert));
  std::filesystem::copy_file(tmp.path() / "worker.crt", worker_cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(tmp.path() / "worker.key", data / "pki" / "worker.key",
                             std::filesystem::copy_options::overwrite_existing);
  up.process().Signal(SIGHUP);
  EXPECT_TRUE(up.process().WaitForOutput("event=tls_reloaded service=worker", 10s)) << up.output();
  auto [sc, sent] = RunShell(send);
  ASSERT_EQ(sc, 0) << sent;
  EXPECT_TRUE(delivered(1)) << up.output();

  std::ofstream(worker_cert, std::ios::trunc) << "not a certificate\n";
  up.process().Signal(SIGHUP);
  EXPECT_TRUE(up.process().WaitForOutput("event=tls_reload_failed service=worker", 10s))
      << up.output();
  auto [sc2, sent2] = RunShell(send);
  ASSERT_EQ(sc2, 0) << sent2;
  EXPECT_TRUE(delivered(2)) << up.output();
}

// `admin client limit` on a running system: the client's own limit reaches the proxy within the
// registry refresh (429 RATE_LIMITED), `list` shows it, --default lifts it again (`up` configures
// no default limit), every change is in the audit log, and bad flags are refused.
TEST(UpTest, ClientLimitReachesTheRunningProxy) {
  TempDir tmp;
  const auto data = (tmp.path() / "data").string();
  UpProcess up(data);
  ASSERT_TRUE(up.WaitUntilUp()) << up.output();
  const std::string url = "https://127.0.0.1:" + std::to_string(up.ports.proxy);
  const std::string bin = MsgbrokerBinary();
  const std::string limit = bin + " admin client limit --data-dir " + data;
  const std::string send_demo = bin + " send --data-dir " + data + " --url " + url +
                                " --sender +4915112345678 --body 'limited'";
  ASSERT_EQ(RunShell(send_demo).first, 0);

  for (const std::string& bad :
       {std::string(" --client-id demo"), std::string(" --client-id demo --per-second 5"),
        std::string(" --client-id demo --per-second 0 --burst 0"),
        std::string(" --client-id demo --per-second 5 --burst 0"),
        std::string(" --client-id demo --default --per-second 5 --burst 5"),
        std::string(" --client-id demo --default --unlimited"),
        std::string(" --client-id nobody --per-second 5 --burst 5")}) {
    auto [rc, out] = RunShell(limit + bad);
    EXPECT_NE(rc, 0) << bad << ": " << out;
  }
  auto [nc, nobody] = RunShell(limit + " --client-id nobody --default");
  EXPECT_EQ(nc, 1);
  EXPECT_NE(nobody.find("no client 'nobody'"), std::string::npos) << nobody;

  auto [sc, set] =
      RunShell(limit + " --client-id demo --per-second 1 --burst 2 --reason 'too chatty'");
  ASSERT_EQ(sc, 0) << set;
  EXPECT_NE(set.find("1/s burst 2"), std::string::npos) << set;
  std::string refused;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto [code, text] = RunShell(send_demo);
        refused = text;
        return code == 1 && text.find("RATE_LIMITED") != std::string::npos;
      },
      15s, 50ms))
      << refused;
  auto [lc, listing] = RunShell(bin + " admin client list --data-dir " + data);
  EXPECT_EQ(lc, 0);
  EXPECT_NE(listing.find("RATE_LIMIT"), std::string::npos) << listing;
  EXPECT_NE(listing.find("1/s burst 2"), std::string::npos) << listing;

  auto [dc, back] = RunShell(limit + " --client-id demo --default");
  ASSERT_EQ(dc, 0) << back;
  // Three sends in a row need more than the limited bucket (2 + refill at 1/s) can give: once
  // they all pass, the default (no limit under `up`) has reached the proxy.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int i = 0; i < 3; ++i) {
          if (RunShell(send_demo).first != 0) return false;
        }
        return true;
      },
      15s, 250ms));
  for (int i = 0; i < 5; ++i) {
    auto [code, text] = RunShell(send_demo);
    EXPECT_EQ(code, 0) << i << ": " << text;
  }
  auto [uc, unlimited] = RunShell(limit + " --client-id demo --unlimited");
  ASSERT_EQ(uc, 0) << unlimited;
  auto [lc2, listing2] = RunShell(bin + " admin client list --data-dir " + data);
  EXPECT_NE(listing2.find("unlimited"), std::string::npos) << listing2;

  const auto log = std::filesystem::path(data) / "pki" / "audit.log";
  const std::string text = ReadFile(log);
  EXPECT_NE(text.find(R"("action":"client.limit")"), std::string::npos) << text;
  EXPECT_NE(text.find("too chatty"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("to":"default")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("to":"unlimited")"), std::string::npos) << text;
  auto [vc, verified] = RunShell(bin + " admin audit verify --data-dir " + data);
  EXPECT_EQ(vc, 0) << verified;
}

TEST(UpTest, AdminCaInitAndServiceCertificates) {
  TempDir tmp;
  const std::string bin = MsgbrokerBinary();
  const auto dir = (tmp.path() / "ca").string();
  auto [rc, out] = RunShell(bin + " admin ca init --dir " + dir);
  ASSERT_EQ(rc, 0) << out;
  auto [again, again_out] = RunShell(bin + " admin ca init --dir " + dir);
  EXPECT_NE(again, 0) << "must refuse to overwrite a CA";
  auto [ic, issued] = RunShell(bin + " admin cert issue --role worker --ca-dir " + dir + " --out " +
                               (tmp.path() / "worker").string() + " --dns worker.internal");
  ASSERT_EQ(ic, 0) << issued;
  EXPECT_TRUE(std::filesystem::exists(tmp.path() / "worker" / "worker.crt"));
  auto [bc, bad_role] = RunShell(bin + " admin cert issue --role janitor --ca-dir " + dir +
                                 " --out " + (tmp.path() / "x").string());
  EXPECT_EQ(bc, 1);
  EXPECT_NE(bad_role.find("--role"), std::string::npos);
}

TEST(UpTest, OccupiedPortIsAClearError) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);

  TempDir tmp;
  ChildProcess up(MsgbrokerBinary(), {"up", "--data-dir", (tmp.path() / "data").string(),
                                      "--proxy-port", std::to_string(port), "--main-server-port",
                                      "0", "--portal-port", "0", "--worker-metrics-port", "0"});
  auto code = up.Wait(60s);
  ::close(fd);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1);
  EXPECT_NE(up.output().find("proxy"), std::string::npos) << up.output();
  EXPECT_NE(up.output().find(std::to_string(port)), std::string::npos) << up.output();
  EXPECT_NE(up.output().find("in use"), std::string::npos) << up.output();
}

TEST(UpTest, UnusableDataDirectoriesAreClearErrors) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.path() / "busy");
  std::ofstream(tmp.path() / "busy" / "notes.txt") << "mine";
  std::ofstream(tmp.path() / "file") << "not a directory";
  const std::string bin = MsgbrokerBinary();
  auto [c1, o1] = RunShell(bin + " up --data-dir " + (tmp.path() / "busy").string());
  EXPECT_EQ(c1, 1);
  EXPECT_NE(o1.find("is not empty and is not a msgbroker data directory"), std::string::npos) << o1;
  EXPECT_TRUE(std::filesystem::exists(tmp.path() / "busy" / "notes.txt"));
  auto [c2, o2] = RunShell(bin + " up --data-dir " + (tmp.path() / "file").string());
  EXPECT_EQ(c2, 1);
  EXPECT_NE(o2.find("is not a directory"), std::string::npos) << o2;
  auto [c3, o3] = RunShell(bin + " send --data-dir " + (tmp.path() / "missing").string() +
                           " --sender +4915112345678 --body x");
  EXPECT_EQ(c3, 2);
  EXPECT_NE(o3.find("does not exist"), std::string::npos) << o3;
}

TEST(UpTest, BadFlagsAreRejectedWithUsage) {
  const std::string bin = MsgbrokerBinary();
  auto [c1, o1] = RunShell(bin + " up --proxy-port notaport");
  EXPECT_NE(c1, 0);
  EXPECT_NE(o1.find("--proxy-port"), std::string::npos) << o1;
  auto [c2, o2] = RunShell(bin + " up --no-such-flag");
  EXPECT_NE(c2, 0);
  EXPECT_NE(o2.find("no-such-flag"), std::string::npos) << o2;
  auto [c3, o3] = RunShell(bin + " frobnicate");
  EXPECT_NE(c3, 0);
  auto [c4, o4] = RunShell(bin + " up --log-level loud --data-dir /nonexistent/x");
  EXPECT_EQ(c4, 2);
  EXPECT_NE(o4.find("unknown log level 'loud'"), std::string::npos) << o4;
  auto [c5, o5] = RunShell(bin + " --version");
  EXPECT_EQ(c5, 0);
}

}  // namespace
}  // namespace msgbroker::testing
