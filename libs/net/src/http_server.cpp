#include "msgbroker/net/http_server.hpp"

#include <openssl/ssl.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <condition_variable>
#include <ctime>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "msgbroker/net/request_parser.hpp"
#include "msgbroker/pki/certificate_info.hpp"
#include "tls_internal.hpp"

namespace msgbroker::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Executor = asio::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;
using TcpStream = beast::basic_stream<tcp, Executor>;
using TlsStream = beast::ssl_stream<TcpStream>;
using SteadyClock = std::chrono::steady_clock;

// Route label for requests that matched no route (404) or never became a request (400/413/431),
// so that arbitrary paths cannot blow up the metric's cardinality.
constexpr std::string_view kUnmatchedRoute = "unmatched";
constexpr std::size_t kReadChunk = 4096;
// After a final response, how long the peer may take to close its side before we cut it off.
constexpr std::chrono::seconds kLingerTimeout{1};
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// "Sun, 06 Nov 1994 08:49:37 GMT", formatted at most once per second per thread.
std::string_view HttpDate() {
  thread_local std::time_t cached_second = -1;
  thread_local char text[40];
  thread_local std::size_t length = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    length = std::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &utc);
    cached_second = now;
  }
  return {text, length};
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const auto port = std::to_string(endpoint.port());
  return address.is_v6() ? "[" + address.to_string() + "]:" + port
                         : address.to_string() + ":" + port;
}

// Families shared by every thread of one server; the per-thread MetricsCache keeps pointers to
// their children so the hot path takes no registry lock.
struct ServerMetrics {
  ServerMetrics(prometheus::Registry& registry, const std::string& service)
      : requests(prometheus::BuildCounter()
                     .Name("http_requests_total")
                     .Help("HTTP requests answered, by route, method and status")
                     .Register(registry)),
        duration(prometheus::BuildHistogram()
                     .Name("http_request_duration_seconds")
                     .Help("Time from a request's arrival to its response, by route")
                     .Register(registry)),
        active(prometheus::BuildGauge()
                   .Name("http_connections_active")
                   .Help("Open HTTP connections")
                   .Register(registry)
                   .Add({{"service", service}})),
        rejected_max_connections(prometheus::BuildCounter()
                                     .Name("http_connections_rejected_total")
                                     .Help("Connections closed at once, by reason")
                                     .Register(registry)
                                     .Add({{"service", service}, {"reason", "max_connections"}})),
        handshake_failures(prometheus::BuildCounter()
                               .Name("tls_handshake_failures_total")
                               .Help("TLS handshakes that failed or timed out")
                               .Register(registry)
                               .Add({{"service", service}})) {}

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Gauge& active;
  prometheus::Counter& rejected_max_connections;
  prometheus::Counter& handshake_failures;
};

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  return kBuckets;
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

// One per I/O thread, touched only by that thread.
class MetricsCache {
 public:
  void Record(ServerMetrics& metrics, const std::string& service, std::string_view route,
              http::verb method, unsigned status, double seconds) {
    auto it = routes_.find(route);
    if (it == routes_.end()) {
      auto& histogram = metrics.duration.Add({{"service", service}, {"route", std::string(route)}},
                                             DurationBuckets());
      it = routes_.emplace(std::string(route), RouteMetrics{&histogram, {}}).first;
    }
    RouteMetrics& entry = it->second;
    entry.duration->Observe(seconds);
    for (const auto& counter : entry.counters) {
      if (counter.method == method && counter.status == status) {
        counter.counter->Increment();
        return;
      }
    }
    auto& counter = metrics.requests.Add({{"service", service},
                                          {"route", std::string(route)},
                                          {"method", std::string(http::to_string(method))},
                                          {"status", std::to_string(status)}});
    entry.counters.push_back({method, status, &counter});
    counter.Increment();
  }

 private:
  struct CounterEntry {
    http::verb method;
    unsigned status;
    prometheus::Counter* counter;
  };
  struct RouteMetrics {
    prometheus::Histogram* duration;
    std::vector<CounterEntry> counters;
  };
  std::unordered_map<std::string, RouteMetrics, StringHash, std::equal_to<>> routes_;
};

