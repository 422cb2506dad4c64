#include "net_test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/pki/certificate_authority.hpp"

namespace msgbroker::net::testing {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

template <typename T>
T Require(Result<T> result, const char* what) {
  if (!result) throw std::runtime_error(std::string(what) + ": " + result.error().message);
  return std::move(*result);
}

void WritePair(const pki::IssuedCertificate& issued, const fs::path& cert, const fs::path& key) {
  auto ok = pki::WriteFileAtomically(cert, issued.certificate_pem, fs::perms(0644));
  if (ok) ok = pki::WriteFileAtomically(key, issued.private_key_pem, fs::perms(0600));
  if (!ok) throw std::runtime_error("writing test certificates: " + ok.error().message);
}

// The scratch directory with every test certificate, removed when the test binary exits.
class PkiDirectory {
 public:
  PkiDirectory() {
    std::string pattern = (fs::temp_directory_path() / "msgbroker-net-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    pki_.dir = pattern;
    const auto& clock = SystemClock::Instance();
    auto ca = Require(pki::CertificateAuthority::Create({}, clock), "creating the CA");
    auto other_ca = Require(pki::CertificateAuthority::Create({.common_name = "other CA"}, clock),
                            "creating the other CA");
    pki_.ca_cert = pki_.dir / "ca.crt";
    pki_.other_ca_cert = pki_.dir / "other-ca.crt";
    if (!pki::WriteFileAtomically(pki_.ca_cert, ca.certificate_pem(), fs::perms(0644)) ||
        !pki::WriteFileAtomically(pki_.other_ca_cert, other_ca.certificate_pem(),
                                  fs::perms(0644))) {
      throw std::runtime_error("writing the CA certificates failed");
    }
    auto file = [&](const char* name) { return pki_.dir / name; };
    pki_.server_cert = file("server.crt");
    pki_.server_key = file("server.key");
    WritePair(Require(ca.IssueService({}), "issuing the server certificate"), pki_.server_cert,
              pki_.server_key);
    pki_.worker_cert = file("worker.crt");
    pki_.worker_key = file("worker.key");
    WritePair(Require(ca.IssueService({.role = pki::ServiceRole::kWorker}), "issuing the worker"),
              pki_.worker_cert, pki_.worker_key);
    pki_.mismatched_server_cert = file("mismatched.crt");
    pki_.mismatched_server_key = file("mismatched.key");
    WritePair(
        Require(ca.IssueService({.dns_names = {"other.example"}, .ip_addresses = {"127.0.0.2"}}),
                "issuing the mismatched server certificate"),
        pki_.mismatched_server_cert, pki_.mismatched_server_key);
    pki_.client_cert = file("client.crt");
    pki_.client_key = file("client.key");
    WritePair(
        Require(ca.IssueClient({.client_id = *ClientId::Parse("acme"), .domain = "acme.example"}),
                "issuing the client certificate"),
        pki_.client_cert, pki_.client_key);
    pki_.other_client_cert = file("other-client.crt");
    pki_.other_client_key = file("other-client.key");
    WritePair(Require(other_ca.IssueClient(
                          {.client_id = *ClientId::Parse("mallory"), .domain = "mallory.example"}),
                      "issuing the other CA's client certificate"),
              pki_.other_client_cert, pki_.other_client_key);
  }
  ~PkiDirectory() {
    std::error_code ignored;
    fs::remove_all(pki_.dir, ignored);
  }
  const TestPki& pki() const { return pki_; }

 private:
  TestPki pki_;
};

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
  return fd;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::optional<RawResponse> ParseResponse(std::string& data) {
  const auto header_end = data.find("\r\n\r\n");
  if (header_end == std::string::npos) return std::nullopt;
  RawResponse response;
  const std::string head = data.substr(0, header_end);
  std::size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12) return std::nullopt;
  response.status = static_cast<unsigned>(std::stoul(status_line.substr(9, 3)));
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    response.headers[Lower(line.substr(0, colon))] = value;
  }
  std::size_t length = 0;
  if (auto it = response.headers.find("content-length"); it != response.headers.end()) {
    length = std::stoul(it->second);
  }
  if (data.size() < header_end + 4 + length) return std::nullopt;
  response.body = data.substr(header_end + 4, length);
  data.erase(0, header_end + 4 + length);
  return response;
}

}  // namespace

const TestPki& Pki() {
  static const PkiDirectory directory;
  return directory.pki();
}

