#include "msgbroker/lifecycle/client_lifecycle.hpp"

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::lifecycle {

namespace {

Status CheckDays(std::chrono::days days, int min, int max, const char* field) {
  if (days.count() < min || days.count() > max) {
    return Fail(
        ErrorCode::kInvalidRequest,
        std::string(field) + " must be from " + std::to_string(min) + " to " + std::to_string(max),
        field);
  }
  return Ok();
}

Result<pki::IssuedCertificate> Sign(const pki::CertificateAuthority& ca,
                                    const pki::ClientCertificateRequest& request,
                                    const std::string& csr_pem) {
  return csr_pem.empty() ? ca.IssueClient(request) : ca.SignClientCsr(request, csr_pem);
}

storage::ClientCertificate Registered(const pki::IssuedCertificate& issued, const ClientId& id,
                                      SystemTime now) {
  return {issued.info.fingerprint_sha256,
          id,
          issued.info.serial_hex,
          issued.info.not_before,
          issued.info.not_after,
          storage::CertificateStatus::kActive,
          now};
}

Result<storage::Client> FindClient(storage::ClientRegistry& clients, const ClientId& id) {
  auto client = clients.GetClient(id);
  if (!client) return tl::unexpected(client.error());
  if (!*client) return Fail(ErrorCode::kNotFound, "no client '" + id.str() + "'");
  return **client;
}

}  // namespace

Result<pki::IssuedCertificate> IssueClient(storage::ClientRegistry& clients,
                                           const pki::CertificateAuthority& ca,
                                           const IssueRequest& request, const Deliver& deliver,
                                           SystemTime now) {
  if (request.domain.empty()) {
    return Fail(ErrorCode::kInvalidRequest, "domain must not be empty", "domain");
  }
  if (auto ok = CheckDays(request.validity, 1, kMaxValidityDays, "days"); !ok) {
    return tl::unexpected(ok.error());
  }
  auto existing = clients.GetClient(request.client_id);
  if (!existing) return tl::unexpected(existing.error());
  if (*existing) {
    return Fail(
        ErrorCode::kAlreadyExists,
        "client '" + request.client_id.str() + "' already exists; renew it for a new certificate",
        "client_id");
  }
  auto issued = Sign(ca, {request.client_id, request.domain, request.validity}, request.csr_pem);
  if (!issued) return issued;
  if (auto ok = deliver(*issued); !ok) return tl::unexpected(ok.error());
  if (auto ok = clients.CreateClientWithCertificate(
          {request.client_id, request.domain, storage::ClientStatus::kActive, now},
          Registered(*issued, request.client_id, now));
      !ok) {
    return tl::unexpected(ok.error());
  }
  return issued;
}

Result<Renewal> RenewClient(storage::ClientRegistry& clients,
                            storage::CertificateStore& certificates,
                            const pki::CertificateAuthority& ca, const RenewRequest& request,
                            const Deliver& deliver, SystemTime now) {
  if (auto ok = CheckDays(request.validity, 1, kMaxValidityDays, "days"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = CheckDays(request.overlap, 0, kMaxOverlapDays, "overlap_days"); !ok) {
    return tl::unexpected(ok.error());
  }
  auto client = FindClient(clients, request.client_id);
  if (!client) return tl::unexpected(client.error());
  if (client->status == storage::ClientStatus::kRevoked) {
    return Fail(ErrorCode::kInvalidRequest,
                "client '" + request.client_id.str() + "' is revoked; it gets no certificate");
  }
  auto previous = clients.ListCertificates(request.client_id);
  if (!previous) return tl::unexpected(previous.error());
  auto issued = Sign(ca, {request.client_id, client->domain, request.validity}, request.csr_pem);
  if (!issued) return tl::unexpected(issued.error());
  if (auto ok = deliver(*issued); !ok) return tl::unexpected(ok.error());
  if (auto ok = clients.AddCertificate(Registered(*issued, request.client_id, now)); !ok) {
    return tl::unexpected(ok.error());
  }
  Renewal renewal{std::move(*issued), {}, now + request.overlap};
  for (const auto& old : *previous) {
    if (old.status != storage::CertificateStatus::kActive) continue;
    auto record = certificates.FindByFingerprint(old.fingerprint_sha256);
    if (!record) return tl::unexpected(record.error());
    if (*record && (*record)->revoke_after &&
        *(*record)->revoke_after <= renewal.superseded_revoked_at) {
      continue;
    }
    auto done = request.overlap.count() == 0
                    ? certificates.Revoke(storage::CertificateKind::kClient, old.fingerprint_sha256,
                                          "superseded", now)
                    : certificates.ScheduleRevocation(old.fingerprint_sha256,
                                                      renewal.superseded_revoked_at);
    if (!done) return tl::unexpected(done.error());
    renewal.superseded.push_back(old.fingerprint_sha256);
  }
  return renewal;
}

Result<StatusChange> ChangeClientStatus(storage::ClientRegistry& clients, const ClientId& id,
                                        storage::ClientStatus to) {
  auto client = FindClient(clients, id);
  if (!client) return tl::unexpected(client.error());
  const StatusChange change{client->status, to};
  if (change.from == storage::ClientStatus::kRevoked && to != storage::ClientStatus::kRevoked) {
    return Fail(ErrorCode::kInvalidRequest, "client '" + id.str() + "' is revoked; that is final");
  }
  if (change.changed()) {
    if (auto ok = clients.SetClientStatus(id, to); !ok) return tl::unexpected(ok.error());
  }
  return change;
}

Result<pki::IssuedCertificate> IssueService(storage::CertificateStore& certificates,
                                            const pki::CertificateAuthority& ca,
                                            const ServiceIssueRequest& request,
                                            const Deliver& deliver, SystemTime now) {
  if (auto ok = CheckDays(request.validity, 1, kMaxValidityDays, "days"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (request.dns_names.empty() && request.ip_addresses.empty()) {
    return Fail(ErrorCode::kInvalidRequest,
                "a service certificate needs at least one DNS name or IP address", "dns_names");
  }
  auto issued =
      ca.IssueService({request.role, request.dns_names, request.ip_addresses, request.validity});
  if (!issued) return issued;
  if (auto ok = deliver(*issued); !ok) return tl::unexpected(ok.error());
  if (auto ok = certificates.AddServiceCertificate(
          ServiceRecord(issued->info, request.role, request.dns_names, now));
      !ok) {
    return tl::unexpected(ok.error());
  }
  return issued;
}

storage::CertificateRecord ServiceRecord(const pki::CertificateInfo& info, pki::ServiceRole role,
                                         const std::vector<std::string>& dns_names,
                                         SystemTime now) {
  storage::CertificateRecord record;
  record.kind = storage::CertificateKind::kService;
  record.fingerprint_sha256 = info.fingerprint_sha256;
  record.serial_hex = info.serial_hex;
  record.owner = std::string(pki::RoleName(role));
  for (const auto& name : dns_names) {
    if (!record.domain.empty()) record.domain += ",";
    record.domain += name;
  }
  record.not_before = info.not_before;
  record.not_after = info.not_after;
  record.created_at = now;
  return record;
}

nlohmann::json CertificateDetails(const pki::CertificateInfo& info) {
  return {{"serial", info.serial_hex},
          {"fingerprint_sha256", info.fingerprint_sha256},
          {"not_after", FormatTimestamp(info.not_after)}};
}

nlohmann::json RenewalDetails(const Renewal& renewal, std::chrono::days overlap) {
  auto details = CertificateDetails(renewal.issued.info);
  details["key"] = renewal.issued.private_key_pem.empty() ? "csr" : "generated";
  details["overlap_days"] = overlap.count();
  details["superseded"] = renewal.superseded;
  details["superseded_revoked_at"] = FormatTimestamp(renewal.superseded_revoked_at);
  return details;
}

nlohmann::json StatusChangeDetails(const StatusChange& change) {
  return {{"from", storage::ClientStatusName(change.from)},
          {"to", storage::ClientStatusName(change.to)}};
}

}  // namespace msgbroker::lifecycle
