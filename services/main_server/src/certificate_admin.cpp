#include "certificate_admin.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

#include "msgbroker/core/time_format.hpp"
#include "msgbroker/pki/certificate_authority.hpp"

namespace msgbroker::main_server {

nlohmann::json CertificateView(const storage::CertificateRecord& c) {
  auto time = [](const std::optional<SystemTime>& t) {
    return t ? nlohmann::json(FormatTimestamp(*t)) : nlohmann::json(nullptr);
  };
  return {{"kind", storage::CertificateKindName(c.kind)},
          {"fingerprint_sha256", c.fingerprint_sha256},
          {"serial_hex", c.serial_hex},
          {"owner", c.owner},
          {"domain", c.domain},
          {"not_before", FormatTimestamp(c.not_before)},
          {"not_after", FormatTimestamp(c.not_after)},
          {"status", storage::CertificateStatusName(c.status)},
          {"revoked_at", time(c.revoked_at)},
          {"revocation_reason", c.revocation_reason.empty() ? nlohmann::json(nullptr)
                                                            : nlohmann::json(c.revocation_reason)},
          {"revoke_after", time(c.revoke_after)}};
}

namespace {

Result<std::uint64_t> Number(const std::string& text, const char* field, std::uint64_t max) {
  std::uint64_t value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || p != text.data() + text.size() || value < 1 || value > max) {
    return Fail(ErrorCode::kInvalidQuery,
                std::string(field) + " must be an integer from 1 to " + std::to_string(max), field);
  }
  return value;
}

}  // namespace

net::HttpResponse ListCertificates(storage::CertificateStore& store,
                                   const std::filesystem::path& audit_log, const Clock& clock,
                                   const std::map<std::string, std::string>& params,
                                   const AdminCall& call) {
  auto bad = [&](const std::string& field, const std::string& message) {
    return net::MakeErrorResponse(Error{ErrorCode::kInvalidQuery, message, field}, call.request_id);
  };
  storage::CertificateQuery query;
  const auto now = clock.Now();
  for (const auto& [key, value] : params) {
    if (key == "kind") {
      if (value == "client") {
        query.kind = storage::CertificateKind::kClient;
      } else if (value == "service") {
        query.kind = storage::CertificateKind::kService;
      } else {
        return bad(key, "kind must be client or service");
      }
    } else if (key == "status") {
      if (value == "active") {
        query.status = storage::CertificateStatus::kActive;
      } else if (value == "revoked") {
        query.status = storage::CertificateStatus::kRevoked;
      } else {
        return bad(key, "status must be active or revoked");
      }
    } else if (key == "domain") {
      if (value.empty()) return bad(key, "domain must not be empty");
      query.domain = value;
    } else if (key == "expiring_within_days") {
      auto days = Number(value, "expiring_within_days", 3650);
      if (!days) return net::MakeErrorResponse(days.error(), call.request_id);
      query.not_after_from = now;
      query.not_after_to = now + std::chrono::hours{24} * static_cast<int>(*days);
    } else if (key == "page") {
      auto v = Number(value, "page", 1'000'000);
      if (!v) return net::MakeErrorResponse(v.error(), call.request_id);
      query.page = *v;
    } else if (key == "page_size") {
      auto v = Number(value, "page_size", 500);
      if (!v) return net::MakeErrorResponse(v.error(), call.request_id);
      query.page_size = *v;
    } else {
      return bad(key, "unknown query parameter '" + key + "'");
    }
  }
  auto page = store.List(query);
  if (!page) return net::MakeErrorResponse(page.error(), call.request_id);
  nlohmann::json details = params;
  details["total"] = page->total;
  if (auto ok = Audit(audit_log, clock, call, "certificate.list",
                      "certificates:" + std::string(storage::CertificateKindName(query.kind)),
                      std::move(details));
      !ok) {
    return net::MakeErrorResponse(ok.error(), call.request_id);
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& c : page->items) items.push_back(CertificateView(c));
  const auto pages = (page->total + page->page_size - 1) / page->page_size;
  return net::MakeJsonResponse(net::http::status::ok, {{"items", std::move(items)},
                                                       {"total", page->total},
                                                       {"page", page->page},
                                                       {"page_size", page->page_size},
                                                       {"pages", pages}});
}

net::HttpResponse RevokeCertificate(storage::CertificateStore& store,
                                    const std::filesystem::path& audit_log, const Clock& clock,
                                    const std::string& fingerprint, const std::string& body,
                                    const AdminCall& call) {
  auto error = [&](ErrorCode code, std::string message, std::string field = {}) {
    return net::MakeErrorResponse(Error{code, std::move(message), std::move(field)},
                                  call.request_id);
  };
  auto json = ParseBody(body, {"reason"});
  if (!json) return net::MakeErrorResponse(json.error(), call.request_id);
  if (!json->contains("reason"))
    return error(ErrorCode::kMissingField, "reason is required", "reason");
  const auto& reason_json = (*json)["reason"];
  const auto reason = reason_json.is_string()
                          ? pki::ParseRevocationReason(reason_json.get<std::string>())
                          : std::nullopt;
  if (!reason) {
    return error(ErrorCode::kInvalidRequest,
                 "reason must be one of unspecified, key-compromise, ca-compromise, "
                 "affiliation-changed, superseded, cessation-of-operation, privilege-withdrawn",
                 "reason");
  }
  auto found = store.FindByFingerprint(fingerprint);
  if (!found) return net::MakeErrorResponse(found.error(), call.request_id);
  if (!*found) return error(ErrorCode::kNotFound, "no such certificate");
  const auto reason_name = std::string(pki::RevocationReasonName(*reason));
  if (auto ok = store.Revoke((*found)->kind, fingerprint, reason_name, clock.Now()); !ok) {
    return net::MakeErrorResponse(ok.error(), call.request_id);
  }
  if (auto ok =
          Audit(audit_log, clock, call, "certificate.revoke", "certificate:" + (*found)->serial_hex,
                {{"kind", storage::CertificateKindName((*found)->kind)},
                 {"fingerprint", fingerprint},
                 {"owner", (*found)->owner},
                 {"reason", reason_name}});
      !ok) {
    return net::MakeErrorResponse(ok.error(), call.request_id);
  }
  auto revoked = store.FindByFingerprint(fingerprint);
  if (!revoked || !*revoked) return error(ErrorCode::kInternal, "the certificate disappeared");
  return net::MakeJsonResponse(net::http::status::ok, CertificateView(**revoked));
}

}  // namespace msgbroker::main_server
