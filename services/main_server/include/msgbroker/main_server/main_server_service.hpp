#pragma once
// The core: stores delivered messages encrypted, and serves them back.
//
//  POST /internal/v1/deliveries   worker certificate only; one batch per request, one
//                                 transaction; idempotent by message id (see api/delivery.hpp)
//  GET  /api/v1/messages          admin certificate; filters: status, client_id, from, to,
//                                 sender_number (exact); page, page_size
//  GET  /api/v1/messages/{id}     admin certificate
//  GET  /api/v1/crl               any verified certificate; the current CRL (PEM)
//  GET  /api/v1/admin/certificates                      admin certificate; audited
//  POST /api/v1/admin/certificates/{fingerprint}/revoke admin certificate; audited
//  POST /api/v1/admin/clients, GET /api/v1/admin/clients/{client_id},
//  POST /api/v1/admin/clients/{client_id}/renew|suspend|resume|revoke,
//  POST /api/v1/admin/service-certificates
//                                 admin certificate; audited (see src/client_admin.hpp)
//
// With a CertificateStore (MainServerOptions::certificates) a background task applies ended
// renewal overlaps (RevokeDue) and keeps a snapshot of revoked service-certificate fingerprints;
// a request whose service certificate is in it gets 403 CLIENT_REVOKED (ADR 0009).
//
// Handlers run on the I/O threads only long enough to check the caller; decryption and SQL run
// on a bounded blocking pool (`blocking_threads`), which answers through the Responder.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "msgbroker/crypto/key_ring.hpp"
#include "msgbroker/crypto/sender_hasher.hpp"
#include "msgbroker/net/router.hpp"
#include "msgbroker/net/standard_endpoints.hpp"
#include "msgbroker/pki/certificate_authority.hpp"
#include "msgbroker/storage/certificate_store.hpp"
#include "msgbroker/storage/client_registry.hpp"
#include "msgbroker/storage/message_store.hpp"

namespace prometheus {
class Registry;
}

namespace msgbroker::main_server {

struct MainServerOptions {
  std::size_t blocking_threads = 2;
  std::size_t max_pending_jobs = 256;  // beyond -> 503 SERVICE_UNAVAILABLE with Retry-After
  // The database is pinged this often on a thread of its own; /health reports the last answer.
  std::chrono::milliseconds database_probe_interval{1000};
  // Called after the first ping and whenever the database's availability changes (readiness).
  std::function<void(bool available)> on_database_availability;
  // Optional (schema version 2): every `certificate_refresh_interval`, on a thread of its own,
  // ended renewal overlaps are revoked (RevokeDue) and the revoked service certificates are
  // re-read; requests with one of them are refused. On a database error the last snapshot stays.
  std::shared_ptr<storage::CertificateStore> certificates;
  std::chrono::milliseconds certificate_refresh_interval{2000};
  // Optional, with `certificates`: the CA (certificate and key). It signs the CRL served at
  // GET /api/v1/crl, made by the same background task when the revoked set changes or half its
  // validity is gone, and the certificates the admin client API issues. Without it those
  // endpoints answer 503 SERVICE_UNAVAILABLE.
  std::shared_ptr<const pki::CertificateAuthority> ca;
  // With `certificates`: the client registry the admin client API manages; without it that API
  // is 503.
  std::shared_ptr<storage::ClientRegistry> clients;
  std::chrono::seconds crl_validity{std::chrono::hours{24}};
  // With `certificates`: the audit log of the admin certificate API; without it that API is 503.
  std::filesystem::path audit_log;
};

class MainServerService {
 public:
  MainServerService(MainServerOptions options, std::shared_ptr<storage::MessageStore> store,
                    crypto::KeyRing key_ring, crypto::SenderHasher sender_hasher,
                    std::unique_ptr<crypto::EnvelopeOpener> opener, const Clock& clock,
                    prometheus::Registry& metrics);
  ~MainServerService();

  void RegisterRoutes(net::Router& router);
  std::map<std::string, net::HealthCheck> Health() const;
  // Finishes queued jobs and joins the pool. Call after the HTTP server stopped.
  void Stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace msgbroker::main_server
