#include <fmt/format.h>

#include <iostream>

#include "admin_audit.hpp"
#include "certificate_commands.hpp"
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

constexpr auto kPublic =
    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
constexpr auto kPrivate = fs::perms::owner_read | fs::perms::owner_write;

int Report(std::string_view command, const Error& error) {
  std::cerr << "msgbroker admin " << command << ": " << error.message << "\n";
  return 1;
}

Status WriteBundle(const fs::path& dir, const std::string& name,
                   const pki::IssuedCertificate& issued, const std::string& ca_pem) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Fail(ErrorCode::kInvalidRequest, "cannot create " + dir.string() + ": " + ec.message());
  for (const auto& file : {dir / (name + ".crt"), dir / (name + ".key")}) {
    if (fs::exists(file, ec)) {
      return Fail(ErrorCode::kAlreadyExists, file.string() + " already exists; not overwriting it");
    }
  }
  if (auto ok = pki::WriteFileAtomically(dir / (name + ".key"), issued.private_key_pem, kPrivate);
      !ok) {
    return ok;
  }
  if (auto ok = pki::WriteFileAtomically(dir / (name + ".crt"), issued.certificate_pem, kPublic);
      !ok) {
    return ok;
  }
  if (!fs::exists(dir / "ca.crt", ec)) {
    return pki::WriteFileAtomically(dir / "ca.crt", ca_pem, kPublic);
  }
  return Ok();
}

struct CaFlags {
  std::string dir;
  std::string common_name = "msgbroker CA";
  bool rsa = false;
  int days = 3650;
};

int RunCaInit(const CaFlags& f) {
  pki::CaOptions options;
  options.common_name = f.common_name;
  options.validity = std::chrono::days{f.days};
  options.algorithm = f.rsa ? pki::KeyAlgorithm::kRsa3072 : pki::KeyAlgorithm::kEcdsaP256;
  auto ca = pki::CertificateAuthority::Create(options, SystemClock::Instance());
  if (!ca) return Report("ca init", ca.error());
  std::error_code ec;
  fs::create_directories(f.dir, ec);
  if (auto ok = ca->Save(fs::path(f.dir) / "ca.crt", fs::path(f.dir) / "ca.key"); !ok) {
    return Report("ca init", ok.error());
  }
  std::cout << "CA created: " << (fs::path(f.dir) / "ca.crt").string() << "\n"
            << "  subject CN   " << ca->info().subject_cn << "\n"
            << "  fingerprint  " << ca->info().fingerprint_sha256 << "\n"
            << "  valid until  " << FormatTimestamp(ca->info().not_after) << "\n"
            << "Keep ca.key offline or on the main server only (mode 0600)." << std::endl;
  auto details = lifecycle::CertificateDetails(ca->info());
  details["subject_cn"] = ca->info().subject_cn;
  return Audited("ca init", fs::path(f.dir) / "audit.log",
                 {.action = "ca.init",
                  .target = "ca:" + ca->info().fingerprint_sha256,
                  .details = std::move(details)});
}

struct ServiceCertFlags {
  std::string ca_dir;
  std::string out;
  std::string role;
  std::vector<std::string> dns{"localhost"};
  std::vector<std::string> ips{"127.0.0.1"};
  int days = 825;
  std::string data_dir;  // when set, the certificate is recorded in its database
};

