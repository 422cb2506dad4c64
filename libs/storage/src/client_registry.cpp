#include "msgbroker/storage/client_registry.hpp"

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

}  // namespace msgbroker::storage
