// Fuzz target: the bytes a client sends on one proxy connection.
//
// They are read the way the HTTP server reads them (Beast's read algorithm, the parser set up by
// net::ApplyLimits with the proxy's limits, refusals by net::HeaderFailure and net::ReadFailure),
// request after request as pipelined on one keep-alive connection, and every request goes through
// the router into the proxy's real handlers (content type, body parsing and validation, sealing)
// and the standard endpoints. Only the sockets are left out, and the queue and the client registry
// are in-memory stand-ins; the caller always holds a registered client's certificate.
//
// Properties beyond "no crash": a handler answers every request exactly once and synchronously
// (the stand-ins never defer), never with a 5xx (the stand-ins never fail), and every JSON answer
// is valid JSON.

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "msgbroker/api/contract.hpp"
#include "msgbroker/core/clock.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "msgbroker/net/request_parser.hpp"
#include "msgbroker/net/router.hpp"
#include "msgbroker/net/standard_endpoints.hpp"
#include "msgbroker/proxy/client_directory.hpp"
#include "msgbroker/proxy/proxy_service.hpp"
#include "msgbroker/queue/queue.hpp"

namespace {

using namespace msgbroker;
namespace http = net::http;

// What a connection delivers per read at most: the server's first read of a request is this size,
// and smaller pieces make Beast resume a header or body across reads as it does on a real socket.
constexpr std::size_t kMaxReadBytes = 4096;
constexpr std::string_view kFingerprint =
    "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

// A SyncReadStream over the input, ending with EOF (the client closing its side).
class InputStream {
 public:
  explicit InputStream(std::string_view data) : data_(data) {}

  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
    if (data_.empty()) {
      ec = boost::asio::error::eof;
      return 0;
    }
    ec = {};
    const std::size_t n = boost::asio::buffer_copy(
        buffers, boost::asio::buffer(data_.data(), std::min(data_.size(), kMaxReadBytes)));
    data_.remove_prefix(n);
    return n;
  }

  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    boost::system::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  bool exhausted() const { return data_.empty(); }

 private:
  std::string_view data_;
};

// Accepts everything at once: durable as far as the proxy can tell.
class AcceptingQueue final : public queue::Queue {
 public:
  void EnqueueAsync(std::vector<queue::NewMessage> messages, EnqueueCallback done) override {
    FUZZ_CHECK(!messages.empty());
    done(Ok());
  }
  Result<std::vector<queue::ClaimedMessage>> Claim(std::string_view, std::size_t,
                                                   std::chrono::milliseconds,
                                                   std::chrono::milliseconds) override {
    return std::vector<queue::ClaimedMessage>{};
  }
  Status Ack(std::span<const MessageId>) override { return Ok(); }
  Status Retry(std::span<const queue::RetryRequest>) override { return Ok(); }
  Status DeadLetter(std::span<const queue::DeadLetterRequest>) override { return Ok(); }
  Result<std::vector<queue::DeadLetter>> ListDeadLetters(std::size_t, std::size_t) override {
    return std::vector<queue::DeadLetter>{};
  }
  Status ReplayDeadLetter(const MessageId&) override { return Ok(); }
  Status DiscardDeadLetter(const MessageId&) override { return Ok(); }
  Result<queue::QueueStats> Stats() override { return queue::QueueStats{}; }
  void Close() override {}
};

// The sealer needs the main server's public key as a file: made once in a temporary directory.
std::unique_ptr<crypto::EnvelopeSealer> MakeSealer() {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "msgbroker-fuzz-XXXXXX").string();
  FUZZ_CHECK(::mkdtemp(dir.data()) != nullptr);
  FUZZ_CHECK(crypto::CreateEnvelopeKeyPair(fs::path(dir) / "envelope.pub",
                                           fs::path(dir) / "envelope.key"));
  auto sealer = crypto::EnvelopeSealer::LoadPublicKeyFile(fs::path(dir) / "envelope.pub");
  fs::remove_all(dir);
  FUZZ_CHECK(sealer.has_value());
  return std::move(*sealer);
}

// The proxy as its composition root assembles it, minus the listening server.
struct Proxy {
  Proxy()
      : sealer(MakeSealer()),
        directory([this] { return Identities(); }, std::chrono::hours{1}),
        service({}, queue, directory, *sealer, clock, *registry) {
    limits.max_body_bytes = api::kMaxBatchBodyBytes;  // the proxy's limit (cli/src)
    FUZZ_CHECK(directory.Refresh());
    service.RegisterRoutes(router);
    status->ready = true;
    net::AddStandardEndpoints(
        router, "proxy", status, [this] { return service.Health(); }, registry);
    peer.fingerprint_sha256 = std::string(kFingerprint);
  }