int RunServiceIssue(const ServiceCertFlags& f) {
  auto role = pki::ParseRole(f.role);
  if (!role) {
    return Report("cert issue",
                  Error{ErrorCode::kInvalidRequest,
                        "--role must be proxy, worker, main-server, portal or admin"});
  }
  auto ca = pki::CertificateAuthority::Load(fs::path(f.ca_dir) / "ca.crt",
                                            fs::path(f.ca_dir) / "ca.key", SystemClock::Instance());
  if (!ca) return Report("cert issue", ca.error());
  pki::ServiceCertificateRequest request;
  request.role = *role;
  request.dns_names = f.dns;
  request.ip_addresses = f.ips;
  request.validity = std::chrono::days{f.days};
  auto issued = ca->IssueService(request);
  if (!issued) return Report("cert issue", issued.error());
  const std::string name(pki::RoleName(*role));
  if (auto ok = WriteBundle(f.out, name, *issued, ca->certificate_pem()); !ok) {
    return Report("cert issue", ok.error());
  }
  if (!f.data_dir.empty()) {
    if (auto ok = RecordServiceCertificate(f.data_dir, issued->info, *role, f.dns); !ok) {
      return Report("cert issue", ok.error());
    }
  }
  std::cout << "Issued " << name << " certificate " << (fs::path(f.out) / (name + ".crt")).string()
            << "\n  serial       " << issued->info.serial_hex << "\n  fingerprint  "
            << issued->info.fingerprint_sha256 << "\n  valid until  "
            << FormatTimestamp(issued->info.not_after) << std::endl;
  auto details = lifecycle::CertificateDetails(issued->info);
  details["role"] = name;
  details["dns"] = f.dns;
  details["ip"] = f.ips;
  details["recorded"] = !f.data_dir.empty();
  return Audited("cert issue", fs::path(f.ca_dir) / "audit.log",
                 {.action = "certificate.issue",
                  .target = "certificate:" + issued->info.serial_hex,
                  .details = std::move(details)});
}

struct ClientFlags {
  std::string data_dir = "msgbroker-data";
  std::string client_id;
  std::string domain;
  std::string out;
  int days = 365;
};

int RunClientCreate(const ClientFlags& f) {
  const auto& clock = SystemClock::Instance();
  auto id = ClientId::Parse(f.client_id);
  if (!id) {
    return Report("client create", Error{ErrorCode::kInvalidRequest,
                                         "--client-id must be 1-64 of [A-Za-z0-9._-], starting "
                                         "with a letter or digit"});
  }
  auto layout = OpenDataDir(f.data_dir);
  if (!layout) return Report("client create", layout.error());
  auto ca = pki::CertificateAuthority::Load(layout->ca_cert(), layout->ca_key(), clock);
  if (!ca) return Report("client create", ca.error());
  auto db = storage::SqliteDatabase::Open({.path = layout->database()}, clock);
  if (!db) return Report("client create", db.error());
  const fs::path out = f.out.empty() ? layout->client_dir(id->str()) : fs::path(f.out);
  // The bundle is written before the client is registered (lifecycle::IssueClient).
  auto issued = lifecycle::IssueClient(
      *(*db)->clients(), *ca, {*id, f.domain, std::chrono::days{f.days}, {}},
      [&](const pki::IssuedCertificate& c) {
        return WriteBundle(out, "client", c, ca->certificate_pem());
      },
      clock.Now());
  if (!issued) return Report("client create", issued.error());
  std::cout << "Client '" << id->str() << "' registered; certificate bundle in " << out.string()
            << " (client.crt, client.key, ca.crt)\n  fingerprint  "
            << issued->info.fingerprint_sha256 << "\n  valid until  "
            << FormatTimestamp(issued->info.not_after) << std::endl;
  auto details = lifecycle::CertificateDetails(issued->info);
  details["domain"] = f.domain;
  return Audited(
      "client create", layout->audit_log(),
      {.action = "client.create", .target = "client:" + id->str(), .details = std::move(details)});
}

struct ClientStatusFlags {
  std::string data_dir = "msgbroker-data";
  std::string client_id;
  std::string reason;
};

// suspend: blocks sending until resumed; resume: active again (a revoked client stays revoked);
// revoke: for good. Running proxies apply it at their next registry refresh (2 s by default),
// also to requests on connections that are already open: identity is checked per request.
int RunClientStatus(std::string_view verb, storage::ClientStatus target,
                    const ClientStatusFlags& f) {
  const std::string command = "client " + std::string(verb);
  auto id = ClientId::Parse(f.client_id);
  if (!id) return Report(command, Error{ErrorCode::kInvalidRequest, "--client-id is not valid"});
  auto layout = OpenDataDir(f.data_dir);
  if (!layout) return Report(command, layout.error());
  auto db = storage::SqliteDatabase::Open({.path = layout->database()}, SystemClock::Instance());
  if (!db) return Report(command, db.error());
  auto change = lifecycle::ChangeClientStatus(*(*db)->clients(), *id, target);
  if (!change) return Report(command, change.error());
  if (!change->changed()) {
    std::cout << "Client '" << id->str() << "' is already " << storage::ClientStatusName(target)
              << std::endl;
    return 0;
  }
  std::cout << "Client '" << id->str() << "' is now " << storage::ClientStatusName(target)
            << "; running proxies apply it within their registry refresh interval" << std::endl;
  auto details = lifecycle::StatusChangeDetails(*change);
  if (!f.reason.empty()) details["reason"] = f.reason;
  return Audited(command, layout->audit_log(),
                 {.action = "client." + std::string(verb),
                  .target = "client:" + id->str(),
                  .details = std::move(details)});
}

