#pragma once
// Shared helpers for the pki tests: PEM parsing, chain verification and scratch directories.

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/testing/temp_dir.hpp"
#include "openssl_util.hpp"

namespace msgbroker::pki::testing {

inline detail::X509Ptr ParseCertificate(std::string_view pem) {
  const detail::BioPtr bio = detail::MemoryBio(pem);
  return detail::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

inline detail::EvpPkeyPtr ParsePrivateKey(std::string_view pem) {
  const detail::BioPtr bio = detail::MemoryBio(pem);
  return detail::EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// X509_verify_cert of `leaf_pem` against a store trusting only `ca_pem`, at time `at`.
// Returns the verification error text, or an empty string when the chain verifies.
inline std::string VerifyChain(std::string_view ca_pem, std::string_view leaf_pem, SystemTime at) {
  const detail::X509Ptr ca = ParseCertificate(ca_pem);
  const detail::X509Ptr leaf = ParseCertificate(leaf_pem);
  if (ca == nullptr || leaf == nullptr) return "unparsable PEM";
  std::unique_ptr<X509_STORE, detail::OpenSslDeleter<&X509_STORE_free>> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, detail::OpenSslDeleter<&X509_STORE_CTX_free>> context(
      X509_STORE_CTX_new());
  if (X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(context.get(), store.get(), leaf.get(), nullptr) != 1) {
    return "cannot set up verification: " + detail::DrainOpenSslErrors();
  }
  X509_VERIFY_PARAM_set_time(
      X509_STORE_CTX_get0_param(context.get()),
      static_cast<time_t>(std::chrono::floor<std::chrono::seconds>(at.time_since_epoch()).count()));
  if (X509_verify_cert(context.get()) == 1) return {};
  ERR_clear_error();
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(context.get()));
}

using msgbroker::testing::TempDir;

inline std::filesystem::perms PermissionsOf(const std::filesystem::path& path) {
  return std::filesystem::status(path).permissions() & std::filesystem::perms::mask;
}

}  // namespace msgbroker::pki::testing