// Lets Responders running on any thread reach a worker's io_context for as long as it exists,
// and never after (a Responder may outlive the server).
struct Gate {
  explicit Gate(asio::io_context* context) : ioc(context) {}
  std::mutex mutex;
  asio::io_context* ioc;

  template <typename Function>
  void Post(Function&& function) {
    std::lock_guard lock(mutex);
    if (ioc != nullptr) asio::post(*ioc, std::forward<Function>(function));
  }
  void Close() {
    std::lock_guard lock(mutex);
    ioc = nullptr;
  }
};

class ConnectionBase : public std::enable_shared_from_this<ConnectionBase> {
 public:
  virtual ~ConnectionBase() = default;
  // On the connection's thread: the handler's response, or the handler dropped its Responder.
  virtual void OnResponse(HttpResponse&& response) = 0;
  virtual void OnResponderDropped() = 0;
  // On the connection's thread: Stop() began. Idle connections close now, busy ones after the
  // response in progress.
  virtual void Shutdown() = 0;
  // After the I/O threads are gone: close the socket.
  virtual void ForceClose() = 0;
};

// One I/O thread with its own io_context; connections are handed out round-robin.
struct Worker {
  asio::io_context ioc{1};
  asio::executor_work_guard<Executor> work{ioc.get_executor()};
  std::shared_ptr<Gate> gate = std::make_shared<Gate>(&ioc);
  std::list<std::shared_ptr<ConnectionBase>> connections;
  MetricsCache metrics_cache;
  bool stopping = false;
  std::thread thread;

  void Run(const std::string& service) {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("event=http_io_thread_exception service={} error=\"{}\"", service, e.what());
      }
    }
  }
};

// The exactly-once state behind a Responder. Responses travel to the connection's thread by
// post; a Responder dropped without being called answers 500 so the client is never left hanging.
class ResponseSlot {
 public:
  ResponseSlot(std::weak_ptr<ConnectionBase> connection, std::shared_ptr<Gate> gate)
      : connection_(std::move(connection)), gate_(std::move(gate)) {}
  ResponseSlot(const ResponseSlot&) = delete;
  ResponseSlot& operator=(const ResponseSlot&) = delete;
  ~ResponseSlot() {
    if (responded_.exchange(true)) return;
    gate_->Post([connection = std::move(connection_)] {
      if (auto c = connection.lock()) c->OnResponderDropped();
    });
  }

  void Respond(HttpResponse&& response) {
    if (responded_.exchange(true)) {
      spdlog::warn("event=responder_called_twice");
      return;
    }
    gate_->Post([connection = connection_, response = std::move(response)]() mutable {
      if (auto c = connection.lock()) c->OnResponse(std::move(response));
    });
  }

 private:
  std::weak_ptr<ConnectionBase> connection_;
  std::shared_ptr<Gate> gate_;
  std::atomic<bool> responded_{false};
};

std::string CurrentExceptionText() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

// What connections share: configuration, routes, metrics and the open-connection count.
struct ServerCore {
  ServerCore(HttpServerOptions opts, Router r, prometheus::Registry& registry)
      : options(std::move(opts)), router(std::move(r)), metrics(registry, options.service) {}

  void ConnectionClosed() {
    metrics.active.Decrement();
    if (active.fetch_sub(1) == 1) {
      std::lock_guard lock(mutex);
      drained.notify_all();
    }
  }

  const HttpServerOptions options;
  const Router router;
  ServerMetrics metrics;
  // The current TLS context; ReloadTls swaps it (new connections take the new one, open ones
  // keep theirs).
  std::shared_ptr<asio::ssl::context> TlsContext() {
    std::lock_guard lock(tls_mutex);
    return tls_context;
  }
  void SetTlsContext(std::shared_ptr<asio::ssl::context> context) {
    std::lock_guard lock(tls_mutex);
    tls_context = std::move(context);
  }

  std::mutex tls_mutex;
  std::shared_ptr<asio::ssl::context> tls_context;
  std::atomic<std::size_t> active{0};
  std::mutex mutex;
  std::condition_variable drained;
};

template <bool kTls>
class Connection final : public ConnectionBase {
 public:
  using Stream = std::conditional_t<kTls, TlsStream, TcpStream>;