struct ClientLimitFlags {
  std::string data_dir = "msgbroker-data";
  std::string client_id;
  std::int64_t per_second = -1;
  std::int64_t burst = -1;
  bool use_default = false;
  bool unlimited = false;
  std::string reason;
};

std::string DescribeRateLimit(const std::optional<storage::ClientRateLimit>& limit) {
  if (!limit) return "default";
  if (limit->unlimited()) return "unlimited";
  return fmt::format("{}/s burst {}", limit->per_second, limit->burst);
}

// limit: the client's own rate limit (--per-second N --burst N), none at all (--unlimited), or
// the configured proxy.rate_limit again (--default). Running proxies apply it at their next
// registry refresh.
int RunClientLimit(const ClientLimitFlags& f) {
  const std::string command = "client limit";
  auto id = ClientId::Parse(f.client_id);
  if (!id) return Report(command, Error{ErrorCode::kInvalidRequest, "--client-id is not valid"});
  const bool explicit_limit = f.per_second >= 0 || f.burst >= 0;
  if (static_cast<int>(explicit_limit) + static_cast<int>(f.use_default) +
          static_cast<int>(f.unlimited) !=
      1) {
    return Report(command, Error{ErrorCode::kInvalidRequest,
                                 "give either --per-second and --burst, or --default, or "
                                 "--unlimited"});
  }
  std::optional<storage::ClientRateLimit> limit;
  if (f.unlimited) limit = storage::ClientRateLimit{0, 0};
  if (explicit_limit) {
    if (f.per_second < 0 || f.burst < 0) {
      return Report(command,
                    Error{ErrorCode::kInvalidRequest, "--per-second and --burst go together"});
    }
    limit = storage::ClientRateLimit{f.per_second, f.burst};
    if (limit->unlimited()) {
      return Report(command, Error{ErrorCode::kInvalidRequest,
                                   "--per-second must be at least 1 (no limit: --unlimited)"});
    }
    if (auto valid = storage::ValidateClientRateLimit(*limit); !valid) {
      return Report(command, Error{ErrorCode::kInvalidRequest,
                                   "--" + valid.error().field + ": " + valid.error().message});
    }
  }
  auto layout = OpenDataDir(f.data_dir);
  if (!layout) return Report(command, layout.error());
  auto db = storage::SqliteDatabase::Open({.path = layout->database()}, SystemClock::Instance());
  if (!db) return Report(command, db.error());
  auto clients = (*db)->clients();
  auto client = clients->GetClient(*id);
  if (!client) return Report(command, client.error());
  if (!*client) {
    return Report(command, Error{ErrorCode::kNotFound, "no client '" + id->str() + "'"});
  }
  const auto from = (*client)->rate_limit;
  if (auto ok = clients->SetClientRateLimit(*id, limit); !ok) return Report(command, ok.error());
  std::cout << "Client '" << id->str() << "' rate limit: " << DescribeRateLimit(limit)
            << "; running proxies apply it within their registry refresh interval" << std::endl;
  nlohmann::json details = {{"from", DescribeRateLimit(from)}, {"to", DescribeRateLimit(limit)}};
  if (limit && !limit->unlimited()) {
    details["per_second"] = limit->per_second;
    details["burst"] = limit->burst;
  }
  if (!f.reason.empty()) details["reason"] = f.reason;
  return Audited(
      command, layout->audit_log(),
      {.action = "client.limit", .target = "client:" + id->str(), .details = std::move(details)});
}

