#include "msgbroker/proxy/proxy_service.hpp"

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <boost/beast/http/field.hpp>

#include "msgbroker/api/queue_envelope.hpp"
#include "msgbroker/api/submit_message.hpp"
#include "msgbroker/core/json_text.hpp"
#include "msgbroker/core/time_format.hpp"
#include "msgbroker/net/http_types.hpp"
#include "msgbroker/proxy/api_key_directory.hpp"

namespace msgbroker::proxy {

namespace http = net::http;

struct ProxyService::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : accepted(prometheus::BuildCounter()
                     .Name("proxy_messages_accepted_total")
                     .Help("Messages answered 202: durable in the queue")
                     .Register(registry)
                     .Add({})),
        rejected(prometheus::BuildCounter()
                     .Name("proxy_messages_rejected_total")
                     .Help("Message submissions refused, by error code")
                     .Register(registry)),
        enqueue_seconds(prometheus::BuildHistogram()
                            .Name("proxy_enqueue_duration_seconds")
                            .Help("Time from hand-off to the queue until it was durable")
                            .Register(registry)
                            .Add({}, prometheus::Histogram::BucketBoundaries{
                                         0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05, 0.1, 0.25, 0.5, 1.0})) {}
  prometheus::Counter& accepted;
  prometheus::Family<prometheus::Counter>& rejected;
  prometheus::Histogram& enqueue_seconds;
};

ProxyService::ProxyService(ProxyOptions options, queue::Queue& queue,
                           const ClientDirectory& directory, crypto::EnvelopeSealer& sealer,
                           const Clock& clock, prometheus::Registry& metrics)
    : options_(options),
      queue_(queue),
      directory_(directory),
      sealer_(sealer),
      clock_(clock),
      metrics_(std::make_unique<Metrics>(metrics)) {}

ProxyService::~ProxyService() = default;

void ProxyService::RegisterRoutes(net::Router& router) {
  router.Add(http::verb::post, std::string(api::kSubmitMessagePath),
             [this](net::HttpRequest&& request, const net::RequestContext& context,
                    net::Responder respond) {
               Keyed(&ProxyService::HandleSubmit, std::move(request), context, std::move(respond));
             });
  router.Add(http::verb::post, std::string(api::kSubmitBatchPath),
             [this](net::HttpRequest&& request, const net::RequestContext& context,
                    net::Responder respond) {
               Keyed(&ProxyService::HandleSubmitBatch, std::move(request), context,
                     std::move(respond));
             });
}

std::map<std::string, net::HealthCheck> ProxyService::Health() const {
  std::map<std::string, net::HealthCheck> checks;
  checks["client_registry"] =
      directory_.healthy()
          ? net::HealthCheck{net::HealthState::kHealthy,
                             std::to_string(directory_.size()) + " certificates"}
          : net::HealthCheck{net::HealthState::kDegraded, "last refresh failed; serving snapshot"};
  if (api_keys_ != nullptr) {
    checks["api_keys"] = api_keys_->healthy()
                             ? net::HealthCheck{net::HealthState::kHealthy,
                                                std::to_string(api_keys_->size()) + " active keys"}
                             : net::HealthCheck{net::HealthState::kDegraded,
                                                "last refresh failed; serving snapshot"};
  }
  return checks;
}

namespace {

bool IsJsonContentType(std::string_view value) {
  const auto semicolon = value.find(';');
  std::string_view media = value.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media.size() != api::kJsonContentType.size()) return false;
  for (std::size_t i = 0; i < media.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(media[i])) != api::kJsonContentType[i]) {
      return false;
    }
  }
  return true;
}

// Who is calling: only the verified certificate, looked up in the registry by fingerprint.
Result<storage::ClientIdentity> Authenticate(const net::RequestContext& context,
                                             const ClientDirectory& directory, SystemTime now) {
  if (!context.peer) {
    return Fail(ErrorCode::kClientCertificateRequired,
                "a client certificate issued by this system's CA is required");
  }
  auto identity = directory.Find(context.peer->fingerprint_sha256);
  if (!identity) {
    return Fail(ErrorCode::kUnknownClient, "the client certificate is not registered");
  }
  if (identity->client.status == storage::ClientStatus::kRevoked ||
      identity->certificate.status == storage::CertificateStatus::kRevoked) {
    return Fail(ErrorCode::kClientRevoked, "the client or its certificate has been revoked");
  }
  if (identity->client.status == storage::ClientStatus::kSuspended) {
    return Fail(ErrorCode::kClientSuspended, "the client is suspended");
  }
  if (identity->certificate.not_after <= now) {
    return Fail(ErrorCode::kUnknownClient, "the client certificate has expired");
  }
  return *identity;
}

}  // namespace

Result<storage::ClientIdentity> ProxyService::Identify(const net::HttpRequest& request,
                                                       const net::RequestContext& context,
                                                       SystemTime now) const {
  // With API keys enabled, a request without a certificate is decided by its key.
  auto by_key =
      api_keys_ != nullptr ? api_keys_->Authenticate(request, context, now) : std::nullopt;
  return by_key ? std::move(*by_key) : Authenticate(context, directory_, now);
}

