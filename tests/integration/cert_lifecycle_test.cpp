// The certificate lifecycle commands (admin client issue/sign-csr/renew, admin cert
// revoke/list, admin crl) driven as an operator runs them, against a running `msgbroker up`
// whose proxy must refuse what was revoked; openssl(1) checks the PKCS#12 bundle and the CRL.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "up_process.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

fs::perms PermissionsOf(const fs::path& p) { return fs::status(p).permissions() & fs::perms::mask; }

nlohmann::json ListJson(const std::string& bin, const std::string& data, const std::string& args) {
  auto [rc, out] = RunShell(bin + " admin cert list --json --data-dir " + data + " " + args);
  EXPECT_EQ(rc, 0) << out;
  auto doc = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << out;
  return doc;
}

// The SHA-256 fingerprint as msgbroker writes it: lowercase hex without colons.
std::string ReadFingerprint(const fs::path& cert) {
  auto [rc, out] = RunShell("openssl x509 -noout -fingerprint -sha256 -in " + cert.string());
  EXPECT_EQ(rc, 0) << out;
  std::string hex;
  for (const char c : out.substr(out.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return hex;
}

std::string SerialOf(const fs::path& cert) {
  auto [rc, out] = RunShell("openssl x509 -noout -serial -in " + cert.string());
  EXPECT_EQ(rc, 0) << out;
  std::string serial = out.substr(out.find('=') + 1);
  serial.erase(serial.find_last_not_of("\n") + 1);
  for (char& c : serial) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return serial.erase(0, serial.find_first_not_of('0'));
}

class CertLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    up_ = std::make_unique<UpProcess>(data_path());
    ASSERT_TRUE(up_->WaitUntilUp()) << up_->output();
    url_ = "https://127.0.0.1:" + std::to_string(up_->ports.proxy);
  }
  fs::path data_path() const { return tmp_.path() / "data"; }
  std::string data() const { return data_path().string(); }
  std::string Send(const std::string& credentials) const {
    return bin_ + " send --url " + url_ + " " + credentials +
           " --sender +4915112345678 --body 'lifecycle'";
  }
  std::string SendWith(const fs::path& dir, const fs::path& key = {}) const {
    return Send("--cert " + (dir / "client.crt").string() + " --key " +
                (key.empty() ? dir / "client.key" : key).string() + " --ca " +
                (data_path() / "pki" / "ca.crt").string());
  }
  bool EventuallyRefused(const std::string& send, const std::string& code) const {
    return WaitFor(
        [&] {
          auto [rc, text] = RunShell(send);
          return rc == 1 && text.find(code) != std::string::npos;
        },
        15s, 250ms);
  }

  TempDir tmp_;
  std::unique_ptr<UpProcess> up_;
  std::string url_;
  const std::string bin_ = MsgbrokerBinary();
};

