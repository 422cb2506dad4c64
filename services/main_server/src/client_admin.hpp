#pragma once
// The admin client API of the main server (ADR 0009), run on the blocking pool. The rules are
// libs/lifecycle's, the same as `msgbroker admin client ...`:
//
//  POST /api/v1/admin/clients                     issue: a new client and its first certificate
//      {"client_id", "domain", "days"?, "csr"?, "pkcs12_password"?}
//  GET  /api/v1/admin/clients/{client_id}         the client and its certificates
//  POST /api/v1/admin/clients/{client_id}/renew   {"days"?, "overlap_days"?, "csr"?,
//                                                  "pkcs12_password"?}
//  POST /api/v1/admin/clients/{client_id}/suspend | resume | revoke   {"reason"?}
//  POST /api/v1/admin/service-certificates        a service certificate, recorded
//      {"role", "dns_names"?, "ip_addresses"?, "days"?, "pkcs12_password"?}
//
// Issue and renew answer 201 with the bundle: the certificate, the key the CA generated (none
// for a CSR), the CA certificate and, with a pkcs12_password, a PKCS#12 of all three (base64).
// The key exists only in that answer (Cache-Control: no-store): it is never stored or logged, so
// the bundle can be downloaded exactly once. Without the CA key (main_server.secrets.ca_key_file)
// issue and renew answer 503. Every call is audited like the certificate API's.

#include <filesystem>
#include <string>

#include "admin_call.hpp"
#include "msgbroker/core/clock.hpp"
#include "msgbroker/net/http_types.hpp"
#include "msgbroker/pki/certificate_authority.hpp"
#include "msgbroker/storage/certificate_store.hpp"
#include "msgbroker/storage/client_registry.hpp"

namespace msgbroker::main_server {

struct ClientAdmin {
  storage::ClientRegistry& clients;
  storage::CertificateStore& certificates;
  const pki::CertificateAuthority* ca;  // null: no CA key, issue and renew are 503
  const std::filesystem::path& audit_log;
  const Clock& clock;
};

net::HttpResponse IssueClient(const ClientAdmin& admin, const std::string& body,
                              const AdminCall& call);
net::HttpResponse GetClient(const ClientAdmin& admin, const std::string& client_id,
                            const AdminCall& call);
net::HttpResponse RenewClient(const ClientAdmin& admin, const std::string& client_id,
                              const std::string& body, const AdminCall& call);
net::HttpResponse IssueServiceCertificate(const ClientAdmin& admin, const std::string& body,
                                          const AdminCall& call);
// verb: "suspend", "resume" or "revoke".
net::HttpResponse ChangeClientStatus(const ClientAdmin& admin, const std::string& client_id,
                                     std::string_view verb, const std::string& body,
                                     const AdminCall& call);

}  // namespace msgbroker::main_server
