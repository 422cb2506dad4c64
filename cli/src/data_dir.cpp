#include "msgbroker/cli/data_dir.hpp"

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "msgbroker/audit/audit_log.hpp"
#include "msgbroker/core/time_format.hpp"
#include "msgbroker/core/version.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "msgbroker/crypto/key_ring.hpp"
#include "msgbroker/crypto/sender_hasher.hpp"
#include "msgbroker/lifecycle/client_lifecycle.hpp"
#include "msgbroker/pki/certificate_authority.hpp"
#include "msgbroker/storage/sqlite_database.hpp"

namespace msgbroker::cli {

namespace fs = std::filesystem;

namespace {

constexpr int kFormatVersion = 1;
constexpr pki::ServiceRole kServiceRoles[] = {pki::ServiceRole::kMainServer,
                                              pki::ServiceRole::kProxy, pki::ServiceRole::kWorker,
                                              pki::ServiceRole::kPortal, pki::ServiceRole::kAdmin};

Status MakeDir(const fs::path& dir, fs::perms perms) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidRequest,
                "cannot create directory " + dir.string() + ": " + ec.message());
  }
  fs::permissions(dir, perms, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidRequest,
                "cannot set permissions on " + dir.string() + ": " + ec.message());
  }
  return Ok();
}

Status WriteIssued(const pki::IssuedCertificate& issued, const fs::path& cert,
                   const fs::path& key) {
  if (auto ok = pki::WriteFileAtomically(key, issued.private_key_pem,
                                         fs::perms::owner_read | fs::perms::owner_write);
      !ok) {
    return ok;
  }
  return pki::WriteFileAtomically(cert, issued.certificate_pem,
                                  fs::perms::owner_read | fs::perms::owner_write |
                                      fs::perms::group_read | fs::perms::others_read);
}

Status Bootstrap(const DataDirLayout& layout, const Clock& clock) {
  const auto private_dir = fs::perms::owner_all;
  for (const auto& dir :
       {layout.root, layout.pki_dir(), layout.secrets_dir(), layout.database().parent_path(),
        layout.client_dir(kDemoClientId), layout.queue_dir()}) {
    if (auto ok = MakeDir(dir, private_dir); !ok) return ok;
  }

  auto ca = pki::CertificateAuthority::Create(pki::CaOptions{}, clock);
  if (!ca) return tl::unexpected(ca.error());
  if (auto ok = ca->Save(layout.ca_cert(), layout.ca_key()); !ok) return ok;
  // Everything the first run creates is on record, as later CLI actions are.
  const std::string actor = "msgbroker up (first run) by " + audit::LocalOperator();
  auto record = [&](std::string action, std::string target, const pki::CertificateInfo& info,
                    nlohmann::json extra) -> Status {
    extra["serial"] = info.serial_hex;
    extra["fingerprint_sha256"] = info.fingerprint_sha256;
    extra["not_after"] = FormatTimestamp(info.not_after);
    auto ok = audit::AppendAuditEvent(
        layout.audit_log(),
        {actor, std::move(action), std::move(target), "local", std::move(extra)}, clock);
    if (!ok) return tl::unexpected(ok.error());
    return Ok();
  };
  if (auto ok = record("ca.init", "ca:" + ca->info().fingerprint_sha256, ca->info(),
                       {{"subject_cn", ca->info().subject_cn}});
      !ok) {
    return ok;
  }

  std::vector<storage::CertificateRecord> service_records;
  for (const auto role : kServiceRoles) {
    pki::ServiceCertificateRequest request;
    request.role = role;
    auto issued = ca->IssueService(request);
    if (!issued) return tl::unexpected(issued.error());
    service_records.push_back(
        lifecycle::ServiceRecord(issued->info, role, request.dns_names, clock.Now()));
    if (auto ok = WriteIssued(*issued, layout.service_cert(role), layout.service_key(role)); !ok) {
      return ok;
    }
    if (auto ok = record("certificate.issue", "certificate:" + issued->info.serial_hex,
                         issued->info, {{"role", std::string(pki::RoleName(role))}});
        !ok) {
      return ok;
    }
  }

  if (auto ok = crypto::KeyRing::CreateFile(layout.key_ring()); !ok) return ok;
  if (auto ok = crypto::SenderHasher::CreateKeyFile(layout.sender_key()); !ok) return ok;
  if (auto ok =
          crypto::CreateEnvelopeKeyPair(layout.envelope_public_key(), layout.envelope_secret_key());
      !ok) {
    return ok;
  }

  auto db = storage::SqliteDatabase::Open({.path = layout.database()}, clock);
  if (!db) return tl::unexpected(db.error());
  // The service certificates are recorded, so `admin cert list --kind service` shows them.
  for (const auto& service : service_records) {
    if (auto ok = (*db)->certificates()->AddServiceCertificate(service); !ok) return ok;
  }

  // The demo client: a certificate, registered so the proxy accepts it.
  const auto demo_id = *ClientId::Parse(kDemoClientId);
  pki::ClientCertificateRequest request{demo_id, "demo.local"};
  auto demo = ca->IssueClient(request);
  if (!demo) return tl::unexpected(demo.error());
  const auto demo_dir = layout.client_dir(kDemoClientId);
  if (auto ok = WriteIssued(*demo, demo_dir / "client.crt", demo_dir / "client.key"); !ok) {
    return ok;
  }
  if (auto ok = pki::WriteFileAtomically(demo_dir / "ca.crt", ca->certificate_pem(),
                                         fs::perms::owner_read | fs::perms::owner_write |
                                             fs::perms::group_read | fs::perms::others_read);
      !ok) {
    return ok;
  }
  const auto now = clock.Now();
  if (auto ok = (*db)->clients()->CreateClientWithCertificate(
          {demo_id, "demo.local", storage::ClientStatus::kActive, now},
          {demo->info.fingerprint_sha256, demo_id, demo->info.serial_hex, demo->info.not_before,
           demo->info.not_after, storage::CertificateStatus::kActive, now});
      !ok) {
    return ok;
  }
  if (auto ok = record("client.create", "client:" + std::string(kDemoClientId), demo->info,
                       {{"domain", "demo.local"}});
      !ok) {
    return ok;
  }

  const nlohmann::json marker = {{"format", kFormatVersion},
                                 {"created_at", FormatTimestamp(now)},
                                 {"created_by", "msgbroker " + std::string(Version())}};
  return pki::WriteFileAtomically(layout.marker(), marker.dump(2) + "\n",
                                  fs::perms::owner_read | fs::perms::owner_write);
}

