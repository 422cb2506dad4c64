#include "msgbroker/net/https_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>

#include "msgbroker/core/version.hpp"
#include "tls_internal.hpp"

namespace msgbroker::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using SteadyClock = std::chrono::steady_clock;

constexpr std::uint64_t kMaxResponseBodyBytes = 64ULL * 1024 * 1024;
constexpr std::uint32_t kMaxResponseHeaderBytes = 64 * 1024;

std::optional<asio::ip::address> ParseIp(const std::string& host) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return address;
}

// The peer closed (or reset) the connection: on a reused keep-alive connection this means the
// server dropped it while idle, and one retry on a fresh connection is safe.
bool IsConnectionClosed(const beast::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::connection_aborted || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated || ec == http::error::end_of_stream;
}

bool IsTlsError(const beast::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category();
}

}  // namespace

Result<Endpoint> ParseUrl(std::string_view url) {
  Endpoint endpoint;
  std::string_view rest;
  if (url.starts_with("https://")) {
    endpoint.tls = true;
    endpoint.port = 443;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    endpoint.tls = false;
    endpoint.port = 80;
    rest = url.substr(7);
  } else {
    return Fail(ErrorCode::kInvalidRequest,
                "URL '" + std::string(url) + "' must start with https:// or http://");
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidRequest,
                "URL '" + std::string(url) + "' must not contain user information");
  }
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidRequest, "URL '" + std::string(url) + "' has an unclosed '['");
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Fail(ErrorCode::kInvalidRequest,
                    "URL '" + std::string(url) + "' has text after the IPv6 address");
      }
      has_port = true;
      port = after.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    has_port = true;
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    return Fail(ErrorCode::kInvalidRequest, "URL '" + std::string(url) + "' has no host");
  }
  if (has_port) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return Fail(ErrorCode::kInvalidRequest,
                  "URL '" + std::string(url) + "' has an invalid port '" + std::string(port) + "'");
    }
    endpoint.port = static_cast<std::uint16_t>(value);
  }
  endpoint.host = std::string(host);
  return endpoint;
}

namespace {

std::string HostHeader(const Endpoint& endpoint) {
  return (endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]"
                                                       : endpoint.host) +
         ":" + std::to_string(endpoint.port);
}

}  // namespace

struct HttpsClient::Impl {
  // Only the settings, no context yet (the reloadable one supplies it per connection).
  Impl(Endpoint ep, std::nullopt_t, std::chrono::milliseconds t, TlsClientConfig tls_config)
      : endpoint(std::move(ep)),
        tls(std::move(tls_config)),
        timeout(t),
        where(endpoint.host + ":" + std::to_string(endpoint.port)),
        host_header(HostHeader(endpoint)),
        user_agent("msgbroker/" + std::string(Version())) {}
  Impl(Endpoint ep, std::optional<TlsClientConfig> tls_config, std::chrono::milliseconds t)
      : endpoint(std::move(ep)),
        tls(std::move(tls_config)),
        timeout(t),
        where(endpoint.host + ":" + std::to_string(endpoint.port)),
        host_header(HostHeader(endpoint)),
        user_agent("msgbroker/" + std::string(Version())) {
    if (!endpoint.tls) return;
    if (!tls) {
      setup_error = Error{ErrorCode::kInvalidRequest,
                          "https://" + where + " needs a TLS client configuration"};
      return;
    }
    auto context = MakeClientContext(*tls);
    if (context) {
      ssl_context = std::move(*context);
    } else {
      setup_error = context.error();
    }
  }
  Impl(Endpoint ep, std::shared_ptr<ReloadableClientContext> source, std::chrono::milliseconds t)
      : Impl(std::move(ep), std::nullopt, t, source->config()) {
    reloadable = std::move(source);
  }

  // The outcome of one request on one connection.
  struct Attempt {
    Result<HttpResponse> result;
    bool retry_on_new_connection = false;
  };

  Result<HttpResponse> Send(HttpRequest request);
  Status Connect(SteadyClock::time_point deadline);
  Result<tcp::resolver::results_type> Resolve(SteadyClock::time_point deadline);
  template <typename Stream>
  Attempt Exchange(Stream& stream, HttpRequest& request, SteadyClock::time_point deadline);
  bool connected() const { return secure.has_value() || plain.has_value(); }
  void Close() {
    beast::error_code ignored;
    if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
    if (plain) plain->socket().close(ignored);
    secure.reset();
    plain.reset();
    buffer.clear();
  }