  Connection(ServerCore& server, Worker& worker, Socket&& socket, std::string remote)
      : server_(server),
        worker_(worker),
        tls_context_(kTls ? server.TlsContext() : nullptr),
        stream_(MakeStream(tls_context_.get(), std::move(socket))) {
    context_.remote_address = std::move(remote);
    context_.loop = &worker.ioc;
  }

  void Register(std::list<std::shared_ptr<ConnectionBase>>::iterator position) {
    position_ = position;
  }

  void Start() {
    if constexpr (kTls) {
      state_ = State::kHandshake;
      Tcp().expires_after(Limits().handshake_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              beast::bind_front_handler(&Connection::OnHandshake, Self()));
    } else {
      ReadNext();
    }
  }

  void OnResponse(HttpResponse&& response) override {
    if (state_ != State::kHandling) return;
    WriteResponse(std::move(response));
  }

  void OnResponderDropped() override {
    if (state_ != State::kHandling) return;
    spdlog::error("event=handler_dropped_responder service={} route={} request_id={}",
                  server_.options.service, route_, context_.request_id);
    WriteResponse(
        MakeErrorResponse(Error{ErrorCode::kInternal, "internal error"}, context_.request_id));
  }

  void Shutdown() override {
    if (state_ == State::kHandshake || state_ == State::kIdle) Tcp().cancel();
  }

  void ForceClose() override { Finish(false); }

 private:
  enum class State { kHandshake, kIdle, kReading, kHandling, kWriting, kClosing, kClosed };

  static Stream MakeStream(asio::ssl::context* tls, Socket&& socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  std::shared_ptr<Connection> Self() {
    return std::static_pointer_cast<Connection>(shared_from_this());
  }
  TcpStream& Tcp() { return beast::get_lowest_layer(stream_); }
  const ServerLimits& Limits() const { return server_.options.limits; }

  // Only instantiated for TLS connections.
  void OnHandshake(beast::error_code ec) {
    SSL* ssl = stream_.native_handle();
    if (ec) {
      if (!worker_.stopping) {
        server_.metrics.handshake_failures.Increment();
        const std::string verify = detail::VerifyFailure(ssl);
        spdlog::info("event=tls_handshake_failed service={} remote={} error=\"{}{}{}\"",
                     server_.options.service, context_.remote_address, ec.message(),
                     verify.empty() ? "" : ": ", verify);
      }
      return Finish(true);
    }
    // With SSL_VERIFY_PEER a presented certificate that did not chain to our CA has already
    // failed the handshake; the verify result is checked again for defence in depth.
    if (const X509* cert = SSL_get0_peer_certificate(ssl);
        cert != nullptr && SSL_get_verify_result(ssl) == X509_V_OK) {
      // OpenSSL accepts a certificate without any extended key usage for client authentication
      // (RFC 5280: any purpose); ours always carry clientAuth (docs/adr/0003), so one without it
      // identifies nobody.
      auto peer = pki::Describe(cert);
      if (peer.client_auth) context_.peer = std::move(peer);
    }
    ReadNext();
  }

  // Waits for the first byte of the next request under the idle timeout; the request timeout
  // starts with that byte.
  void ReadNext() {
    if (worker_.stopping) return Finish(true);
    if (buffer_.size() > 0) return ReadHeader();
    state_ = State::kIdle;
    Tcp().expires_after(Limits().idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            beast::bind_front_handler(&Connection::OnIdleRead, Self()));
  }

  void OnIdleRead(beast::error_code ec, std::size_t bytes) {
    if (ec) return Finish(true);  // idle timeout, peer closed, or Stop()
    buffer_.commit(bytes);
    ReadHeader();
  }

  void ReadHeader() {
    state_ = State::kReading;
    parser_.emplace();
    ApplyLimits(*parser_, Limits());
    Tcp().expires_after(Limits().request_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Connection::OnHeader, Self()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    // Request smuggling (tests/security/attack_test.cpp): refused, and the connection closes.
    if (auto error = HeaderFailure(*parser_)) return RejectRequest(*error);
    if (parser_->is_done()) return Dispatch();
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               beast::bind_front_handler(&Connection::OnContinue, Self()));
    }
    ReadBody();
  }