Result<storage::ClientIdentity> ProxyService::Admit(const net::HttpRequest& request,
                                                    const net::RequestContext& context,
                                                    std::size_t max_body_bytes, SystemTime now) {
  auto identity = Identify(request, context, now);
  if (!identity) return identity;
  if (!IsJsonContentType(request[http::field::content_type])) {
    return Fail(ErrorCode::kUnsupportedMediaType, "Content-Type must be application/json");
  }
  if (request.body().size() > max_body_bytes) {
    return Fail(ErrorCode::kPayloadTooLarge,
                "request body is " + std::to_string(request.body().size()) +
                    " bytes; the maximum here is " + std::to_string(max_body_bytes));
  }
  return identity;
}

std::optional<net::HttpResponse> ProxyService::Limit(const storage::Client& client, double cost,
                                                     const std::string& request_id,
                                                     RateDecision& decision) {
  const RateLimit limit = EffectiveRateLimit(options_.rate_limit, client.rate_limit);
  const auto now = std::chrono::steady_clock::now();
  decision = options_.shared_rate_limiter
                 ? options_.shared_rate_limiter->Take(client.id.str(), limit, cost, now)
                 : limiter_.Take(client.id.str(), limit, cost, now);
  decision.limit = limit;
  if (decision.allowed) return std::nullopt;
  metrics_->rejected.Add({{"code", std::string(ErrorCodeName(ErrorCode::kRateLimited))}})
      .Increment(cost);
  auto response = net::MakeErrorResponse(
      Error{ErrorCode::kRateLimited,
            fmt::format("rate limit exceeded: at most {:g} messages per second (burst {:g}); "
                        "retry later",
                        limit.per_second, limit.burst)},
      request_id);
  response.set(http::field::retry_after, RetryAfterSeconds(decision.retry_after));
  AddRateLimitHeaders(response, decision);
  return response;
}

void ProxyService::AddRateLimitHeaders(net::HttpResponse& response,
                                       const RateDecision& decision) const {
  if (decision.limit.unlimited()) return;
  response.set("RateLimit-Policy", RateLimitPolicyHeader(decision.limit));
  response.set("RateLimit", RateLimitHeader(decision));
}

Result<queue::NewMessage> ProxyService::Seal(const api::SubmitMessage& message,
                                             const ClientId& client_id, SystemTime now,
                                             const std::string& request_id,
                                             std::optional<MessageId> fixed_id) {
  const auto id = fixed_id ? *fixed_id : MessageId::Generate(now);
  auto sealed =
      sealer_.Seal(api::EncodeContent(message), api::EnvelopeAssociatedData(id, client_id));
  if (!sealed) {
    spdlog::error("event=seal_failed request_id={} error=\"{}\"", request_id,
                  sealed.error().message);
    return Fail(ErrorCode::kInternal, "could not protect the message");
  }
  return queue::NewMessage{id, api::EncodeQueuePayload({client_id, now, std::move(*sealed)})};
}

void ProxyService::Enqueue(std::vector<queue::NewMessage> messages,
                           const net::RequestContext& context, const ClientId& client_id,
                           std::function<net::HttpResponse()> on_durable, net::Responder respond) {
  const auto started = std::chrono::steady_clock::now();
  const auto count = messages.size();
  // On the connection's event loop: a RedisQueue enqueues from this thread and answers here.
  queue_.EnqueueAsyncOn(
      context.loop, std::move(messages),
      [this, respond = std::move(respond), on_durable = std::move(on_durable),
       request_id = context.request_id, client = client_id.str(), started, count](Status status) {
        metrics_->enqueue_seconds.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        if (!status) {
          metrics_->rejected
              .Add({{"code", std::string(ErrorCodeName(ErrorCode::kQueueUnavailable))}})
              .Increment(static_cast<double>(count));
          spdlog::warn("event=enqueue_failed request_id={} client_id={} messages={} error=\"{}\"",
                       request_id, client, count, status.error().message);
          auto response = net::MakeErrorResponse(
              Error{ErrorCode::kQueueUnavailable, "the message queue is unavailable; retry later"},
              request_id);
          response.set(http::field::retry_after, std::to_string(options_.retry_after.count()));
          respond(std::move(response));
          return;
        }
        metrics_->accepted.Increment(static_cast<double>(count));
        respond(on_durable());
      });
}