  // Starts one asynchronous operation through `start(handler)` and runs the private io_context
  // until it completes; the stream's expiry bounds the wait.
  template <typename Start>
  beast::error_code Run(Start&& start) {
    beast::error_code result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  Error TimeoutError(std::string_view what) const {
    return Error{ErrorCode::kTimeout, what.empty()
                                          ? "no response from " + where + " within " +
                                                std::to_string(timeout.count()) + " ms"
                                          : std::string(what) + " " + where + " timed out after " +
                                                std::to_string(timeout.count()) + " ms"};
  }

  const Endpoint endpoint;
  const std::optional<TlsClientConfig> tls;
  const std::chrono::milliseconds timeout;
  const std::string where;
  const std::string host_header;
  const std::string user_agent;
  std::optional<Error> setup_error;
  std::shared_ptr<asio::ssl::context> ssl_context;
  std::shared_ptr<ReloadableClientContext> reloadable;
  std::uint64_t generation = 0;  // of reloadable's context in ssl_context
  asio::io_context ioc{1};
  std::optional<beast::tcp_stream> plain;
  std::optional<TlsStream> secure;
  beast::flat_buffer buffer;
};

Result<tcp::resolver::results_type> HttpsClient::Impl::Resolve(SteadyClock::time_point deadline) {
  const auto port = std::to_string(endpoint.port);
  if (auto ip = ParseIp(endpoint.host)) {
    return tcp::resolver::results_type::create(tcp::endpoint(*ip, endpoint.port), endpoint.host,
                                               port);
  }
  tcp::resolver resolver(ioc);
  beast::error_code result = asio::error::would_block;
  tcp::resolver::results_type results;
  resolver.async_resolve(endpoint.host, port,
                         [&](beast::error_code ec, tcp::resolver::results_type r) {
                           result = ec;
                           results = std::move(r);
                         });
  ioc.restart();
  ioc.run_until(deadline);
  if (result == asio::error::would_block) {
    resolver.cancel();
    ioc.restart();
    ioc.run();
    return tl::unexpected(TimeoutError("resolving"));
  }
  if (result) {
    return Fail(ErrorCode::kServiceUnavailable,
                "cannot resolve " + endpoint.host + ": " + result.message());
  }
  return results;
}

Status HttpsClient::Impl::Connect(SteadyClock::time_point deadline) {
  auto endpoints = Resolve(deadline);
  if (!endpoints) return tl::unexpected(endpoints.error());
  beast::tcp_stream stream(ioc);
  stream.expires_at(deadline);
  const auto ec = Run([&](auto handler) { stream.async_connect(*endpoints, std::move(handler)); });
  if (ec == beast::error::timeout) return tl::unexpected(TimeoutError("connecting to"));
  if (ec) {
    return Fail(ErrorCode::kServiceUnavailable, "cannot connect to " + where + ": " + ec.message());
  }
  stream.socket().set_option(tcp::no_delay(true));
  if (!endpoint.tls) {
    plain.emplace(std::move(stream));
    return Ok();
  }

  secure.emplace(std::move(stream), *ssl_context);
  SSL* ssl = secure->native_handle();
  const auto ip = ParseIp(endpoint.host);
  // SNI only for names (RFC 6066 forbids IP literals); the certificate check covers both.
  if (!ip && SSL_set_tlsext_host_name(ssl, endpoint.host.c_str()) != 1) {
    Close();
    return Fail(ErrorCode::kInternal, "cannot set the TLS server name for " + endpoint.host + ": " +
                                          detail::DrainOpenSslErrors());
  }
  if (tls->verify_host) {
    const int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), endpoint.host.c_str())
                       : SSL_set1_host(ssl, endpoint.host.c_str());
    if (set != 1) {
      Close();
      return Fail(ErrorCode::kInternal, "cannot set the expected TLS peer name " + endpoint.host +
                                            ": " + detail::DrainOpenSslErrors());
    }
  }
  const auto handshake = Run([&](auto handler) {
    secure->async_handshake(asio::ssl::stream_base::client, std::move(handler));
  });
  if (handshake) {
    const std::string verify = detail::VerifyFailure(ssl);
    Close();
    if (handshake == beast::error::timeout)
      return tl::unexpected(TimeoutError("TLS handshake with"));
    return Fail(ErrorCode::kServiceUnavailable, "TLS handshake with " + where +
                                                    " failed: " + handshake.message() +
                                                    (verify.empty() ? "" : ": " + verify));
  }
  return Ok();
}