  void OnContinue(beast::error_code ec, std::size_t) {
    if (ec) return Finish(true);
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::OnBody, Self()));
  }

  void OnBody(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    Dispatch();
  }

  void OnReadError(beast::error_code ec) {
    if (auto error = ReadFailure(ec, Limits())) return RejectRequest(*error);
    if (ec == beast::error::timeout) {
      spdlog::debug("event=http_request_timeout service={} remote={}", server_.options.service,
                    context_.remote_address);
    }
    Finish(true);
  }

  // A request that never reached a handler: answer with the JSON error, then close.
  void RejectRequest(const Error& error) {
    state_ = State::kHandling;
    close_after_response_ = true;
    route_ = kUnmatchedRoute;
    // Whatever the parser got before the failure (the start line and complete fields) is in
    // the message; a request id sent before an oversized body is still honoured.
    const auto& partial = parser_->get();
    method_ = partial.method();
    version_ = partial.version() == 10 ? 10 : 11;
    context_.request_id = RequestIdFor(partial["X-Request-Id"]);
    context_.received_at = SteadyClock::now();
    WriteResponse(MakeErrorResponse(error, context_.request_id));
  }

  void Dispatch() {
    state_ = State::kHandling;
    ++requests_;
    context_.received_at = SteadyClock::now();
    auto& request = parser_->get();
    method_ = request.method();
    version_ = request.version();
    keep_alive_ = request.keep_alive();
    context_.request_id = RequestIdFor(request["X-Request-Id"]);

    auto match = server_.router.Find(method_, request.target());
    if (match.handler == nullptr) {
      auto response = UnroutedResponse(match, method_, request.target(), context_.request_id);
      if (match.allowed.empty()) {
        route_ = kUnmatchedRoute;
      } else {
        context_.route = std::move(match.route);
        route_ = context_.route;
      }
      return WriteResponse(std::move(response));
    }

    context_.route = std::move(match.route);
    route_ = context_.route;
    context_.path_params = std::move(match.params);
    auto slot = std::make_shared<ResponseSlot>(weak_from_this(), worker_.gate);
    try {
      (*match.handler)(parser_->release(), context_,
                       [slot](HttpResponse response) { slot->Respond(std::move(response)); });
    } catch (...) {
      spdlog::error("event=handler_exception service={} route={} request_id={} error=\"{}\"",
                    server_.options.service, route_, context_.request_id, CurrentExceptionText());
      slot->Respond(
          MakeErrorResponse(Error{ErrorCode::kInternal, "internal error"}, context_.request_id));
    }
  }

  void WriteResponse(HttpResponse&& response) {
    state_ = State::kWriting;
    response_ = std::move(response);
    keep_alive_ = keep_alive_ && !close_after_response_ && !worker_.stopping &&
                  requests_ < Limits().max_requests_per_connection;
    response_.version(version_);
    response_.set(http::field::server, "msgbroker");
    response_.set(http::field::date, HttpDate());
    response_.set("X-Request-Id", context_.request_id);
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();
    const double seconds =
        std::chrono::duration<double>(SteadyClock::now() - context_.received_at).count();
    worker_.metrics_cache.Record(server_.metrics, server_.options.service, route_, method_,
                                 response_.result_int(), seconds);
    Tcp().expires_after(Limits().request_timeout);
    http::async_write(stream_, response_, beast::bind_front_handler(&Connection::OnWrite, Self()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    response_ = {};
    if (ec) return Finish(true);
    if (!keep_alive_) return CloseGracefully();
    ReadNext();
  }

  // Reads and discards whatever the peer still sends until it closes, for at most
  // kLingerTimeout, then closes (TLS: with close_notify; plain: FIN first), so our final
  // response is not lost to a TCP reset while a client is still writing, e.g. the rest of a body
  // we refused with 413.
  void CloseGracefully() {
    state_ = State::kClosing;
    Tcp().expires_after(kLingerTimeout);
    if constexpr (!kTls) {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    Drain();
  }

  void Drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = Self()](beast::error_code ec, std::size_t) {
                              if (!ec) return self->Drain();
                              if constexpr (kTls) {
                                if (ec != beast::error::timeout) return self->SendCloseNotify();
                              }
                              self->Finish(true);
                            });
  }

  void SendCloseNotify() {
    Tcp().expires_after(kLingerTimeout);
    stream_.async_shutdown([self = Self()](beast::error_code) { self->Finish(true); });
  }

  // Closes the socket and forgets the connection (once). `unregister` is false when the caller
  // already took the connection out of its worker's list.
  void Finish(bool unregister) {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    Tcp().close();
    if (unregister) worker_.connections.erase(position_);
    server_.ConnectionClosed();
  }

  ServerCore& server_;
  Worker& worker_;
  std::shared_ptr<asio::ssl::context> tls_context_;  // the one this connection started with
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpResponse response_;
  RequestContext context_;
  std::string_view route_;
  std::list<std::shared_ptr<ConnectionBase>>::iterator position_;
  State state_ = State::kIdle;
  http::verb method_ = http::verb::unknown;
  unsigned version_ = 11;
  std::size_t requests_ = 0;
  bool keep_alive_ = false;
  bool close_after_response_ = false;
};

