#pragma once
// Private helpers shared by the TLS context set-up, the server and the client.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <string>
#include <string_view>

namespace msgbroker::net::detail {

// Empties this thread's OpenSSL error queue and returns the reasons joined with "; ", or
// `fallback` when the queue was empty.
inline std::string DrainOpenSslErrors(std::string_view fallback = "no OpenSSL error reported") {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    if (!text.empty()) text += "; ";
    text += reason != nullptr ? reason : "unknown OpenSSL error";
  }
  return text.empty() ? std::string(fallback) : text;
}

// The result of verifying the peer's certificate chain, as OpenSSL words it, or empty when it
// verified (or was not checked yet).
inline std::string VerifyFailure(const SSL* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

}  // namespace msgbroker::net::detail