TEST_F(CertLifecycleTest, IssueRenewRevokeAndPublishACrl) {
  const fs::path password = tmp_.path() / "p12.pw";
  WriteFile(password, "correct horse\n");
  const fs::path p12 = tmp_.path() / "acme.p12";
  auto [ic, issued] = RunShell(bin_ + " admin client issue --data-dir " + data() +
                               " --client-id acme --domain acme.example --days 30 --p12 " +
                               p12.string() + " --p12-password-file " + password.string());
  ASSERT_EQ(ic, 0) << issued;
  const fs::path first = data_path() / "clients" / "acme";
  EXPECT_EQ(PermissionsOf(first / "client.key"), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(PermissionsOf(p12), fs::perms::owner_read | fs::perms::owner_write);
  // The PKCS#12 opens with the password (and not without it) and holds the key and both certs.
  auto [pc, p12_info] = RunShell("openssl pkcs12 -in " + p12.string() +
                                 " -passin file:" + password.string() + " -nodes 2>&1");
  EXPECT_EQ(pc, 0) << p12_info;
  EXPECT_NE(p12_info.find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_NE(p12_info.find("subject=O = msgbroker, CN = msgbroker CA"), std::string::npos)
      << p12_info;
  auto [wrong_rc, wrong] =
      RunShell("openssl pkcs12 -in " + p12.string() + " -passin pass:wrong -nodes 2>&1");
  EXPECT_NE(wrong_rc, 0) << wrong;
  // A second issue for the same client is refused; renew is the way.
  auto [dup_rc, dup] = RunShell(bin_ + " admin client issue --data-dir " + data() +
                                " --client-id acme --domain acme.example");
  EXPECT_EQ(dup_rc, 1);
  EXPECT_NE(dup.find("already exists; renew it"), std::string::npos) << dup;
  ASSERT_TRUE(WaitFor([&] { return RunShell(SendWith(first)).first == 0; }, 15s, 250ms));

  auto listed = ListJson(bin_, data(), "--domain acme.example");
  ASSERT_EQ(listed["total"], 1) << listed;
  EXPECT_EQ(listed["items"][0]["client_id"], "acme");
  EXPECT_EQ(listed["items"][0]["status"], "active");
  const std::string first_fp = listed["items"][0]["fingerprint_sha256"];
  EXPECT_EQ(ListJson(bin_, data(), "--expiring-within-days 29")["total"], 0);
  EXPECT_EQ(ListJson(bin_, data(), "--expiring-within-days 31")["total"], 1);

  // Renewal without overlap: the old certificate is revoked as superseded at once.
  auto [rc, renewed] = RunShell(bin_ + " admin client renew --data-dir " + data() +
                                " --client-id acme --overlap-days 0");
  ASSERT_EQ(rc, 0) << renewed;
  EXPECT_NE(renewed.find("1 older certificate(s) revoked now (superseded)"), std::string::npos)
      << renewed;
  fs::path second;
  for (const auto& entry : fs::directory_iterator(first)) {
    if (entry.is_directory()) second = entry.path();
  }
  ASSERT_FALSE(second.empty());
  EXPECT_TRUE(EventuallyRefused(SendWith(first), "CLIENT_REVOKED"));
  EXPECT_EQ(RunShell(SendWith(second)).first, 0);
  auto revoked = ListJson(bin_, data(), "--status revoked");
  ASSERT_EQ(revoked["total"], 1) << revoked;
  EXPECT_EQ(revoked["items"][0]["fingerprint_sha256"], first_fp);
  EXPECT_EQ(revoked["items"][0]["revocation_reason"], "superseded");

  // Revoke the new one by serial (openssl's uppercase form is accepted) with a reason.
  const std::string serial = SerialOf(second / "client.crt");
  std::string upper = serial;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto [vc, revoke_out] = RunShell(bin_ + " admin cert revoke --data-dir " + data() + " --serial " +
                                   upper + " --reason key-compromise");
  ASSERT_EQ(vc, 0) << revoke_out;
  EXPECT_TRUE(EventuallyRefused(SendWith(second), "CLIENT_REVOKED"));
  auto [again_rc, again] = RunShell(bin_ + " admin cert revoke --data-dir " + data() +
                                    " --serial " + serial + " --reason unspecified");
  EXPECT_EQ(again_rc, 1);
  EXPECT_NE(again.find("already revoked"), std::string::npos) << again;
  for (const std::string& bad :
       {std::string(" --serial ") + serial + " --reason certificate-hold",
        std::string(" --serial ") + serial + " --fingerprint " + first_fp + " --reason unspecified",
        std::string(" --reason unspecified"), std::string(" --serial 0abc --reason unspecified")}) {
    auto [bad_rc, bad_out] = RunShell(bin_ + " admin cert revoke --data-dir " + data() + bad);
    EXPECT_EQ(bad_rc, 1) << bad << ": " << bad_out;
  }

  // The CRL lists both, with their reasons; openssl refuses both certificates with it.
  const fs::path crl = tmp_.path() / "crl.pem";
  auto [cc, crl_out] =
      RunShell(bin_ + " admin crl --data-dir " + data() + " --out " + crl.string());
  ASSERT_EQ(cc, 0) << crl_out;
  auto [tc, crl_text] = RunShell("openssl crl -noout -text -in " + crl.string());
  ASSERT_EQ(tc, 0) << crl_text;
  EXPECT_NE(crl_text.find("Superseded"), std::string::npos) << crl_text;
  EXPECT_NE(crl_text.find("Key Compromise"), std::string::npos) << crl_text;
  EXPECT_NE(crl_text.find("X509v3 CRL Number"), std::string::npos) << crl_text;
  const std::string ca = (data_path() / "pki" / "ca.crt").string();
  for (const fs::path& cert : {first / "client.crt", second / "client.crt"}) {
    auto [oc, verdict] = RunShell("openssl verify -crl_check -CAfile " + ca + " -CRLfile " +
                                  crl.string() + " " + cert.string());
    EXPECT_NE(oc, 0) << verdict;
    EXPECT_NE(verdict.find("certificate revoked"), std::string::npos) << verdict;
  }
  const fs::path der = tmp_.path() / "crl.der";
  auto [dc, der_out] =
      RunShell(bin_ + " admin crl --der --days 1 --data-dir " + data() + " --out " + der.string());
  ASSERT_EQ(dc, 0) << der_out;
  EXPECT_EQ(RunShell("openssl crl -inform DER -noout -in " + der.string()).first, 0);
  EXPECT_EQ(RunShell(bin_ + " admin crl --der --data-dir " + data()).first, 1);

  auto [ac, audit] = RunShell(bin_ + " admin audit verify --data-dir " + data());
  EXPECT_EQ(ac, 0) << audit;
  const std::string log = ReadFile(data_path() / "pki" / "audit.log");
  for (const char* action :
       {"\"client.issue\"", "\"client.renew\"", "\"certificate.revoke\"", "\"crl.publish\""}) {
    EXPECT_NE(log.find(action), std::string::npos) << action;
  }
  EXPECT_EQ(log.find("correct horse"), std::string::npos);
}

TEST_F(CertLifecycleTest, CsrSigningOverlapRenewalAndServiceCertificates) {
  const fs::path key = tmp_.path() / "own.key";
  const fs::path csr = tmp_.path() / "own.csr";
  auto [gc, gen] = RunShell(
      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-subj /CN=evil -addext subjectAltName=DNS:evil.example -keyout " +
      key.string() + " -out " + csr.string() + " 2>&1");
  ASSERT_EQ(gc, 0) << gen;
  const fs::path out = tmp_.path() / "globex";
  auto [sc, signed_out] = RunShell(bin_ + " admin client sign-csr --data-dir " + data() +
                                   " --client-id globex --domain globex.example --csr " +
                                   csr.string() + " --out " + out.string());
  ASSERT_EQ(sc, 0) << signed_out;
  EXPECT_FALSE(fs::exists(out / "client.key"));  // the key never left its owner
  auto [xc, text] = RunShell("openssl x509 -noout -text -in " + (out / "client.crt").string());
  EXPECT_NE(text.find("URI:urn:msgbroker:client:globex"), std::string::npos) << text;
  EXPECT_EQ(text.find("evil"), std::string::npos) << text;
  ASSERT_TRUE(WaitFor([&] { return RunShell(SendWith(out, key)).first == 0; }, 15s, 250ms));

  // A weak key is refused by name; nothing is registered.
  const fs::path weak = tmp_.path() / "weak.csr";
  ASSERT_EQ(RunShell("openssl req -new -newkey rsa:1024 -nodes -subj /CN=x -keyout " +
                     (tmp_.path() / "weak.key").string() + " -out " + weak.string() + " 2>&1")
                .first,
            0);
  auto [wc, weak_out] = RunShell(bin_ + " admin client sign-csr --data-dir " + data() +
                                 " --client-id weak --domain w.example --csr " + weak.string());
  EXPECT_EQ(wc, 1);
  EXPECT_NE(weak_out.find("1024 bits; at least 2048"), std::string::npos) << weak_out;
  EXPECT_EQ(ListJson(bin_, data(), "--domain w.example")["total"], 0);

  // Renewal with an overlap: both certificates work until the overlap ends.
  const fs::path renewed = tmp_.path() / "globex-2";
  auto [rc, renew_out] = RunShell(bin_ + " admin client renew --data-dir " + data() +
                                  " --client-id globex --overlap-days 3 --out " + renewed.string());
  ASSERT_EQ(rc, 0) << renew_out;
  auto both = ListJson(bin_, data(), "--domain globex.example --status active");
  ASSERT_EQ(both["total"], 2) << both;
  int scheduled = 0;
  for (const auto& item : both["items"]) scheduled += item.contains("revoke_after") ? 1 : 0;
  EXPECT_EQ(scheduled, 1) << both;
  ASSERT_TRUE(WaitFor([&] { return RunShell(SendWith(renewed)).first == 0; }, 15s, 250ms));
  EXPECT_EQ(RunShell(SendWith(out, key)).first, 0);
  auto [nc, none] =
      RunShell(bin_ + " admin client renew --data-dir " + data() + " --client-id nobody");
  EXPECT_EQ(nc, 1);
  EXPECT_NE(none.find("no client 'nobody'"), std::string::npos) << none;

  // A service certificate issued with --data-dir is recorded, listed and revocable.
  auto [ec, issued] =
      RunShell(bin_ + " admin cert issue --role worker --ca-dir " + data() + "/pki --out " +
               (tmp_.path() / "worker").string() + " --data-dir " + data());
  ASSERT_EQ(ec, 0) << issued;
  // `up` recorded the five it created on its first run; the new one is the sixth.
  auto services = ListJson(bin_, data(), "--kind service");
  ASSERT_EQ(services["total"], 6) << services;
  std::string worker_fp;
  std::set<std::string> roles;
  for (const auto& item : services["items"]) {
    roles.insert(item["role"].get<std::string>());
    EXPECT_EQ(item["dns_names"], "localhost");
    if (item["role"] == "worker" &&
        item["fingerprint_sha256"] != ReadFingerprint(data_path() / "pki" / "worker.crt")) {
      worker_fp = item["fingerprint_sha256"];
    }
  }
  EXPECT_EQ(roles, (std::set<std::string>{"admin", "main-server", "portal", "proxy", "worker"}));
  ASSERT_FALSE(worker_fp.empty()) << services;
  EXPECT_EQ(worker_fp, ReadFingerprint(tmp_.path() / "worker" / "worker.crt"));
  auto [vc, revoke_out] =
      RunShell(bin_ + " admin cert revoke --data-dir " + data() + " --fingerprint " + worker_fp +
               " --reason cessation-of-operation");
  ASSERT_EQ(vc, 0) << revoke_out;
  EXPECT_NE(revoke_out.find("Revoked service certificate of 'worker'"), std::string::npos);
  EXPECT_EQ(ListJson(bin_, data(), "--kind service --status revoked")["total"], 1);
  EXPECT_EQ(ListJson(bin_, data(), "--kind service --status active")["total"], 5);
  EXPECT_EQ(ListJson(bin_, data(), "--kind client --status revoked")["total"], 0);

  // Listing errors: a domain filter on service certificates, pages out of range.
  for (const std::string& bad : {std::string("--kind service --domain x"), std::string("--page 0"),
                                 std::string("--page-size 501"), std::string("--status expired")}) {
    auto [bad_rc, bad_out] = RunShell(bin_ + " admin cert list --data-dir " + data() + " " + bad);
    EXPECT_NE(bad_rc, 0) << bad << ": " << bad_out;
  }
  // The demo client of `up` is there too.
  EXPECT_EQ(ListJson(bin_, data(), "")["total"], 3);
  auto page = ListJson(bin_, data(), "--domain globex.example --page 2 --page-size 1");
  EXPECT_EQ(page["total"], 2);
  EXPECT_EQ(page["page"], 2);
  ASSERT_EQ(page["items"].size(), 1u);
  EXPECT_EQ(page["items"][0]["client_id"], "globex");
}

// The running main server of `msgbroker up`: revoking its admin certificate with the CLI makes
// the next requests fail within seconds (no restart), and its CRL endpoint lists the revocation.
TEST_F(CertLifecycleTest, MainServerRefusesARevokedServiceCertificateAndPublishesTheCrl) {
  const auto pki = data_path() / "pki";
  const std::string main_url = "https://127.0.0.1:" + std::to_string(up_->ports.main_server);
  auto curl = [&](const std::string& role, const std::string& path, const fs::path& out) {
    return RunShell("curl -sS -o " + out.string() + " -w '%{http_code}' --cacert " +
                    (pki / "ca.crt").string() + " --cert " + (pki / (role + ".crt")).string() +
                    " --key " + (pki / (role + ".key")).string() + " " + main_url + path);
  };
  const auto body = tmp_.path() / "body";
  const auto crl = tmp_.path() / "crl.pem";
  EXPECT_EQ(curl("admin", "/api/v1/messages", body).second, "200");
  EXPECT_EQ(curl("worker", "/api/v1/crl", crl).second, "200");
  const std::string verify_admin = "openssl verify -crl_check -CAfile " +
                                   (pki / "ca.crt").string() + " -CRLfile " + crl.string() + " " +
                                   (pki / "admin.crt").string();
  auto [ok_rc, ok_out] = RunShell(verify_admin);
  EXPECT_EQ(ok_rc, 0) << ok_out;

  auto [rc, out] = RunShell(bin_ + " admin cert revoke --data-dir " + data() + " --fingerprint " +
                            ReadFingerprint(pki / "admin.crt") + " --reason key-compromise");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(
      WaitFor([&] { return curl("admin", "/api/v1/messages", body).second == "403"; }, 10s, 100ms));
  EXPECT_NE(ReadFile(body).find("CLIENT_REVOKED"), std::string::npos) << ReadFile(body);
  EXPECT_TRUE(WaitFor(
      [&] {
        curl("worker", "/api/v1/crl", crl);
        auto [vrc, vout] = RunShell(verify_admin);
        return vrc != 0 && vout.find("certificate revoked") != std::string::npos;
      },
      10s, 100ms));
}

}  // namespace
}  // namespace msgbroker::testing