Result<tcp::endpoint> ResolveListenEndpoint(const std::string& address, std::uint16_t port) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (!ec) return tcp::endpoint(ip, port);
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  const auto results = resolver.resolve(address, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return Fail(ErrorCode::kInvalidRequest,
                "cannot resolve listen address " + address + ": " + ec.message());
  }
  return results.begin()->endpoint();
}

}  // namespace

struct HttpServer::Impl : ServerCore {
  using ServerCore::ServerCore;

  Status Start();
  void Stop(std::chrono::milliseconds grace);
  void DoAccept();
  void OnAccept(Worker& worker, boost::system::error_code ec, Socket socket);
  void StartConnection(Worker& worker, Socket socket);

  enum class State { kIdle, kRunning, kStopped };

  std::atomic<std::uint16_t> port{0};
  State state = State::kIdle;
  std::size_t next_worker = 0;
  // Destroyed before the ServerCore base that connections refer to; the acceptor and its retry
  // timer go before the io_context they run on.
  std::vector<std::unique_ptr<Worker>> workers;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;
};

Status HttpServer::Impl::Start() {
  if (state != State::kIdle) {
    return Fail(ErrorCode::kInternal, "HTTP server " + options.service + " was already started");
  }
  if (options.tls) {
    auto context = MakeServerContext(*options.tls);
    if (!context) return tl::unexpected(context.error());
    SetTlsContext(std::move(*context));
  }
  auto endpoint = ResolveListenEndpoint(options.address, options.port);
  if (!endpoint) return tl::unexpected(endpoint.error());
  const std::string where = options.address + ":" + std::to_string(options.port);

  const std::size_t thread_count = std::max<std::size_t>(1, options.threads);
  for (std::size_t i = 0; i < thread_count; ++i) workers.push_back(std::make_unique<Worker>());
  acceptor.emplace(workers.front()->ioc);
  accept_retry.emplace(workers.front()->ioc);
  boost::system::error_code ec;
  acceptor->open(endpoint->protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(*endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    accept_retry.reset();
    acceptor.reset();
    workers.clear();
    if (ec == asio::error::address_in_use) {
      return Fail(ErrorCode::kServiceUnavailable, "address " + where + " is already in use");
    }
    return Fail(ErrorCode::kServiceUnavailable, "cannot listen on " + where + ": " + ec.message());
  }
  port = acceptor->local_endpoint().port();
  DoAccept();
  for (auto& worker : workers) {
    worker->thread = std::thread([w = worker.get(), this] { w->Run(options.service); });
  }
  state = State::kRunning;
  spdlog::info("event=http_server_started service={} address={} port={} tls={} threads={}",
               options.service, options.address, port.load(), tls_context != nullptr, thread_count);
  return Ok();
}

void HttpServer::Impl::DoAccept() {
  Worker& worker = *workers[next_worker];
  next_worker = (next_worker + 1) % workers.size();
  acceptor->async_accept(worker.ioc.get_executor(),
                         [this, &worker](boost::system::error_code ec, Socket socket) {
                           OnAccept(worker, ec, std::move(socket));
                         });
}

void HttpServer::Impl::OnAccept(Worker& worker, boost::system::error_code ec, Socket socket) {
  if (!acceptor->is_open() || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Typically EMFILE: back off briefly instead of spinning on the failing accept.
    spdlog::warn("event=http_accept_failed service={} error=\"{}\"", options.service, ec.message());
    accept_retry->expires_after(kAcceptRetryDelay);
    accept_retry->async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec && acceptor->is_open()) DoAccept();
    });
    return;
  }
  if (active.load() >= options.limits.max_connections) {
    metrics.rejected_max_connections.Increment();
    spdlog::debug("event=http_connection_rejected service={} reason=max_connections",
                  options.service);
    socket.close(ec);
  } else {
    active.fetch_add(1);
    metrics.active.Increment();
    asio::post(worker.ioc, [this, &worker, s = std::move(socket)]() mutable {
      StartConnection(worker, std::move(s));
    });
  }
  DoAccept();
}