void ProxyService::HandleSubmit(net::HttpRequest&& request, const net::RequestContext& context,
                                net::Responder respond, const IdempotentRequest* keyed) {
  const auto now = clock_.Now();
  auto reject = [&](const Error& error) {
    metrics_->rejected.Add({{"code", std::string(ErrorCodeName(error.code))}}).Increment();
    respond(net::MakeErrorResponse(error, context.request_id));
  };
  auto identity = Admit(request, context, api::kMaxSubmitBodyBytes, now);
  if (!identity) return reject(identity.error());
  const auto& client_id = identity->client.id;
  RateDecision decision;
  if (auto limited = Limit(identity->client, 1, context.request_id, decision)) {
    return respond(std::move(*limited));
  }
  auto message = api::ParseSubmitMessage(request.body(), options_.limits);
  if (!message) return reject(message.error());
  auto sealed = Seal(*message, client_id, now, context.request_id,
                     keyed ? std::optional<MessageId>(keyed->IdFor(0)) : std::nullopt);
  if (!sealed) return reject(sealed.error());

  const auto id = sealed->id;
  std::vector<queue::NewMessage> messages;
  messages.push_back(std::move(*sealed));
  Enqueue(
      std::move(messages), context, client_id,
      [this, id, client = client_id.str(), now, decision] {
        std::string body = "{";
        AppendJsonKey(body, "client_id");
        AppendJsonString(body, client);
        body += ',';
        AppendJsonKey(body, "message_id");
        AppendJsonString(body, id.str());
        body += ',';
        AppendJsonKey(body, "queued_at");
        AppendJsonString(body, FormatTimestamp(now));
        body += R"(,"status":"queued"})";
        auto response = net::MakeJsonTextResponse(http::status::accepted, std::move(body));
        AddRateLimitHeaders(response, decision);
        return response;
      },
      std::move(respond));
}

void ProxyService::HandleSubmitBatch(net::HttpRequest&& request, const net::RequestContext& context,
                                     net::Responder respond, const IdempotentRequest* keyed) {
  const auto now = clock_.Now();
  auto reject = [&](const Error& error) {
    metrics_->rejected.Add({{"code", std::string(ErrorCodeName(error.code))}}).Increment();
    respond(net::MakeErrorResponse(error, context.request_id));
  };
  auto identity = Admit(request, context, api::kMaxBatchBodyBytes, now);
  if (!identity) return reject(identity.error());
  auto items = api::ParseSubmitBatch(request.body(), options_.limits, api::kMaxBatchMessages);
  if (!items) return reject(items.error());
  // Every item counts, valid or not: the limit is on what a client makes the proxy do.
  const auto& client_id = identity->client.id;
  RateDecision decision;
  if (auto limited = Limit(identity->client, static_cast<double>(items->size()), context.request_id,
                           decision)) {
    return respond(std::move(*limited));
  }

  // Every valid item is sealed and goes into the queue in ONE all-or-nothing enqueue; invalid
  // items are answered with their error and never stored. The per-item results are written as
  // JSON text directly (msgbroker/core/json_text.hpp): a document per item cost more than sealing.
  std::string results = "[";
  std::vector<queue::NewMessage> messages;
  messages.reserve(items->size());
  std::size_t rejected = 0;
  const std::string queued_at = FormatTimestamp(now);
  for (std::size_t i = 0; i < items->size(); ++i) {
    auto sealed = (*items)[i]
                      ? Seal(*(*items)[i], client_id, now, context.request_id,
                             keyed ? std::optional<MessageId>(keyed->IdFor(i)) : std::nullopt)
                      : Result<queue::NewMessage>(tl::unexpected((*items)[i].error()));
    if (i > 0) results += ',';
    results += '{';
    if (!sealed) {
      const auto& error = sealed.error();
      metrics_->rejected.Add({{"code", std::string(ErrorCodeName(error.code))}}).Increment();
      results += R"("error":{)";
      AppendJsonKey(results, "code");
      AppendJsonString(results, ErrorCodeName(error.code));
      if (!error.field.empty()) {
        results += ',';
        AppendJsonKey(results, "field");
        AppendJsonString(results, error.field);
      }
      results += ',';
      AppendJsonKey(results, "message");
      AppendJsonString(results, error.message);
      results += R"(},"index":)";
      AppendJsonNumber(results, static_cast<std::int64_t>(i));
      results += R"(,"status":"rejected"})";
      ++rejected;
      continue;
    }
    results += R"("index":)";
    AppendJsonNumber(results, static_cast<std::int64_t>(i));
    results += ',';
    AppendJsonKey(results, "message_id");
    AppendJsonString(results, sealed->id.str());
    results += ',';
    AppendJsonKey(results, "queued_at");
    AppendJsonString(results, queued_at);
    results += R"(,"status":"queued"})";
    messages.push_back(std::move(*sealed));
  }
  results += ']';
  const std::size_t queued = messages.size();
  auto answer = [this, results = std::move(results), client = client_id.str(), queued, rejected,
                 decision] {
    std::string body = "{";
    AppendJsonKey(body, "client_id");
    AppendJsonString(body, client);
    body += R"(,"queued":)";
    AppendJsonNumber(body, static_cast<std::int64_t>(queued));
    body += R"(,"rejected":)";
    AppendJsonNumber(body, static_cast<std::int64_t>(rejected));
    body += R"(,"results":)";
    body += results;
    body += '}';
    auto response = net::MakeJsonTextResponse(
        rejected == 0 ? http::status::accepted : http::status::multi_status, std::move(body));
    AddRateLimitHeaders(response, decision);
    return response;
  };
  if (messages.empty()) {
    respond(answer());
    return;
  }
  Enqueue(std::move(messages), context, client_id, std::move(answer), std::move(respond));
}

}  // namespace msgbroker::proxy
