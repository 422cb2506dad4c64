#pragma once
// The certificate lifecycle on top of the client registry: every client certificate
// (client_certificates) and every recorded service certificate (service_certificates, schema
// version 2) with its revocation (time and RFC 5280 reason name) and, for a renewed certificate,
// the end of its overlap period (`revoke_after`). Listing with filters and pages, revocation of
// one certificate, and the revoked list the CRL is made from.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/storage/client_registry.hpp"

namespace msgbroker::storage {

enum class CertificateKind { kClient, kService };
std::string_view CertificateKindName(CertificateKind kind) noexcept;  // "client", "service"

struct CertificateRecord {
  CertificateKind kind = CertificateKind::kClient;
  std::string fingerprint_sha256;  // primary key (lowercase hex)
  std::string serial_hex;
  std::string owner;   // the client id, or the service role ("proxy", "main-server", ...)
  std::string domain;  // the client's domain; for a service, its DNS names joined with ','
  SystemTime not_before{};
  SystemTime not_after{};
  CertificateStatus status = CertificateStatus::kActive;
  std::optional<SystemTime> revoked_at;
  std::string revocation_reason;  // a pki::RevocationReason name; empty unless revoked
  // Set on the old certificate by a renewal: it stays valid until then, then RevokeDue revokes
  // it with reason "superseded".
  std::optional<SystemTime> revoke_after;
  SystemTime created_at{};
};

struct CertificateQuery {
  CertificateKind kind = CertificateKind::kClient;
  std::optional<CertificateStatus> status;
  std::optional<std::string> domain;  // client certificates only (the client's domain)
  // not_after within [not_after_from, not_after_to): "expiring within N days" is [now, now+N).
  std::optional<SystemTime> not_after_from;
  std::optional<SystemTime> not_after_to;
  std::uint64_t page = 1;        // 1-based
  std::uint64_t page_size = 50;  // 1..500
};

// Ordered by not_after, then fingerprint; `total` counts every match, not just this page.
struct CertificatePage {
  std::vector<CertificateRecord> items;
  std::uint64_t total = 0;
  std::uint64_t page = 1;
  std::uint64_t page_size = 50;
};

class CertificateStore {
 public:
  virtual ~CertificateStore() = default;
  // Records a service certificate (kind must be kService). kAlreadyExists for a known fingerprint.
  virtual Status AddServiceCertificate(const CertificateRecord& record) = 0;
  // Either kind, by fingerprint or by serial.
  virtual Result<std::optional<CertificateRecord>> FindByFingerprint(std::string_view fp) = 0;
  virtual Result<std::optional<CertificateRecord>> FindBySerial(std::string_view serial_hex) = 0;
  // Revokes one active certificate at `at` with `reason`. kNotFound: no such certificate;
  // kAlreadyExists: it is revoked already (the first revocation stands).
  virtual Status Revoke(CertificateKind kind, std::string_view fingerprint, std::string_view reason,
                        SystemTime at) = 0;
  // Marks an active client certificate to be revoked (as "superseded") at `at`.
  virtual Status ScheduleRevocation(std::string_view fingerprint, SystemTime at) = 0;
  // Revokes every active certificate whose revoke_after has come (revoked_at = revoke_after,
  // reason "superseded"); returns how many.
  virtual Result<std::uint64_t> RevokeDue(SystemTime now) = 0;
  // kInvalidQuery for a bad page, page_size, or a domain filter on service certificates.
  virtual Result<CertificatePage> List(const CertificateQuery& query) = 0;
  // Every revoked certificate of both kinds (for the CRL), ordered by revoked_at.
  virtual Result<std::vector<CertificateRecord>> ListRevoked() = 0;
};

}  // namespace msgbroker::storage