Status CheckAccess(const fs::path& root) {
  if (::access(root.c_str(), R_OK | W_OK | X_OK) != 0) {
    return Fail(ErrorCode::kInvalidRequest,
                "data directory " + root.string() + " is not readable and writable by this user");
  }
  return Ok();
}

}  // namespace

fs::path DataDirLayout::service_cert(pki::ServiceRole role) const {
  return pki_dir() / (std::string(pki::RoleName(role)) + ".crt");
}
fs::path DataDirLayout::service_key(pki::ServiceRole role) const {
  return pki_dir() / (std::string(pki::RoleName(role)) + ".key");
}

Result<DataDirLayout> OpenDataDir(const fs::path& root) {
  DataDirLayout layout{fs::absolute(root)};
  std::error_code ec;
  if (!fs::exists(layout.root, ec)) {
    return Fail(ErrorCode::kNotFound, "data directory " + layout.root.string() +
                                          " does not exist (run `msgbroker up` to create one)");
  }
  if (!fs::is_directory(layout.root, ec)) {
    return Fail(ErrorCode::kInvalidRequest, layout.root.string() + " is not a directory");
  }
  if (auto ok = CheckAccess(layout.root); !ok) return tl::unexpected(ok.error());
  std::ifstream in(layout.marker());
  if (!in) {
    return Fail(ErrorCode::kInvalidRequest,
                layout.root.string() + " is not a msgbroker data directory (no msgbroker.json)");
  }
  const auto marker = nlohmann::json::parse(in, nullptr, false);
  if (marker.is_discarded() || !marker.is_object() || marker.value("format", 0) != kFormatVersion) {
    return Fail(ErrorCode::kDataCorrupted,
                layout.marker().string() + " is damaged or from an unsupported version");
  }
  return layout;
}

Result<DataDirStatus> OpenOrCreateDataDir(const fs::path& root, const Clock& clock) {
  const fs::path absolute = fs::absolute(root);
  std::error_code ec;
  const bool exists = fs::exists(absolute, ec);
  if (exists && !fs::is_directory(absolute, ec)) {
    return Fail(ErrorCode::kInvalidRequest, absolute.string() + " exists and is not a directory");
  }
  if (exists) {
    if (auto ok = CheckAccess(absolute); !ok) return tl::unexpected(ok.error());
    if (fs::exists(absolute / "msgbroker.json", ec)) {
      auto layout = OpenDataDir(absolute);
      if (!layout) return tl::unexpected(layout.error());
      return DataDirStatus{*layout, false};
    }
    if (!fs::is_empty(absolute, ec)) {
      return Fail(ErrorCode::kInvalidRequest,
                  absolute.string() +
                      " is not empty and is not a msgbroker data directory; choose another "
                      "--data-dir, or remove it if an earlier first run was interrupted");
    }
  }
  DataDirLayout layout{absolute};
  if (auto ok = Bootstrap(layout, clock); !ok) {
    return Fail(ok.error().code, "bootstrapping " + absolute.string() + ": " + ok.error().message);
  }
  return DataDirStatus{layout, true};
}

}  // namespace msgbroker::cli
