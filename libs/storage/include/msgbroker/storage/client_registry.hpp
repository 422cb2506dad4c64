#pragma once
// Registered clients and their certificates. A client (id, domain, status) may hold several
// certificates (renewal overlap); the proxy identifies a caller by the SHA-256 fingerprint of
// its verified certificate.

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

struct Client {
  ClientId id;
  std::string domain;
  ClientStatus status = ClientStatus::kActive;
  SystemTime created_at{};
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

class ClientRegistry {
 public:
  virtual ~ClientRegistry() = default;
  virtual Status CreateClient(const Client& client) = 0;  // kAlreadyExists if the id is taken
  virtual Status AddCertificate(const ClientCertificate& cert) = 0;  // kNotFound: no client
  virtual Result<std::optional<Client>> GetClient(const ClientId& id) = 0;
  virtual Result<std::optional<ClientIdentity>> FindByFingerprint(std::string_view fp) = 0;
  virtual Result<std::vector<Client>> ListClients() = 0;
  virtual Result<std::vector<ClientCertificate>> ListCertificates(const ClientId& id) = 0;
  // Every certificate with its client; the proxy keeps a snapshot of this.
  virtual Result<std::vector<ClientIdentity>> ListIdentities() = 0;
  virtual Status SetClientStatus(const ClientId& id, ClientStatus status) = 0;
};

}  // namespace msgbroker::storage
