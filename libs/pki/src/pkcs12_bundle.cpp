// PKCS#12 bundles and CRL reason names (declared in certificate_authority.hpp).

#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include <array>
#include <climits>
#include <utility>

#include "msgbroker/pki/certificate_authority.hpp"
#include "openssl_util.hpp"

namespace msgbroker::pki {
namespace {

using detail::BioPtr;
using detail::EvpPkeyPtr;
using detail::X509Ptr;
using Pkcs12Ptr = std::unique_ptr<PKCS12, detail::OpenSslDeleter<&PKCS12_free>>;
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * stack) const noexcept { sk_X509_free(stack); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

// PBKDF2 iterations for the key and certificate bags and the MAC.
constexpr int kIterations = 100'000;

int RefusePassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*user*/) { return -1; }

tl::unexpected<Error> Invalid(std::string message, std::string field) {
  ERR_clear_error();
  return Fail(ErrorCode::kInvalidRequest, std::move(message), std::move(field));
}

struct ReasonName {
  RevocationReason reason;
  std::string_view name;
};

constexpr std::array kReasonNames{
    ReasonName{RevocationReason::kUnspecified, "unspecified"},
    ReasonName{RevocationReason::kKeyCompromise, "key-compromise"},
    ReasonName{RevocationReason::kCaCompromise, "ca-compromise"},
    ReasonName{RevocationReason::kAffiliationChanged, "affiliation-changed"},
    ReasonName{RevocationReason::kSuperseded, "superseded"},
    ReasonName{RevocationReason::kCessationOfOperation, "cessation-of-operation"},
    ReasonName{RevocationReason::kPrivilegeWithdrawn, "privilege-withdrawn"},
};

}  // namespace

std::string_view RevocationReasonName(RevocationReason reason) noexcept {
  for (const auto& entry : kReasonNames) {
    if (entry.reason == reason) return entry.name;
  }
  return "unspecified";
}

std::optional<RevocationReason> ParseRevocationReason(std::string_view name) noexcept {
  for (const auto& entry : kReasonNames) {
    if (entry.name == name) return entry.reason;
  }
  return std::nullopt;
}

Result<std::string> MakePkcs12(std::string_view certificate_pem, std::string_view private_key_pem,
                               std::string_view ca_certificate_pem, std::string_view password,
                               std::string_view friendly_name) {
  if (password.empty()) return Invalid("the PKCS#12 password must not be empty", "password");
  if (password.size() > 1024) return Invalid("the PKCS#12 password is too long", "password");
  const BioPtr cert_bio = detail::MemoryBio(certificate_pem);
  const X509Ptr cert(cert_bio == nullptr
                         ? nullptr
                         : PEM_read_bio_X509(cert_bio.get(), nullptr, RefusePassphrase, nullptr));
  if (cert == nullptr) return Invalid("the certificate is not PEM", "certificate");
  const BioPtr ca_bio = detail::MemoryBio(ca_certificate_pem);
  X509Ptr ca(ca_bio == nullptr
                 ? nullptr
                 : PEM_read_bio_X509(ca_bio.get(), nullptr, RefusePassphrase, nullptr));
  if (ca == nullptr) return Invalid("the CA certificate is not PEM", "ca_certificate");
  const BioPtr key_bio = detail::MemoryBio(private_key_pem);
  const EvpPkeyPtr key(key_bio == nullptr ? nullptr
                                          : PEM_read_bio_PrivateKey(key_bio.get(), nullptr,
                                                                    RefusePassphrase, nullptr));
  if (key == nullptr) return Invalid("the private key is not unencrypted PEM", "private_key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Invalid("the private key does not match the certificate", "private_key");
  }
  X509StackPtr chain(sk_X509_new_null());
  if (chain == nullptr || sk_X509_push(chain.get(), ca.get()) <= 0) {
    return Fail(ErrorCode::kInternal,
                "cannot build the PKCS#12 chain: " + detail::DrainOpenSslErrors());
  }
  const std::string pass(password);
  const std::string name(friendly_name);
  // mac_iter -1: no MAC from PKCS12_create; it is added below with SHA-256 explicitly.
  const Pkcs12Ptr p12(PKCS12_create(pass.c_str(), name.empty() ? nullptr : name.c_str(), key.get(),
                                    cert.get(), chain.get(), NID_aes_256_cbc, NID_aes_256_cbc,
                                    kIterations, -1, 0));
  if (p12 == nullptr ||
      PKCS12_set_mac(p12.get(), pass.c_str(), -1, nullptr, 0, kIterations, EVP_sha256()) != 1) {
    return Fail(ErrorCode::kInternal,
                "cannot build the PKCS#12 bundle: " + detail::DrainOpenSslErrors());
  }
  unsigned char* der = nullptr;
  const int size = i2d_PKCS12(p12.get(), &der);
  if (size <= 0) {
    return Fail(ErrorCode::kInternal,
                "cannot encode the PKCS#12 bundle: " + detail::DrainOpenSslErrors());
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

}  // namespace msgbroker::pki