template <typename Stream>
HttpsClient::Impl::Attempt HttpsClient::Impl::Exchange(Stream& stream, HttpRequest& request,
                                                       SteadyClock::time_point deadline) {
  beast::get_lowest_layer(stream).expires_at(deadline);
  const auto written =
      Run([&](auto handler) { http::async_write(stream, request, std::move(handler)); });
  if (written) {
    Close();
    if (written == beast::error::timeout) return {tl::unexpected(TimeoutError("sending to"))};
    return {Fail(ErrorCode::kServiceUnavailable,
                 "cannot send the request to " + where + ": " + written.message()),
            IsConnectionClosed(written)};
  }
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxResponseHeaderBytes);
  parser.body_limit(kMaxResponseBodyBytes);
  const auto read =
      Run([&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
  if (read) {
    const bool nothing_received = !parser.got_some();
    Close();
    if (read == beast::error::timeout) return {tl::unexpected(TimeoutError(""))};
    if (IsTlsError(read)) {
      // With TLS 1.3 the server judges our certificate after our side of the handshake is done,
      // so its alert ("certificate required", "unknown ca") arrives here.
      return {
          Fail(ErrorCode::kServiceUnavailable, "TLS error from " + where + ": " + read.message())};
    }
    if (IsConnectionClosed(read) && nothing_received) {
      return {Fail(ErrorCode::kServiceUnavailable,
                   where + " closed the connection before responding (" + read.message() + ")"),
              true};
    }
    return {
        Fail(ErrorCode::kUpstreamError, "invalid response from " + where + ": " + read.message())};
  }
  auto response = parser.release();
  if (!response.keep_alive()) Close();
  return {std::move(response)};
}

Result<HttpResponse> HttpsClient::Impl::Send(HttpRequest request) {
  if (setup_error) return tl::unexpected(*setup_error);
  if (reloadable) {
    auto current = reloadable->current();
    if (current.generation != generation) {
      Close();  // made with the certificate before the reload
      ssl_context = std::move(current.context);
      generation = current.generation;
    }
  }
  request.set(http::field::host, host_header);
  request.set(http::field::user_agent, user_agent);
  request.prepare_payload();
  const auto deadline = SteadyClock::now() + timeout;
  for (int attempt = 0;; ++attempt) {
    const bool reused = connected();
    if (!reused) {
      if (auto ok = Connect(deadline); !ok) return tl::unexpected(ok.error());
    }
    auto outcome =
        secure ? Exchange(*secure, request, deadline) : Exchange(*plain, request, deadline);
    if (outcome.result || !reused || !outcome.retry_on_new_connection || attempt > 0) {
      return std::move(outcome.result);
    }
  }
}

HttpsClient::HttpsClient(Endpoint endpoint, std::optional<TlsClientConfig> tls,
                         std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(std::move(endpoint), std::move(tls), timeout)) {}

HttpsClient::HttpsClient(Endpoint endpoint, std::shared_ptr<ReloadableClientContext> tls,
                         std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(std::move(endpoint), std::move(tls), timeout)) {}

HttpsClient::~HttpsClient() { impl_->Close(); }

Result<HttpResponse> HttpsClient::Send(HttpRequest request) {
  return impl_->Send(std::move(request));
}

Result<HttpResponse> HttpsClient::Get(std::string target) {
  return Send(HttpRequest{http::verb::get, std::move(target), 11});
}

Result<HttpResponse> HttpsClient::PostJson(std::string target, std::string body) {
  HttpRequest request{http::verb::post, std::move(target), 11};
  request.set(http::field::content_type, "application/json");
  request.body() = std::move(body);
  return Send(std::move(request));
}

void HttpsClient::Close() { impl_->Close(); }

}  // namespace msgbroker::net
