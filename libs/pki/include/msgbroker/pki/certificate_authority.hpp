#pragma once
// The internal certificate authority, built on the OpenSSL 3 library (no shelling out).
//
// Identity conventions (see docs/adr/0003-certificate-identity.md):
//  * client certificates: CN = client id, URI SAN "urn:msgbroker:client:<client-id>",
//    EKU clientAuth, KU digitalSignature (+keyEncipherment for RSA).
//  * service certificates: CN = "<role>", URI SAN "urn:msgbroker:role:<role>", DNS/IP SANs,
//    EKU serverAuth + clientAuth.
//  * CA: basicConstraints critical CA:TRUE, pathlen:0; KU keyCertSign + cRLSign; SKI/AKI.
// Serial numbers are 128 random bits. Keys are ECDSA P-256 by default, RSA-3072 optional.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/pki/certificate_info.hpp"

namespace msgbroker::pki {

enum class KeyAlgorithm { kEcdsaP256, kRsa3072 };

struct CaOptions {
  std::string common_name = "msgbroker CA";
  std::string organization = "msgbroker";
  std::chrono::days validity{3650};
  KeyAlgorithm algorithm = KeyAlgorithm::kEcdsaP256;
};

struct IssuedCertificate {
  std::string certificate_pem;
  std::string private_key_pem;  // PKCS#8, unencrypted; written 0600 by the caller
  CertificateInfo info;
};

struct ClientCertificateRequest {
  ClientId client_id;
  std::string domain;  // becomes a DNS SAN and the O= field
  std::chrono::days validity{365};
  KeyAlgorithm algorithm = KeyAlgorithm::kEcdsaP256;
};

struct ServiceCertificateRequest {
  ServiceRole role = ServiceRole::kMainServer;
  std::vector<std::string> dns_names{"localhost"};
  std::vector<std::string> ip_addresses{"127.0.0.1"};
  std::chrono::days validity{825};
  KeyAlgorithm algorithm = KeyAlgorithm::kEcdsaP256;
};

// CRL reason codes of RFC 5280 section 5.3.1 that an operator may give (certificateHold and
// removeFromCRL are not used: suspension is done in the registry, not in the CRL).
enum class RevocationReason : int {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kPrivilegeWithdrawn = 9,
};
// "unspecified", "key-compromise", "ca-compromise", "affiliation-changed", "superseded",
// "cessation-of-operation", "privilege-withdrawn".
std::string_view RevocationReasonName(RevocationReason reason) noexcept;
std::optional<RevocationReason> ParseRevocationReason(std::string_view name) noexcept;

struct RevokedEntry {
  std::string serial_hex;  // as CertificateInfo::serial_hex
  SystemTime revoked_at{};
  RevocationReason reason = RevocationReason::kUnspecified;
};

struct CrlRequest {
  std::vector<RevokedEntry> revoked;
  SystemTime this_update{};
  std::chrono::seconds validity{std::chrono::hours{24}};  // nextUpdate = this_update + validity
  std::uint64_t crl_number = 1;  // must grow with every CRL the CA publishes
};

struct Crl {
  std::string pem;
  std::string der;
};

class CertificateAuthority {
 public:
  ~CertificateAuthority();
  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;

  // A new self-signed CA valid from `clock.Now()` - 5 minutes. Create and Load keep a reference
  // to `clock` (issued validity periods start from it): it must outlive the CA.
  static Result<CertificateAuthority> Create(const CaOptions& options, const Clock& clock);
  // Loads an existing CA; errors name the file and say what is wrong with it.
  static Result<CertificateAuthority> Load(const std::filesystem::path& cert_file,
                                           const std::filesystem::path& key_file,
                                           const Clock& clock);
  // Writes cert (0644) and key (0600). Refuses to overwrite existing files.
  Status Save(const std::filesystem::path& cert_file, const std::filesystem::path& key_file) const;

  Result<IssuedCertificate> IssueClient(const ClientCertificateRequest& request) const;
  Result<IssuedCertificate> IssueService(const ServiceCertificateRequest& request) const;
  // A client certificate over the public key of a PEM PKCS#10 request. The request's signature
  // must verify (proof of possession) and its key must be RSA >= 2048 bits or EC P-256/P-384.
  // Subject, SANs, EKU and validity come from `request` exactly as for IssueClient; nothing of
  // the CSR but its public key is used (requested extensions are ignored). `algorithm` is unused.
  // The result has an empty private_key_pem. Errors: kInvalidRequest, field "csr".
  Result<IssuedCertificate> SignClientCsr(const ClientCertificateRequest& request,
                                          std::string_view csr_pem) const;
  // An X.509 v2 CRL signed by this CA (SHA-256): the revoked serials with their revocation dates
  // and reason codes, thisUpdate/nextUpdate, a CRL number and the authority key identifier.
  Result<Crl> MakeCrl(const CrlRequest& request) const;

  const std::string& certificate_pem() const;
  const CertificateInfo& info() const;

 private:
  struct Impl;
  explicit CertificateAuthority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A password-protected PKCS#12 bundle (DER) holding the certificate, its private key and the CA
// certificate: keys and certificates encrypted with PBES2/PBKDF2 AES-256-CBC, HMAC-SHA-256 MAC.
// The password must not be empty. Errors: kInvalidRequest for unparsable PEM or a key that does
// not match the certificate.
Result<std::string> MakePkcs12(std::string_view certificate_pem, std::string_view private_key_pem,
                               std::string_view ca_certificate_pem, std::string_view password,
                               std::string_view friendly_name);

// Writes `contents` to `path` atomically (temp file + rename) with the given permissions.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents,
                           std::filesystem::perms perms);

}  // namespace msgbroker::pki
