#include "attack_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <memory>
#include <sstream>

namespace msgbroker::testing {

namespace {

using SteadyClock = std::chrono::steady_clock;

template <typename T, void (*kFree)(T*)>
struct Deleter {
  void operator()(T* p) const { kFree(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

std::string OpenSslError(std::string_view what) {
  char text[256] = {};
  ERR_error_string_n(ERR_get_error(), text, sizeof(text));
  ERR_clear_error();
  return std::string(what) + ": " + text;
}

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot read " + path.string());
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

template <typename Write>
std::string ToPem(Write write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  write(bio.get());
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

int ConnectTcp(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Waits for the socket to become readable or writable as OpenSSL asked; false on timeout.
bool WaitSocket(int fd, int ssl_error, SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()).count();
  if (left <= 0) return false;
  pollfd p{fd, static_cast<short>(ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
  return ::poll(&p, 1, static_cast<int>(left)) > 0;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

Result<pki::IssuedCertificate> IssueRogue(const RogueCertificate& spec,
                                          const std::filesystem::path& ca_cert,
                                          const std::filesystem::path& ca_key) {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Fail(ErrorCode::kInternal, OpenSslError("EVP_EC_gen"));
  CertPtr issuer_cert;
  KeyPtr issuer_key;
  if (!ca_cert.empty()) {
    auto cert_pem = ReadFile(ca_cert);
    auto key_pem = ReadFile(ca_key);
    if (!cert_pem || !key_pem) return Fail(ErrorCode::kNotFound, "CA files missing");
    BioPtr cert_bio(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
    BioPtr key_bio(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
    issuer_cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    issuer_key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!issuer_cert || !issuer_key) return Fail(ErrorCode::kInternal, OpenSslError("CA"));
  }

  CertPtr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> serial(BN_new());
  BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(spec.not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(spec.not_after.count()));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer_cert ? X509_get_subject_name(issuer_cert.get()) : name);
  X509_set_pubkey(cert.get(), key.get());
  X509* issuer = issuer_cert ? issuer_cert.get() : cert.get();
  std::string eku;
  for (const auto& usage : spec.extended_key_usage) eku += (eku.empty() ? "" : ",") + usage;
  const bool extensions_ok =
      AddExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE") &&
      AddExtension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature") &&
      AddExtension(cert.get(), issuer, NID_subject_key_identifier, "hash") &&
      AddExtension(cert.get(), issuer, NID_authority_key_identifier, "keyid") &&
      (eku.empty() || AddExtension(cert.get(), issuer, NID_ext_key_usage, eku)) &&
      (spec.uri_san.empty() ||
       AddExtension(cert.get(), issuer, NID_subject_alt_name, "URI:" + spec.uri_san));
  if (!extensions_ok) return Fail(ErrorCode::kInternal, OpenSslError("extension"));
  if (X509_sign(cert.get(), issuer_key ? issuer_key.get() : key.get(), EVP_sha256()) == 0) {
    return Fail(ErrorCode::kInternal, OpenSslError("X509_sign"));
  }

  pki::IssuedCertificate issued;
  issued.certificate_pem = ToPem([&](BIO* bio) { PEM_write_bio_X509(bio, cert.get()); });
  issued.private_key_pem = ToPem([&](BIO* bio) {
    PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  auto info = pki::DescribePem(issued.certificate_pem);
  if (!info) return tl::unexpected(info.error());
  issued.info = std::move(*info);
  return issued;
}

RawTlsConnection::RawTlsConnection(std::uint16_t port, const RawTlsOptions& options) {
  // SSL_write on a connection the server has closed must fail, not kill the test with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  ctx_ = SSL_CTX_new(TLS_client_method());
  // Security level 0 lets this client offer TLS 1.0/1.1, so a refusal is the server's verdict.
  SSL_CTX_set_security_level(ctx_, 0);
  SSL_CTX_set_min_proto_version(ctx_, options.min_version);
  SSL_CTX_set_max_proto_version(ctx_, options.max_version);
  if (!options.ca_file.empty()) {
    SSL_CTX_load_verify_locations(ctx_, options.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!options.cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx_, options.cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx_, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
    error_ = OpenSslError("client certificate");
    return;
  }
  fd_ = ConnectTcp(port);
  if (fd_ < 0) {
    error_ = "connect failed";
    return;
  }
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd_);
  const auto deadline = SteadyClock::now() + std::chrono::seconds{5};
  for (;;) {
    const int rc = SSL_connect(ssl);
    if (rc == 1) break;
    const int err = SSL_get_error(ssl, rc);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) &&
        WaitSocket(fd_, err, deadline)) {
      continue;
    }
    error_ = err == SSL_ERROR_SSL ? OpenSslError("handshake") : "handshake failed or timed out";
    SSL_free(ssl);
    return;
  }
  ssl_ = ssl;
}

RawTlsConnection::~RawTlsConnection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  ERR_clear_error();
}

int RawTlsConnection::version() const { return ssl_ != nullptr ? SSL_version(ssl_) : 0; }

bool RawTlsConnection::Send(std::string_view data) {
  if (ssl_ == nullptr) return false;
  const auto deadline = SteadyClock::now() + std::chrono::seconds{10};
  while (!data.empty()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), 16 * 1024));
    const int rc = SSL_write(ssl_, data.data(), chunk);
    if (rc > 0) {
      data.remove_prefix(static_cast<std::size_t>(rc));
      continue;
    }
    const int err = SSL_get_error(ssl_, rc);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) &&
        WaitSocket(fd_, err, deadline)) {
      continue;
    }
    ERR_clear_error();
    return false;
  }
  return true;
}

int RawTlsConnection::ReadSome(milliseconds timeout) {
  if (ssl_ == nullptr) return 0;
  const auto deadline = SteadyClock::now() + timeout;
  char buffer[16 * 1024];
  for (;;) {
    const int rc = SSL_read(ssl_, buffer, sizeof(buffer));
    if (rc > 0) {
      pending_.append(buffer, static_cast<std::size_t>(rc));
      return rc;
    }
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!WaitSocket(fd_, err, deadline)) return -1;
      continue;
    }
    ERR_clear_error();
    return 0;  // close_notify, EOF, reset, or an alert such as "certificate required"
  }
}

std::optional<RawHttpResponse> RawTlsConnection::ReadResponse(milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    const auto header_end = pending_.find("\r\n\r\n");
    if (header_end != std::string::npos) {
      RawHttpResponse response;
      std::istringstream head(pending_.substr(0, header_end));
      std::string line;
      std::getline(head, line);
      if (line.rfind("HTTP/1.", 0) == 0 && line.size() >= 12) {
        response.status = static_cast<unsigned>(std::stoi(line.substr(9, 3)));
      }
      while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        response.headers[Lower(line.substr(0, colon))] = value;
      }
      const auto length_it = response.headers.find("content-length");
      const std::size_t length =
          length_it == response.headers.end() ? 0 : std::stoul(length_it->second);
      if (pending_.size() >= header_end + 4 + length) {
        response.body = pending_.substr(header_end + 4, length);
        pending_.erase(0, header_end + 4 + length);
        return response;
      }
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
    if (ReadSome(std::max(left, milliseconds{0})) <= 0) return std::nullopt;
  }
}

std::optional<std::string> RawTlsConnection::ReadUntilClosed(milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
    const int rc = ReadSome(std::max(left, milliseconds{0}));
    if (rc == 0) return std::exchange(pending_, {});
    if (rc < 0) return std::nullopt;
  }
}

}  // namespace msgbroker::testing