struct AuditFlags {
  std::string data_dir = "msgbroker-data";
  std::string file;
};

// Exit codes: 0 the chain is intact, 2 it is broken (tampering), 1 the log cannot be read.
int RunAuditVerify(const AuditFlags& f) {
  fs::path log = f.file;
  if (log.empty()) {
    auto layout = OpenDataDir(f.data_dir);
    if (!layout) return Report("audit verify", layout.error());
    log = layout->audit_log();
  }
  auto v = audit::VerifyAuditLog(log);
  if (!v) return Report("audit verify", v.error());
  if (!v->ok) {
    std::cout << "TAMPERED: " << log.string() << " line " << v->bad_line << ": " << v->problem
              << "\n  the " << v->records << " records before it are intact; head " << v->head_hash
              << std::endl;
    return 2;
  }
  std::cout << "OK: " << log.string() << ": " << v->records << " records, chain intact\n"
            << "  head " << v->head_hash
            << "\n  (keep this head elsewhere: a log cut short is only detectable against it)"
            << std::endl;
  return 0;
}

int RunClientList(const std::string& data_dir) {
  const auto& clock = SystemClock::Instance();
  auto layout = OpenDataDir(data_dir);
  if (!layout) return Report("client list", layout.error());
  auto db = storage::SqliteDatabase::Open({.path = layout->database()}, clock);
  if (!db) return Report("client list", db.error());
  auto identities = (*db)->clients()->ListIdentities();
  if (!identities) return Report("client list", identities.error());
  std::cout << fmt::format("{:<20} {:<20} {:<10} {:<10} {:<24} {:<32} {:<64} {}\n", "CLIENT",
                           "DOMAIN", "STATUS", "CERT", "EXPIRES", "SERIAL", "FINGERPRINT",
                           "RATE_LIMIT");
  for (const auto& i : *identities) {
    std::cout << fmt::format(
        "{:<20} {:<20} {:<10} {:<10} {:<24} {:<32} {:<64} {}\n", i.client.id.str(), i.client.domain,
        storage::ClientStatusName(i.client.status),
        storage::CertificateStatusName(i.certificate.status),
        FormatTimestamp(i.certificate.not_after), i.certificate.serial_hex,
        i.certificate.fingerprint_sha256, DescribeRateLimit(i.client.rate_limit));
  }
  return 0;
}

}  // namespace