  Result<std::vector<storage::ClientIdentity>> Identities() const {
    storage::ClientIdentity identity;
    identity.client.id = *ClientId::Parse("fuzz-client");
    identity.certificate.fingerprint_sha256 = std::string(kFingerprint);
    identity.certificate.client_id = identity.client.id;
    identity.certificate.not_after = clock.Now() + std::chrono::hours{24 * 365};
    return std::vector<storage::ClientIdentity>{identity};
  }

  FakeClock clock;
  AcceptingQueue queue;
  std::unique_ptr<crypto::EnvelopeSealer> sealer;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  proxy::ClientDirectory directory;
  proxy::ProxyService service;
  std::shared_ptr<net::ServiceStatus> status = std::make_shared<net::ServiceStatus>();
  net::Router router;
  net::ServerLimits limits;
  pki::CertificateInfo peer;
};

// Built once per process and kept: the set-up (a key pair, a registry snapshot) costs far more
// than an input.
Proxy& TheProxy() {
  static Proxy* proxy = [] {
    spdlog::set_level(spdlog::level::off);  // rejections are logged; nobody reads them here
    return new Proxy();
  }();
  return *proxy;
}

// Connection::Dispatch in http_server.cpp, without the threads: the router, then the handler.
net::HttpResponse Dispatch(Proxy& proxy, net::HttpRequest&& request) {
  net::RequestContext context;
  context.request_id = net::RequestIdFor(request[api::kRequestIdHeader]);
  context.remote_address = "192.0.2.1:40000";
  context.peer = proxy.peer;
  auto match = proxy.router.Find(request.method(), request.target());
  if (match.handler == nullptr) {
    return net::UnroutedResponse(match, request.method(), request.target(), context.request_id);
  }
  context.route = std::move(match.route);
  context.path_params = std::move(match.params);
  std::optional<net::HttpResponse> answer;
  int calls = 0;
  (*match.handler)(std::move(request), context, [&](net::HttpResponse response) {
    ++calls;
    answer = std::move(response);
  });
  FUZZ_CHECK(calls == 1);
  return std::move(*answer);
}

// Connection::WriteResponse: the headers the server adds, then the bytes on the wire.
void Send(net::HttpResponse&& response, unsigned version, bool keep_alive) {
  FUZZ_CHECK(response.result_int() < 500);
  if (response[http::field::content_type] == api::kJsonContentType) {
    FUZZ_CHECK(nlohmann::json::accept(response.body()));
  }
  response.version(version);
  response.set(http::field::server, "msgbroker");
  response.keep_alive(keep_alive);
  response.prepare_payload();
  std::ostringstream wire;
  wire << response;
  FUZZ_CHECK(!wire.str().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Proxy& proxy = TheProxy();
  InputStream stream(std::string_view(reinterpret_cast<const char*>(data), size));
  boost::beast::flat_buffer buffer;
  // Connection::ReadNext, ReadHeader, ReadBody and OnReadError, one request per turn.
  while (buffer.size() > 0 || !stream.exhausted()) {
    net::RequestParser parser;
    net::ApplyLimits(parser, proxy.limits);
    boost::system::error_code ec;
    http::read_header(stream, buffer, parser, ec);
    // The server answers what it can and closes the connection after any failed read, and after
    // a header it refuses.
    const auto refuse = [&](const Error& error) {
      const auto& partial = parser.get();
      Send(net::MakeErrorResponse(error, net::RequestIdFor(partial[api::kRequestIdHeader])),
           partial.version() == 10 ? 10 : 11, false);
    };
    if (!ec) {
      if (const auto error = net::HeaderFailure(parser)) {
        refuse(*error);
        break;
      }
      if (!parser.is_done()) http::read(stream, buffer, parser, ec);
    }
    if (ec) {
      if (const auto error = net::ReadFailure(ec, proxy.limits)) refuse(*error);
      break;
    }
    const unsigned version = parser.get().version();
    const bool keep_alive = parser.get().keep_alive();
    Send(Dispatch(proxy, parser.release()), version, keep_alive);
    if (!keep_alive) break;
  }
  return 0;
}
