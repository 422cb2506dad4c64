#include "msgbroker/storage/client_registry.hpp"

#include <string>

namespace msgbroker::storage {

std::string_view ClientStatusName(ClientStatus s) noexcept {
  switch (s) {
    case ClientStatus::kActive:
      return "active";
    case ClientStatus::kSuspended:
      return "suspended";
    case ClientStatus::kRevoked:
      return "revoked";
  }
  return "unknown";  // not an enumerator; the CHECK constraint refuses it
}

std::optional<ClientStatus> ParseClientStatus(std::string_view name) noexcept {
  for (auto s : {ClientStatus::kActive, ClientStatus::kSuspended, ClientStatus::kRevoked}) {
    if (ClientStatusName(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view CertificateStatusName(CertificateStatus s) noexcept {
  switch (s) {
    case CertificateStatus::kActive:
      return "active";
    case CertificateStatus::kRevoked:
      return "revoked";
  }
  return "unknown";  // not an enumerator; the CHECK constraint refuses it
}

tl::unexpected<Error> NoSuchClient(const ClientId& id, std::string field) {
  return Fail(ErrorCode::kNotFound, "client " + id.str() + " does not exist", std::move(field));
}

tl::unexpected<Error> CertificateAlreadyRegistered(const std::string& fingerprint) {
  return Fail(ErrorCode::kAlreadyExists, "certificate " + fingerprint + " is already registered",
              "fingerprint_sha256");
}

Status ValidateNewClient(const Client& client) {
  if (client.id.empty()) return Fail(ErrorCode::kInvalidRequest, "the client has no id", "id");
  if (client.rate_limit) return ValidateClientRateLimit(*client.rate_limit);
  return Ok();
}

Status ValidateNewCertificate(const ClientCertificate& cert) {
  if (cert.fingerprint_sha256.empty()) {
    return Fail(ErrorCode::kInvalidRequest, "the certificate has no fingerprint",
                "fingerprint_sha256");
  }
  return Ok();
}

Status ValidateClientRateLimit(const ClientRateLimit& limit) {
  if (limit.per_second == 0 && limit.burst == 0) return Ok();  // unlimited
  if (limit.per_second < 1 || limit.per_second > kMaxClientRatePerSecond) {
    return Fail(ErrorCode::kInvalidRequest,
                "the rate must be 1 to " + std::to_string(kMaxClientRatePerSecond) +
                    " messages per second (0 together with a burst of 0: unlimited)",
                "per_second");
  }
  if (limit.burst < 1 || limit.burst > kMaxClientRateBurst) {
    return Fail(ErrorCode::kInvalidRequest,
                "the burst must be 1 to " + std::to_string(kMaxClientRateBurst) + " messages",
                "burst");
  }
  return Ok();
}

}  // namespace msgbroker::storage