void RegisterAdminCommands(CLI::App& app, std::function<int()>& run) {
  auto* admin = app.add_subcommand("admin", "Operator commands");
  admin->require_subcommand(1);

  auto* ca = admin->add_subcommand("ca", "Certificate authority");
  ca->require_subcommand(1);
  auto ca_flags = std::make_shared<CaFlags>();
  auto* init = ca->add_subcommand("init", "Create a new CA (ca.crt, ca.key) in a directory");
  init->add_option("--dir", ca_flags->dir, "Directory for ca.crt and ca.key")->required();
  init->add_option("--common-name", ca_flags->common_name, "CA subject CN")->capture_default_str();
  init->add_option("--days", ca_flags->days, "Validity in days")
      ->check(CLI::Range(1, 36500))
      ->capture_default_str();
  init->add_flag("--rsa", ca_flags->rsa, "RSA-3072 instead of ECDSA P-256");
  init->callback([ca_flags, &run] { run = [ca_flags] { return RunCaInit(*ca_flags); }; });

  auto* cert = admin->add_subcommand("cert", "Service certificates");
  cert->require_subcommand(1);
  auto svc = std::make_shared<ServiceCertFlags>();
  auto* issue = cert->add_subcommand("issue", "Issue a service certificate for a role");
  issue->add_option("--role", svc->role, "proxy, worker, main-server, portal or admin")->required();
  issue->add_option("--ca-dir", svc->ca_dir, "Directory holding ca.crt and ca.key")->required();
  issue->add_option("--out", svc->out, "Output directory (<role>.crt, <role>.key, ca.crt)")
      ->required();
  issue->add_option("--dns", svc->dns, "DNS names (repeatable)")->capture_default_str();
  issue->add_option("--ip", svc->ips, "IP addresses (repeatable)")->capture_default_str();
  issue->add_option("--days", svc->days, "Validity in days")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  issue->add_option("--data-dir", svc->data_dir,
                    "Record the certificate in this data directory (admin cert list/revoke)");
  issue->callback([svc, &run] { run = [svc] { return RunServiceIssue(*svc); }; });

  auto* client = admin->add_subcommand("client", "Registered clients");
  client->require_subcommand(1);
  auto cf = std::make_shared<ClientFlags>();
  auto* create = client->add_subcommand(
      "create", "Register a client and issue its certificate (key generated here)");
  create->add_option("--data-dir", cf->data_dir, "Data directory")->capture_default_str();
  create->add_option("--client-id", cf->client_id, "Client id")->required();
  create->add_option("--domain", cf->domain, "Client's domain")->required();
  create->add_option("--out", cf->out, "Bundle directory (default <data-dir>/clients/<id>)");
  create->add_option("--days", cf->days, "Validity in days")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  create->callback([cf, &run] { run = [cf] { return RunClientCreate(*cf); }; });
  auto list_dir = std::make_shared<std::string>("msgbroker-data");
  auto* list = client->add_subcommand("list", "List clients and their certificates");
  list->add_option("--data-dir", *list_dir, "Data directory")->capture_default_str();
  list->callback([list_dir, &run] { run = [list_dir] { return RunClientList(*list_dir); }; });

  struct StatusVerb {
    const char* name;
    const char* help;
    storage::ClientStatus status;
  };
  for (const StatusVerb& v :
       {StatusVerb{"suspend", "Block a client from sending until it is resumed",
                   storage::ClientStatus::kSuspended},
        StatusVerb{"resume", "Let a suspended client send again", storage::ClientStatus::kActive},
        StatusVerb{"revoke", "Revoke a client for good", storage::ClientStatus::kRevoked}}) {
    auto sf = std::make_shared<ClientStatusFlags>();
    auto* sub = client->add_subcommand(v.name, v.help);
    sub->add_option("--data-dir", sf->data_dir, "Data directory")->capture_default_str();
    sub->add_option("--client-id", sf->client_id, "Client id")->required();
    sub->add_option("--reason", sf->reason, "Why (kept in the audit log)");
    sub->callback([sf, &run, verb = std::string(v.name), status = v.status] {
      run = [sf, verb, status] { return RunClientStatus(verb, status, *sf); };
    });
  }

  auto lf = std::make_shared<ClientLimitFlags>();
  auto* limit = client->add_subcommand(
      "limit", "Set a client's own rate limit, no limit, or the configured default again");
  limit->add_option("--data-dir", lf->data_dir, "Data directory")->capture_default_str();
  limit->add_option("--client-id", lf->client_id, "Client id")->required();
  auto* per_second = limit->add_option("--per-second", lf->per_second, "Messages per second");
  auto* burst = limit->add_option("--burst", lf->burst, "Bucket size in messages");
  per_second->needs(burst);
  burst->needs(per_second);
  auto* use_default =
      limit->add_flag("--default", lf->use_default, "Back to the configured proxy.rate_limit");
  auto* unlimited = limit->add_flag("--unlimited", lf->unlimited, "No limit for this client");
  use_default->excludes(per_second)->excludes(unlimited);
  unlimited->excludes(per_second);
  limit->add_option("--reason", lf->reason, "Why (kept in the audit log)");
  limit->callback([lf, &run] { run = [lf] { return RunClientLimit(*lf); }; });

  auto* audit_cmd = admin->add_subcommand("audit", "The hash-chained audit log");
  audit_cmd->require_subcommand(1);
  auto af = std::make_shared<AuditFlags>();
  auto* verify = audit_cmd->add_subcommand(
      "verify", "Check every record of the audit log; exit 2 and name the first bad record");
  verify->add_option("--data-dir", af->data_dir, "Data directory (its pki/audit.log)")
      ->capture_default_str();
  verify->add_option("--file", af->file, "An audit log file (e.g. <ca-dir>/audit.log)");
  verify->callback([af, &run] { run = [af] { return RunAuditVerify(*af); }; });

  RegisterCertificateCommands(*admin, run);
}

}  // namespace msgbroker::cli