TlsServerConfig ServerTls(bool require_client_certificate) {
  TlsServerConfig config;
  config.cert_file = Pki().server_cert;
  config.key_file = Pki().server_key;
  config.ca_file = Pki().ca_cert;
  config.require_client_certificate = require_client_certificate;
  return config;
}

TlsClientConfig ClientTls(bool with_certificate) {
  TlsClientConfig config;
  config.ca_file = Pki().ca_cert;
  if (with_certificate) {
    config.cert_file = Pki().client_cert;
    config.key_file = Pki().client_key;
  }
  return config;
}

double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels) {
  double total = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      const bool matches = std::all_of(labels.begin(), labels.end(), [&](const auto& wanted) {
        return std::any_of(metric.label.begin(), metric.label.end(), [&](const auto& label) {
          return label.name == wanted.first && label.value == wanted.second;
        });
      });
      if (!matches) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          total += metric.counter.value;
          break;
        case prometheus::MetricType::Gauge:
          total += metric.gauge.value;
          break;
        case prometheus::MetricType::Histogram:
          total += static_cast<double>(metric.histogram.sample_count);
          break;
        default:
          break;
      }
    }
  }
  return total;
}

TestServer::TestServer(Router router, std::optional<TlsServerConfig> tls_config,
                       ServerLimits limits, std::size_t threads)
    : registry(std::make_shared<prometheus::Registry>()), tls(tls_config.has_value()) {
  HttpServerOptions options;
  options.service = "test";
  options.threads = threads;
  options.tls = std::move(tls_config);
  options.limits = limits;
  server = std::make_unique<HttpServer>(std::move(options), std::move(router), *registry);
  started = server->Start();
}

TestServer::~TestServer() { server->Stop(milliseconds{0}); }

Endpoint TestServer::endpoint() const { return Endpoint{tls, "127.0.0.1", server->port()}; }

HttpsClient TestServer::Client(std::optional<TlsClientConfig> tls_config,
                               milliseconds timeout) const {
  return HttpsClient(endpoint(), tls ? std::move(tls_config) : std::nullopt, timeout);
}

RawConnection::RawConnection(std::uint16_t port) : fd_(ConnectTcp(port)) {}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

int RawConnection::ReadSome(milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready <= 0) return -1;
  char chunk[16384];
  const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
  if (n <= 0) return 0;
  pending_.append(chunk, static_cast<std::size_t>(n));
  return static_cast<int>(n);
}

std::optional<RawResponse> RawConnection::ReadResponse(milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    if (auto response = ParseResponse(pending_)) return response;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0 || ReadSome(left) <= 0) return std::nullopt;
  }
}

bool RawConnection::WaitClosed(milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    const int n = ReadSome(left);
    if (n == 0) return true;
    if (n < 0) return false;
    pending_.clear();
  }
}

RawTlsResult RawTlsHandshake(std::uint16_t port, int min_version, int max_version,
                             const std::string& cipher_list, const RawTlsOffer& offer) {
  RawTlsResult result;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  // Security level 0 lets this client offer TLS 1.0/1.1, so a failure is the server's verdict.
  SSL_CTX_set_security_level(ctx.get(), 0);
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (!cipher_list.empty()) SSL_CTX_set_cipher_list(ctx.get(), cipher_list.c_str());
  if (!offer.cipher_suites.empty())
    SSL_CTX_set_ciphersuites(ctx.get(), offer.cipher_suites.c_str());
  if (!offer.groups.empty()) SSL_CTX_set1_groups_list(ctx.get(), offer.groups.c_str());
  SSL_CTX_load_verify_locations(ctx.get(), Pki().ca_cert.c_str(), nullptr);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  const int fd = ConnectTcp(port);
  if (fd < 0) {
    result.error = "connect failed";
    return result;
  }
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  SSL_set_fd(ssl.get(), fd);
  if (SSL_connect(ssl.get()) == 1) {
    result.ok = true;
    result.version = SSL_version(ssl.get());
    result.cipher = SSL_get_cipher_name(ssl.get());
    const int group = SSL_get_negotiated_group(ssl.get());
    if (group != 0) result.group = OBJ_nid2sn(group);
    SSL_shutdown(ssl.get());
  } else {
    char text[256];
    ERR_error_string_n(ERR_get_error(), text, sizeof(text));
    result.error = text;
  }
  ERR_clear_error();
  ssl.reset();
  ::close(fd);
  return result;
}

}  // namespace msgbroker::net::testing
