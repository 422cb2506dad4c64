#include "msgbroker/net/tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <system_error>

#include "tls_internal.hpp"

namespace msgbroker::net {
namespace {

namespace fs = std::filesystem;
namespace ssl = boost::asio::ssl;

// TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only. TLS 1.3 suites are all AEAD already.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

int ProtocolVersion(TlsVersion version) {
  return version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

Status CheckFile(const fs::path& file, std::string_view what) {
  if (file.empty()) return Fail(ErrorCode::kInvalidRequest, std::string(what) + " file is not set");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    return Fail(ErrorCode::kInvalidRequest,
                std::string(what) + " file " + file.string() + " does not exist or is not a file");
  }
  return Ok();
}

tl::unexpected<Error> LoadFailure(std::string_view what, const fs::path& file) {
  return Fail(ErrorCode::kInvalidRequest, "cannot load " + std::string(what) + " " + file.string() +
                                              ": " + detail::DrainOpenSslErrors());
}

Status ApplyPolicy(SSL_CTX* ctx, TlsVersion min_version) {
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, ProtocolVersion(min_version)) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return Fail(ErrorCode::kInternal,
                "cannot apply the TLS policy: " + detail::DrainOpenSslErrors());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  return Ok();
}

Status LoadIdentity(SSL_CTX* ctx, const fs::path& cert_file, const fs::path& key_file) {
  if (auto ok = CheckFile(cert_file, "certificate"); !ok) return ok;
  if (auto ok = CheckFile(key_file, "private key"); !ok) return ok;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return LoadFailure("certificate", cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL checks the key against the certificate loaded above.
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return Fail(
          ErrorCode::kInvalidRequest,
          "private key " + key_file.string() + " does not match certificate " + cert_file.string());
    }
    return LoadFailure("private key", key_file);
  }
  return Ok();
}

Status LoadCa(SSL_CTX* ctx, const fs::path& ca_file) {
  if (auto ok = CheckFile(ca_file, "CA certificate"); !ok) return ok;
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    return LoadFailure("CA certificate", ca_file);
  }
  return Ok();
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeServerContext(const TlsServerConfig& config) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  if (auto ok = ApplyPolicy(ctx, config.min_version); !ok) return tl::unexpected(ok.error());
  // No resumption state on the server: no tickets (TLS 1.2 and 1.3) and no session cache, so
  // every connection proves its identity with a full handshake.
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (auto ok = LoadIdentity(ctx, config.cert_file, config.key_file); !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = LoadCa(ctx, config.ca_file); !ok) return tl::unexpected(ok.error());
  // Tell clients which CA we accept, so one holding several identities picks the right one.
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.ca_file.c_str())) {
    SSL_CTX_set_client_CA_list(ctx, names);
  }
  int mode = SSL_VERIFY_PEER;
  if (config.require_client_certificate) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  ERR_clear_error();
  return context;
}

Result<std::shared_ptr<ssl::context>> MakeClientContext(const TlsClientConfig& config) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  if (auto ok = ApplyPolicy(ctx, config.min_version); !ok) return tl::unexpected(ok.error());
  if (auto ok = LoadCa(ctx, config.ca_file); !ok) return tl::unexpected(ok.error());
  if (!config.cert_file.empty() || !config.key_file.empty()) {
    if (auto ok = LoadIdentity(ctx, config.cert_file, config.key_file); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  ERR_clear_error();
  return context;
}

}  // namespace msgbroker::net
