// Certificate lifecycle commands (docs/adr/0009-certificate-lifecycle.md):
//   admin client issue | sign-csr | renew
//   admin cert revoke | list
//   admin crl
// They work on a data directory's SQLite database and CA, like the other admin commands, and
// record every action in <data-dir>/pki/audit.log.

#include "certificate_commands.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>

#include "admin_audit.hpp"
#include "msgbroker/audit/audit_log.hpp"
#include "msgbroker/cli/commands.hpp"
#include "msgbroker/cli/data_dir.hpp"
#include "msgbroker/core/time_format.hpp"
#include "msgbroker/lifecycle/client_lifecycle.hpp"
#include "msgbroker/pki/certificate_authority.hpp"
#include "msgbroker/storage/sqlite_database.hpp"

namespace msgbroker::cli {

namespace fs = std::filesystem;

namespace {

using std::chrono::days;

constexpr auto kPublic =
    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
constexpr auto kPrivate = fs::perms::owner_read | fs::perms::owner_write;
constexpr std::size_t kMaxInputFile = 64 * 1024;

int Report(std::string_view command, const Error& error) {
  std::cerr << "msgbroker admin " << command << ": " << error.message << "\n";
  return 1;
}

tl::unexpected<Error> Invalid(std::string message) {
  return tl::unexpected(Error{ErrorCode::kInvalidRequest, std::move(message)});
}

Result<std::string> ReadInputFile(const fs::path& path, std::string_view what) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec)
    return Invalid("cannot read " + std::string(what) + " '" + path.string() +
                   "': " + ec.message());
  if (size > kMaxInputFile) {
    return Invalid(std::string(what) + " '" + path.string() + "' is larger than 64 KiB");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Invalid("cannot open " + std::string(what) + " '" + path.string() + "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The PKCS#12 password: the file's first line (a trailing newline is not part of it).
Result<std::string> ReadPassword(const fs::path& path) {
  auto text = ReadInputFile(path, "password file");
  if (!text) return text;
  const auto end = text->find_first_of("\r\n");
  std::string password = text->substr(0, end);
  OPENSSL_cleanse(text->data(), text->size());
  if (password.empty()) return Invalid("password file '" + path.string() + "' is empty");
  return password;
}

// The data directory's database with due renewal overlaps applied (see RevokeDue).
struct Opened {
  DataDirLayout layout;
  std::shared_ptr<storage::SqliteDatabase> db;
  std::shared_ptr<storage::CertificateStore> certificates;
};

Result<Opened> Open(const std::string& data_dir) {
  auto layout = OpenDataDir(data_dir);
  if (!layout) return tl::unexpected(layout.error());
  auto db = storage::SqliteDatabase::Open({.path = layout->database()}, SystemClock::Instance());
  if (!db) return tl::unexpected(db.error());
  auto certificates = (*db)->certificates();
  if (auto due = certificates->RevokeDue(SystemClock::Instance().Now()); !due) {
    return tl::unexpected(due.error());
  }
  return Opened{std::move(*layout), std::move(*db), std::move(certificates)};
}

Result<pki::CertificateAuthority> LoadCa(const Opened& opened, const Clock& clock) {
  return pki::CertificateAuthority::Load(opened.layout.ca_cert(), opened.layout.ca_key(), clock);
}

// What issuing and renewing a client certificate start from: the CSR named by --csr (empty
// without it), the data directory and its CA.
struct Issuing {
  std::string csr;
  Opened opened;
  pki::CertificateAuthority ca;
};

Result<Issuing> OpenForIssuing(const std::string& data_dir, const std::string& csr_file,
                               const Clock& clock) {
  std::string csr;
  if (!csr_file.empty()) {
    auto read = ReadInputFile(csr_file, "CSR file");
    if (!read) return tl::unexpected(read.error());
    csr = std::move(*read);
  }
  auto opened = Open(data_dir);
  if (!opened) return tl::unexpected(opened.error());
  auto ca = LoadCa(*opened, clock);
  if (!ca) return tl::unexpected(ca.error());
  return Issuing{std::move(csr), std::move(*opened), std::move(*ca)};
}

struct BundleFlags {
  std::string out;           // directory for client.crt, client.key, ca.crt
  std::string p12;           // optional PKCS#12 file
  std::string p12_password;  // file holding its password
};

// Writes what the client needs: PEM files (the key only when generated here, 0600) and, when
// asked, a PKCS#12 bundle (0600). Refuses to overwrite anything.
Status WriteClientFiles(const fs::path& dir, const BundleFlags& flags,
                        const pki::IssuedCertificate& issued, const std::string& ca_pem,
                        const std::string& client_id) {
  std::string password;
  if (!flags.p12.empty()) {
    if (issued.private_key_pem.empty()) {
      return Invalid("--p12 needs a key generated here; a CSR's key stays with its owner");
    }
    if (flags.p12_password.empty()) return Invalid("--p12 needs --p12-password-file");
    auto read = ReadPassword(flags.p12_password);
    if (!read) return tl::unexpected(read.error());
    password = std::move(*read);
  }
  std::error_code ec;
  std::vector<fs::path> targets = {dir / "client.crt", dir / "ca.crt"};
  if (!issued.private_key_pem.empty()) targets.push_back(dir / "client.key");
  if (!flags.p12.empty()) targets.emplace_back(flags.p12);
  for (const auto& file : targets) {
    if (fs::exists(fs::symlink_status(file, ec))) {
      OPENSSL_cleanse(password.data(), password.size());
      return Fail(ErrorCode::kAlreadyExists, file.string() + " already exists; not overwriting it");
    }
  }
  fs::create_directories(dir, ec);
  if (ec) return Invalid("cannot create " + dir.string() + ": " + ec.message());
  if (!flags.p12.empty()) {
    auto bundle = pki::MakePkcs12(issued.certificate_pem, issued.private_key_pem, ca_pem, password,
                                  client_id);
    OPENSSL_cleanse(password.data(), password.size());
    if (!bundle) return tl::unexpected(bundle.error());
    if (auto ok = pki::WriteFileAtomically(flags.p12, *bundle, kPrivate); !ok) return ok;
  }
  if (!issued.private_key_pem.empty()) {
    if (auto ok = pki::WriteFileAtomically(dir / "client.key", issued.private_key_pem, kPrivate);
        !ok) {
      return ok;
    }
  }
  if (auto ok = pki::WriteFileAtomically(dir / "client.crt", issued.certificate_pem, kPublic);
      !ok) {
    return ok;
  }
  return pki::WriteFileAtomically(dir / "ca.crt", ca_pem, kPublic);
}

// ---- client issue / sign-csr -------------------------------------------------------------------

struct IssueFlags {
  std::string data_dir = "msgbroker-data";
  std::string client_id;
  std::string domain;
  std::string csr;  // sign-csr
  int days = 365;
  BundleFlags bundle;
};

// A new client and its first certificate: key generated here (issue) or from a CSR (sign-csr).
int RunIssue(std::string_view command, const IssueFlags& f) {
  const auto& clock = SystemClock::Instance();
  auto id = ClientId::Parse(f.client_id);
  if (!id) {
    return Report(command, Error{ErrorCode::kInvalidRequest,
                                 "--client-id must be 1-64 of [A-Za-z0-9._-], starting with a "
                                 "letter or digit"});
  }
  auto issuing = OpenForIssuing(f.data_dir, f.csr, clock);
  if (!issuing) return Report(command, issuing.error());
  const auto& csr = issuing->csr;
  const Opened& opened = issuing->opened;
  const pki::CertificateAuthority& ca = issuing->ca;
  const fs::path out =
      f.bundle.out.empty() ? opened.layout.client_dir(id->str()) : fs::path(f.bundle.out);
  auto clients = opened.db->clients();
  auto issued = lifecycle::IssueClient(
      *clients, ca, {*id, f.domain, days{f.days}, csr},
      [&](const pki::IssuedCertificate& c) {
        return WriteClientFiles(out, f.bundle, c, ca.certificate_pem(), id->str());
      },
      clock.Now());
  if (!issued) return Report(command, issued.error());
  std::cout << "Client '" << id->str() << "' registered; certificate in " << out.string()
            << (csr.empty() ? " (client.crt, client.key, ca.crt)" : " (client.crt, ca.crt)")
            << (f.bundle.p12.empty() ? "" : "\n  PKCS#12      " + f.bundle.p12)
            << "\n  serial       " << issued->info.serial_hex << "\n  fingerprint  "
            << issued->info.fingerprint_sha256 << "\n  valid until  "
            << FormatTimestamp(issued->info.not_after) << std::endl;
  auto details = lifecycle::CertificateDetails(issued->info);
  details["domain"] = f.domain;
  details["key"] = csr.empty() ? "generated" : "csr";
  details["pkcs12"] = !f.bundle.p12.empty();
  return Audited(command, opened.layout.audit_log(),
                 {.action = csr.empty() ? "client.issue" : "client.sign-csr",
                  .target = "client:" + id->str(),
                  .details = std::move(details)});
}

// ---- client renew ------------------------------------------------------------------------------

struct RenewFlags {
  std::string data_dir = "msgbroker-data";
  std::string client_id;
  std::string csr;
  int days = 365;
  int overlap_days = 7;
  BundleFlags bundle;
};

// A new certificate for an existing client. Its other active certificates stay valid for the
// overlap period and are then revoked as "superseded" (at once with --overlap-days 0).
int RunRenew(const RenewFlags& f) {
  const std::string_view command = "client renew";
  const auto& clock = SystemClock::Instance();
  auto id = ClientId::Parse(f.client_id);
  if (!id) return Report(command, Error{ErrorCode::kInvalidRequest, "--client-id is not valid"});
  auto issuing = OpenForIssuing(f.data_dir, f.csr, clock);
  if (!issuing) return Report(command, issuing.error());
  const auto& csr = issuing->csr;
  const Opened& opened = issuing->opened;
  const pki::CertificateAuthority& ca = issuing->ca;
  fs::path out = f.bundle.out;
  auto renewal = lifecycle::RenewClient(
      *opened.db->clients(), *opened.certificates, ca,
      {*id, days{f.days}, days{f.overlap_days}, csr},
      [&](const pki::IssuedCertificate& c) {
        if (out.empty()) out = opened.layout.client_dir(id->str()) / c.info.serial_hex;
        return WriteClientFiles(out, f.bundle, c, ca.certificate_pem(), id->str());
      },
      clock.Now());
  if (!renewal) return Report(command, renewal.error());
  const auto& issued = renewal->issued;
  std::cout << "Client '" << id->str() << "' renewed; certificate in " << out.string()
            << (f.bundle.p12.empty() ? "" : "\n  PKCS#12      " + f.bundle.p12)
            << "\n  serial       " << issued.info.serial_hex << "\n  fingerprint  "
            << issued.info.fingerprint_sha256 << "\n  valid until  "
            << FormatTimestamp(issued.info.not_after) << "\n  " << renewal->superseded.size()
            << " older certificate(s) "
            << (f.overlap_days == 0
                    ? "revoked now (superseded)"
                    : "stay valid until " + FormatTimestamp(renewal->superseded_revoked_at) +
                          ", then are revoked (superseded)")
            << std::endl;
  auto details = lifecycle::RenewalDetails(*renewal, days{f.overlap_days});
  details["pkcs12"] = !f.bundle.p12.empty();
  return Audited(
      command, opened.layout.audit_log(),
      {.action = "client.renew", .target = "client:" + id->str(), .details = std::move(details)});
}

// ---- cert revoke -------------------------------------------------------------------------------

struct RevokeFlags {
  std::string data_dir = "msgbroker-data";
  std::string fingerprint;
  std::string serial;
  std::string reason;
};

std::string ReasonNames() {
  return "unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, "
         "cessation-of-operation, privilege-withdrawn";
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

int RunRevoke(const RevokeFlags& f) {
  const std::string_view command = "cert revoke";
  if (f.fingerprint.empty() == f.serial.empty()) {
    return Report(command,
                  Error{ErrorCode::kInvalidRequest, "give exactly one of --fingerprint, --serial"});
  }
  if (!pki::ParseRevocationReason(f.reason)) {
    return Report(command,
                  Error{ErrorCode::kInvalidRequest, "--reason must be one of: " + ReasonNames()});
  }
  auto opened = Open(f.data_dir);
  if (!opened) return Report(command, opened.error());
  // Fingerprints and serials are lowercase hex; accept what openssl(1) prints too.
  std::string key = Lower(f.fingerprint.empty() ? f.serial : f.fingerprint);
  key.erase(std::remove(key.begin(), key.end(), ':'), key.end());
  if (f.fingerprint.empty()) {
    // Stored serials are whole bytes without leading zero bytes (BN_bn2hex): "0a15…", not "a15…".
    key.erase(0, std::min(key.find_first_not_of('0'), key.size()));
    if (key.size() % 2 == 1) key.insert(0, "0");
  }
  auto found = f.fingerprint.empty() ? opened->certificates->FindBySerial(key)
                                     : opened->certificates->FindByFingerprint(key);
  if (!found) return Report(command, found.error());
  if (!*found) {
    return Report(command,
                  Error{ErrorCode::kNotFound,
                        "no certificate with " +
                            std::string(f.fingerprint.empty() ? "serial " : "fingerprint ") + key});
  }
  const storage::CertificateRecord& record = **found;
  const auto now = SystemClock::Instance().Now();
  if (auto ok = opened->certificates->Revoke(record.kind, record.fingerprint_sha256, f.reason, now);
      !ok) {
    return Report(command, ok.error());
  }
  std::cout << "Revoked " << storage::CertificateKindName(record.kind) << " certificate of '"
            << record.owner << "'\n  serial       " << record.serial_hex << "\n  fingerprint  "
            << record.fingerprint_sha256 << "\n  reason       " << f.reason
            << "\nRunning proxies refuse it within their registry refresh interval; run "
               "`msgbroker admin crl` to publish a new CRL."
            << std::endl;
  return Audited(command, opened->layout.audit_log(),
                 {.action = "certificate.revoke",
                  .target = "certificate:" + record.serial_hex,
                  .details = {{"kind", storage::CertificateKindName(record.kind)},
                              {"owner", record.owner},
                              {"fingerprint_sha256", record.fingerprint_sha256},
                              {"reason", f.reason}}});
}

// ---- cert list ---------------------------------------------------------------------------------

struct ListFlags {
  std::string data_dir = "msgbroker-data";
  std::string kind = "client";
  std::string status;
  std::string domain;
  int expiring_within_days = -1;
  std::uint64_t page = 1;
  std::uint64_t page_size = 50;
  bool json = false;
};

nlohmann::json ToJson(const storage::CertificateRecord& r) {
  nlohmann::json out = {
      {"kind", storage::CertificateKindName(r.kind)},
      {"fingerprint_sha256", r.fingerprint_sha256},
      {"serial", r.serial_hex},
      {r.kind == storage::CertificateKind::kClient ? "client_id" : "role", r.owner},
      {r.kind == storage::CertificateKind::kClient ? "domain" : "dns_names", r.domain},
      {"not_before", FormatTimestamp(r.not_before)},
      {"not_after", FormatTimestamp(r.not_after)},
      {"status", storage::CertificateStatusName(r.status)},
      {"created_at", FormatTimestamp(r.created_at)}};
  if (r.revoked_at) out["revoked_at"] = FormatTimestamp(*r.revoked_at);
  if (!r.revocation_reason.empty()) out["revocation_reason"] = r.revocation_reason;
  if (r.revoke_after) out["revoke_after"] = FormatTimestamp(*r.revoke_after);
  return out;
}

int RunList(const ListFlags& f) {
  const std::string_view command = "cert list";
  auto opened = Open(f.data_dir);
  if (!opened) return Report(command, opened.error());
  const auto now = SystemClock::Instance().Now();
  storage::CertificateQuery query;
  query.kind =
      f.kind == "service" ? storage::CertificateKind::kService : storage::CertificateKind::kClient;
  if (!f.status.empty()) {
    query.status = f.status == "revoked" ? storage::CertificateStatus::kRevoked
                                         : storage::CertificateStatus::kActive;
  }
  if (!f.domain.empty()) query.domain = f.domain;
  if (f.expiring_within_days >= 0) {
    query.not_after_from = now;
    query.not_after_to = now + days{f.expiring_within_days};
  }
  query.page = f.page;
  query.page_size = f.page_size;
  auto page = opened->certificates->List(query);
  if (!page) return Report(command, page.error());
  if (f.json) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& item : page->items) items.push_back(ToJson(item));
    std::cout << nlohmann::json{{"items", std::move(items)},
                                {"total", page->total},
                                {"page", page->page},
                                {"page_size", page->page_size}}
                     .dump()
              << std::endl;
    return 0;
  }
  std::cout << fmt::format("{:<8} {:<20} {:<24} {:<9} {:<12} {:<24} {:<32} {}\n", "KIND", "OWNER",
                           "DOMAIN", "STATUS", "REASON", "EXPIRES", "SERIAL", "FINGERPRINT");
  for (const auto& r : page->items) {
    std::cout << fmt::format("{:<8} {:<20} {:<24} {:<9} {:<12} {:<24} {:<32} {}\n",
                             storage::CertificateKindName(r.kind), r.owner, r.domain,
                             storage::CertificateStatusName(r.status),
                             r.revocation_reason.empty() ? "-" : r.revocation_reason,
                             FormatTimestamp(r.not_after), r.serial_hex, r.fingerprint_sha256);
  }
  std::cout << "page " << page->page << ", " << page->items.size() << " of " << page->total
            << std::endl;
  return 0;
}

// ---- crl ---------------------------------------------------------------------------------------

struct CrlFlags {
  std::string data_dir = "msgbroker-data";
  std::string out;
  bool der = false;
  int days = 7;
};

int RunCrl(const CrlFlags& f) {
  const std::string_view command = "crl";
  if (f.der && f.out.empty()) {
    return Report(command, Error{ErrorCode::kInvalidRequest, "--der needs --out FILE"});
  }
  const auto& clock = SystemClock::Instance();
  auto opened = Open(f.data_dir);
  if (!opened) return Report(command, opened.error());
  auto revoked = opened->certificates->ListRevoked();
  if (!revoked) return Report(command, revoked.error());
  auto ca = LoadCa(*opened, clock);
  if (!ca) return Report(command, ca.error());
  pki::CrlRequest request;
  for (const auto& r : *revoked) {
    request.revoked.push_back({r.serial_hex, r.revoked_at.value_or(r.created_at),
                               pki::ParseRevocationReason(r.revocation_reason)
                                   .value_or(pki::RevocationReason::kUnspecified)});
  }
  request.this_update = clock.Now();
  request.validity = days{f.days};
  // Milliseconds since the epoch: grows with every CRL without a counter to keep.
  request.crl_number = static_cast<std::uint64_t>(ToUnixMillis(request.this_update));
  auto crl = ca->MakeCrl(request);
  if (!crl) return Report(command, crl.error());
  if (f.out.empty()) {
    std::cout << crl->pem << std::flush;
  } else {
    if (auto ok = pki::WriteFileAtomically(f.out, f.der ? crl->der : crl->pem, kPublic); !ok) {
      return Report(command, ok.error());
    }
    std::cerr << "CRL number " << request.crl_number << " with " << request.revoked.size()
              << " revoked certificate(s) written to " << f.out << "; next update "
              << FormatTimestamp(request.this_update + request.validity) << std::endl;
  }
  return Audited(
      command, opened->layout.audit_log(),
      {.action = "crl.publish",
       .target = "crl:" + std::to_string(request.crl_number),
       .details = {{"revoked", request.revoked.size()},
                   {"next_update", FormatTimestamp(request.this_update + request.validity)}}});
}

void AddBundleOptions(CLI::App* sub, BundleFlags& bundle, bool p12) {
  sub->add_option("--out", bundle.out, "Output directory");
  if (!p12) return;
  sub->add_option("--p12", bundle.p12, "Also write a PKCS#12 bundle (key, certificate, CA) here");
  sub->add_option("--p12-password-file", bundle.p12_password,
                  "File whose first line is the PKCS#12 password");
}

}  // namespace

Status RecordServiceCertificate(const std::string& data_dir, const pki::CertificateInfo& info,
                                pki::ServiceRole role, const std::vector<std::string>& dns_names) {
  auto opened = Open(data_dir);
  if (!opened) return tl::unexpected(opened.error());
  return opened->certificates->AddServiceCertificate(
      lifecycle::ServiceRecord(info, role, dns_names, SystemClock::Instance().Now()));
}

void RegisterCertificateCommands(CLI::App& admin, std::function<int()>& run) {
  CLI::App* client = admin.get_subcommand("client");
  CLI::App* cert = admin.get_subcommand("cert");

  auto issue = std::make_shared<IssueFlags>();
  auto* issue_cmd = client->add_subcommand(
      "issue", "Register a client and issue its certificate and key (optionally PKCS#12)");
  issue_cmd->add_option("--data-dir", issue->data_dir, "Data directory")->capture_default_str();
  issue_cmd->add_option("--client-id", issue->client_id, "Client id")->required();
  issue_cmd->add_option("--domain", issue->domain, "Client's domain")->required();
  issue_cmd->add_option("--days", issue->days, "Validity in days")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  AddBundleOptions(issue_cmd, issue->bundle, true);
  issue_cmd->callback(
      [issue, &run] { run = [issue] { return RunIssue("client issue", *issue); }; });

  auto sign = std::make_shared<IssueFlags>();
  auto* sign_cmd = client->add_subcommand(
      "sign-csr", "Register a client with a certificate for the key of its PKCS#10 request");
  sign_cmd->add_option("--data-dir", sign->data_dir, "Data directory")->capture_default_str();
  sign_cmd->add_option("--client-id", sign->client_id, "Client id")->required();
  sign_cmd->add_option("--domain", sign->domain, "Client's domain")->required();
  sign_cmd->add_option("--csr", sign->csr, "PEM certificate request")->required();
  sign_cmd->add_option("--days", sign->days, "Validity in days")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  AddBundleOptions(sign_cmd, sign->bundle, false);
  sign_cmd->callback([sign, &run] { run = [sign] { return RunIssue("client sign-csr", *sign); }; });

  auto renew = std::make_shared<RenewFlags>();
  auto* renew_cmd = client->add_subcommand(
      "renew", "New certificate for a client; the old ones are revoked after an overlap");
  renew_cmd->add_option("--data-dir", renew->data_dir, "Data directory")->capture_default_str();
  renew_cmd->add_option("--client-id", renew->client_id, "Client id")->required();
  renew_cmd->add_option("--csr", renew->csr, "Certify the key of this PEM request instead");
  renew_cmd->add_option("--days", renew->days, "Validity in days")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  renew_cmd
      ->add_option("--overlap-days", renew->overlap_days,
                   "Days the old certificates stay valid (0: revoke them now)")
      ->check(CLI::Range(0, 365))
      ->capture_default_str();
  AddBundleOptions(renew_cmd, renew->bundle, true);
  renew_cmd->callback([renew, &run] { run = [renew] { return RunRenew(*renew); }; });

  auto revoke = std::make_shared<RevokeFlags>();
  auto* revoke_cmd =
      cert->add_subcommand("revoke", "Revoke one client or service certificate with a reason");
  revoke_cmd->add_option("--data-dir", revoke->data_dir, "Data directory")->capture_default_str();
  revoke_cmd->add_option("--fingerprint", revoke->fingerprint, "SHA-256 fingerprint (hex)");
  revoke_cmd->add_option("--serial", revoke->serial, "Serial number (hex)");
  revoke_cmd->add_option("--reason", revoke->reason, ReasonNames())->required();
  revoke_cmd->callback([revoke, &run] { run = [revoke] { return RunRevoke(*revoke); }; });

  auto list = std::make_shared<ListFlags>();
  auto* list_cmd = cert->add_subcommand("list", "List client or service certificates");
  list_cmd->add_option("--data-dir", list->data_dir, "Data directory")->capture_default_str();
  list_cmd->add_option("--kind", list->kind, "client or service")
      ->check(CLI::IsMember({"client", "service"}))
      ->capture_default_str();
  list_cmd->add_option("--status", list->status, "active or revoked")
      ->check(CLI::IsMember({"active", "revoked"}));
  list_cmd->add_option("--domain", list->domain, "Client domain");
  list_cmd
      ->add_option("--expiring-within-days", list->expiring_within_days,
                   "Only certificates that expire within N days from now")
      ->check(CLI::Range(0, 36500));
  list_cmd->add_option("--page", list->page, "Page (from 1)")->capture_default_str();
  list_cmd->add_option("--page-size", list->page_size, "Page size (1-500)")->capture_default_str();
  list_cmd->add_flag("--json", list->json, "JSON output");
  list_cmd->callback([list, &run] { run = [list] { return RunList(*list); }; });

  auto crl = std::make_shared<CrlFlags>();
  auto* crl_cmd = admin.add_subcommand("crl", "Write a CRL of every revoked certificate");
  crl_cmd->add_option("--data-dir", crl->data_dir, "Data directory")->capture_default_str();
  crl_cmd->add_option("--out", crl->out, "File to write (default: PEM on stdout)");
  crl_cmd->add_flag("--der", crl->der, "DER instead of PEM (needs --out)");
  crl_cmd->add_option("--days", crl->days, "Days until nextUpdate")
      ->check(CLI::Range(1, 365))
      ->capture_default_str();
  crl_cmd->callback([crl, &run] { run = [crl] { return RunCrl(*crl); }; });
}

}  // namespace msgbroker::cli
