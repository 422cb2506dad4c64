#pragma once
// The admin certificate API of the main server (ADR 0009), run on the blocking pool:
//
//  GET  /api/v1/admin/certificates?kind=&status=&domain=&expiring_within_days=&page=&page_size=
//  POST /api/v1/admin/certificates/{fingerprint}/revoke   {"reason": "<RFC 5280 reason name>"}
//
// The caller has checked the admin certificate. Every call is recorded in the audit log (who:
// "admin-certificate:<fingerprint>", where: the peer address).

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "admin_call.hpp"
#include "msgbroker/core/clock.hpp"
#include "msgbroker/net/http_types.hpp"
#include "msgbroker/storage/certificate_store.hpp"

namespace msgbroker::main_server {

// A certificate as the admin API shows it.
nlohmann::json CertificateView(const storage::CertificateRecord& certificate);

net::HttpResponse ListCertificates(storage::CertificateStore& store,
                                   const std::filesystem::path& audit_log, const Clock& clock,
                                   const std::map<std::string, std::string>& params,
                                   const AdminCall& call);

net::HttpResponse RevokeCertificate(storage::CertificateStore& store,
                                    const std::filesystem::path& audit_log, const Clock& clock,
                                    const std::string& fingerprint, const std::string& body,
                                    const AdminCall& call);

}  // namespace msgbroker::main_server