void HttpServer::Impl::StartConnection(Worker& worker, Socket socket) {
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (worker.stopping || ec) {
    socket.close(ec);
    return ConnectionClosed();
  }
  socket.set_option(tcp::no_delay(true), ec);
  std::shared_ptr<ConnectionBase> connection;
  if (tls_context) {
    auto c = std::make_shared<Connection<true>>(*this, worker, std::move(socket),
                                                FormatEndpoint(remote));
    c->Register(worker.connections.insert(worker.connections.end(), c));
    c->Start();
  } else {
    auto c = std::make_shared<Connection<false>>(*this, worker, std::move(socket),
                                                 FormatEndpoint(remote));
    c->Register(worker.connections.insert(worker.connections.end(), c));
    c->Start();
  }
}

void HttpServer::Impl::Stop(std::chrono::milliseconds grace) {
  if (state != State::kRunning) {
    state = State::kStopped;
    return;
  }
  state = State::kStopped;
  const auto deadline = SteadyClock::now() + grace;
  asio::post(workers.front()->ioc, [this] {
    boost::system::error_code ignored;
    acceptor->close(ignored);
    accept_retry->cancel();
  });
  for (auto& worker : workers) {
    asio::post(worker->ioc, [w = worker.get()] {
      w->stopping = true;
      // Shutdown() may finish a connection, which erases it from the list: iterate over a copy.
      const std::vector<std::shared_ptr<ConnectionBase>> connections(w->connections.begin(),
                                                                     w->connections.end());
      for (const auto& connection : connections) connection->Shutdown();
    });
  }
  {
    std::unique_lock lock(mutex);
    drained.wait_until(lock, deadline, [this] { return active.load() == 0; });
  }
  for (auto& worker : workers) {
    worker->work.reset();
    worker->ioc.stop();
  }
  for (auto& worker : workers) worker->thread.join();
  // The threads are gone: from here on this thread alone touches the sockets.
  boost::system::error_code ignored;
  acceptor->close(ignored);
  std::size_t forced = 0;
  for (auto& worker : workers) {
    worker->gate->Close();
    auto connections = std::move(worker->connections);
    worker->connections.clear();
    forced += connections.size();
    for (auto& connection : connections) connection->ForceClose();
  }
  spdlog::info("event=http_server_stopped service={} forced_connections={}", options.service,
               forced);
}

HttpServer::HttpServer(HttpServerOptions options, Router router, prometheus::Registry& metrics)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(router), metrics)) {}

HttpServer::~HttpServer() { impl_->Stop(std::chrono::milliseconds{0}); }

Status HttpServer::Start() { return impl_->Start(); }

std::uint16_t HttpServer::port() const noexcept { return impl_->port.load(); }

void HttpServer::Stop(std::chrono::milliseconds grace) { impl_->Stop(grace); }

Status HttpServer::ReloadTls() {
  if (!impl_->options.tls) return Ok();
  auto context = MakeServerContext(*impl_->options.tls);
  if (!context) {
    spdlog::error("event=tls_reload_failed service={} error=\"{}\"", impl_->options.service,
                  context.error().message);
    return tl::unexpected(context.error());
  }
  impl_->SetTlsContext(std::move(*context));
  spdlog::info("event=tls_reloaded service={}", impl_->options.service);
  return Ok();
}

}  // namespace msgbroker::net
