#pragma once
// Registered clients and their certificates. A client (id, domain, status) may hold several
// certificates (renewal overlap); the proxy identifies a caller by the SHA-256 fingerprint of
// its verified certificate.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::storage {

enum class ClientStatus { kActive, kSuspended, kRevoked };
std::string_view ClientStatusName(ClientStatus s) noexcept;  // "active", "suspended", "revoked"
std::optional<ClientStatus> ParseClientStatus(std::string_view name) noexcept;

enum class CertificateStatus { kActive, kRevoked };
std::string_view CertificateStatusName(CertificateStatus s) noexcept;  // "active", "revoked"

// A client's own rate limit (schema version 3), in whole messages: `per_second` refill and a
// bucket of `burst`. per_second == 0 (with burst 0) means the client is not limited at all.
struct ClientRateLimit {
  std::int64_t per_second = 0;
  std::int64_t burst = 0;
  bool unlimited() const noexcept { return per_second == 0; }
  bool operator==(const ClientRateLimit&) const = default;
};
inline constexpr std::int64_t kMaxClientRatePerSecond = 1'000'000;
inline constexpr std::int64_t kMaxClientRateBurst = 1'000'000;
// kInvalidRequest (naming the field) unless 1 <= per_second, 1 <= burst (both at most the maxima
// above), or both are 0 (unlimited).
Status ValidateClientRateLimit(const ClientRateLimit& limit);

struct Client {
  ClientId id;
  std::string domain;
  ClientStatus status = ClientStatus::kActive;
  SystemTime created_at{};
  // nullopt: the configured default (proxy.rate_limit); stored as NULL columns.
  std::optional<ClientRateLimit> rate_limit;
};

struct ClientCertificate {
  std::string fingerprint_sha256;  // primary key
  ClientId client_id;
  std::string serial_hex;
  SystemTime not_before{};
  SystemTime not_after{};
  CertificateStatus status = CertificateStatus::kActive;
  SystemTime created_at{};
};

// A certificate joined with its client: what the proxy needs to decide.
struct ClientIdentity {
  Client client;
  ClientCertificate certificate;
};

// What every ClientRegistry checks before it writes (kInvalidRequest naming the field): a client
// needs an id and a valid rate limit if it has one, a certificate a fingerprint.
Status ValidateNewClient(const Client& client);
Status ValidateNewCertificate(const ClientCertificate& cert);

// The errors every backend reports alike for rows that refer to clients: kNotFound naming
// `field` when client `id` does not exist; kAlreadyExists (field fingerprint_sha256) for a
// certificate fingerprint already registered.
tl::unexpected<Error> NoSuchClient(const ClientId& id, std::string field);
tl::unexpected<Error> CertificateAlreadyRegistered(const std::string& fingerprint);

class ClientRegistry {
 public:
  virtual ~ClientRegistry() = default;
  virtual Status CreateClient(const Client& client) = 0;  // kAlreadyExists if the id is taken
  virtual Status AddCertificate(const ClientCertificate& cert) = 0;  // kNotFound: no client
  // A new client with its first certificate, in one transaction: both or neither. Errors as
  // CreateClient's and AddCertificate's.
  virtual Status CreateClientWithCertificate(const Client& client,
                                             const ClientCertificate& cert) = 0;
  virtual Result<std::optional<Client>> GetClient(const ClientId& id) = 0;
  virtual Result<std::optional<ClientIdentity>> FindByFingerprint(std::string_view fp) = 0;
  virtual Result<std::vector<Client>> ListClients() = 0;
  virtual Result<std::vector<ClientCertificate>> ListCertificates(const ClientId& id) = 0;
  // Every certificate with its client; the proxy keeps a snapshot of this.
  virtual Result<std::vector<ClientIdentity>> ListIdentities() = 0;
  virtual Status SetClientStatus(const ClientId& id, ClientStatus status) = 0;
  // Sets the client's own rate limit, or (nullopt) returns it to the configured default.
  // kInvalidRequest for a limit ValidateClientRateLimit refuses; kNotFound: no such client.
  virtual Status SetClientRateLimit(const ClientId& id,
                                    const std::optional<ClientRateLimit>& limit) = 0;
};

}  // namespace msgbroker::storage
