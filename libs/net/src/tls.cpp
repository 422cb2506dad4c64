#include "msgbroker/net/tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <system_error>
#include <vector>

#include "tls_internal.hpp"

namespace msgbroker::net {
namespace {

namespace fs = std::filesystem;
namespace ssl = boost::asio::ssl;

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

tl::unexpected<Error> PolicyError(std::string message) {
  ERR_clear_error();
  return Fail(ErrorCode::kInvalidRequest, "TLS policy: " + std::move(message));
}

std::vector<std::string> SplitColons(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto end = std::min(list.find(':', start), list.size());
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// TLS 1.2: every name must be a cipher OpenSSL knows (it skips unknown names silently), and every
// suite the list enables must have ECDHE key exchange and an AEAD (forward secrecy, no CBC).
Status ApplyTls12Ciphers(SSL_CTX* ctx, const std::string& list) {
  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> scratch(SSL_CTX_new(TLS_method()),
                                                                  &SSL_CTX_free);
  for (const auto& name : SplitColons(list)) {
    if (!scratch || SSL_CTX_set_cipher_list(scratch.get(), name.c_str()) != 1) {
      return PolicyError("unknown TLS 1.2 cipher '" + name + "'");
    }
  }
  if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1) {
    return PolicyError("no usable TLS 1.2 cipher in '" + list + "'");
  }
  const STACK_OF(SSL_CIPHER)* enabled = SSL_CTX_get_ciphers(ctx);
  for (int i = 0; i < sk_SSL_CIPHER_num(enabled); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(enabled, i);
    if (SSL_CIPHER_get_kx_nid(cipher) == NID_kx_any) continue;  // a TLS 1.3 suite
    if (SSL_CIPHER_get_kx_nid(cipher) != NID_kx_ecdhe || SSL_CIPHER_is_aead(cipher) != 1) {
      return PolicyError(std::string("TLS 1.2 cipher '") + SSL_CIPHER_get_name(cipher) +
                         "' is not allowed: only ECDHE key exchange with an AEAD cipher");
    }
  }
  return Ok();
}

Status ApplyPolicy(SSL_CTX* ctx, const TlsPolicy& policy) {
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, ProtocolVersion(policy.min_version)) != 1) {
    return Fail(ErrorCode::kInternal,
                "cannot apply the TLS policy: " + detail::DrainOpenSslErrors());
  }
  if (auto ok = ApplyTls12Ciphers(
          ctx, policy.ciphers.empty() ? std::string(kDefaultTls12Ciphers) : policy.ciphers);
      !ok) {
    return ok;
  }
  const std::string suites =
      policy.cipher_suites.empty() ? kDefaultTls13CipherSuites : policy.cipher_suites;
  // SSL_CTX_set_ciphersuites refuses unknown names itself (all TLS 1.3 suites are AEAD).
  if (SSL_CTX_set_ciphersuites(ctx, suites.c_str()) != 1) {
    return PolicyError("unknown or empty TLS 1.3 cipher suite list '" + suites + "'");
  }
  const std::string groups = policy.groups.empty() ? kDefaultTlsGroups : policy.groups;
  if (SSL_CTX_set1_groups_list(ctx, groups.c_str()) != 1) {
    return PolicyError("unknown group in '" + groups + "'");
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
  if (auto ok = ApplyPolicy(ctx, config.policy); !ok) return tl::unexpected(ok.error());
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
  if (auto ok = ApplyPolicy(ctx, config.policy); !ok) return tl::unexpected(ok.error());
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

Result<std::shared_ptr<ReloadableClientContext>> ReloadableClientContext::Create(
    TlsClientConfig config, std::string service) {
  std::shared_ptr<ReloadableClientContext> reloadable(
      new ReloadableClientContext(std::move(config), std::move(service)));
  if (auto ok = reloadable->Load(); !ok) return tl::unexpected(ok.error());
  return reloadable;
}

Status ReloadableClientContext::Load() {
  auto context = MakeClientContext(config_);
  if (!context) return tl::unexpected(context.error());
  std::lock_guard lock(mutex_);
  current_ = {std::move(*context), current_.generation + 1};
  return Ok();
}

Status ReloadableClientContext::Reload() {
  if (auto ok = Load(); !ok) {
    spdlog::error("event=tls_reload_failed service={} error=\"{}\"", service_, ok.error().message);
    return ok;
  }
  spdlog::info("event=tls_reloaded service={}", service_);
  return Ok();
}

ReloadableClientContext::Current ReloadableClientContext::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace msgbroker::net
