#include "msgbroker/proxy/proxy_service.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

#include "msgbroker/api/queue_envelope.hpp"
#include "msgbroker/api/submit_message.hpp"
#include "msgbroker/core/time_format.hpp"
#include "msgbroker/net/http_types.hpp"

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
               HandleSubmit(std::move(request), context, std::move(respond));
             });
}

std::map<std::string, net::HealthCheck> ProxyService::Health() const {
  std::map<std::string, net::HealthCheck> checks;
  if (auto stats = queue_.Stats(); stats) {
    checks["queue"] = {
        net::HealthState::kHealthy,
        "ready=" + std::to_string(stats->ready) + " in_flight=" + std::to_string(stats->in_flight)};
  } else {
    checks["queue"] = {net::HealthState::kUnhealthy, stats.error().message};
  }
  checks["client_registry"] =
      directory_.healthy()
          ? net::HealthCheck{net::HealthState::kHealthy,
                             std::to_string(directory_.size()) + " certificates"}
          : net::HealthCheck{net::HealthState::kDegraded, "last refresh failed; serving snapshot"};
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

void ProxyService::HandleSubmit(net::HttpRequest&& request, const net::RequestContext& context,
                                net::Responder respond) {
  const auto now = clock_.Now();
  auto reject = [&](const Error& error) {
    metrics_->rejected.Add({{"code", std::string(ErrorCodeName(error.code))}}).Increment();
    respond(net::MakeErrorResponse(error, context.request_id));
  };

  auto identity = Authenticate(context, directory_, now);
  if (!identity) return reject(identity.error());
  if (!IsJsonContentType(request[http::field::content_type])) {
    return reject(Error{ErrorCode::kUnsupportedMediaType, "Content-Type must be application/json"});
  }
  auto message = api::ParseSubmitMessage(request.body(), options_.limits);
  if (!message) return reject(message.error());

  const auto id = MessageId::Generate(now);
  const auto& client_id = identity->client.id;
  auto sealed =
      sealer_.Seal(api::EncodeContent(*message), api::EnvelopeAssociatedData(id, client_id));
  if (!sealed) {
    spdlog::error("event=seal_failed request_id={} error=\"{}\"", context.request_id,
                  sealed.error().message);
    return reject(Error{ErrorCode::kInternal, "could not protect the message"});
  }
  std::vector<queue::NewMessage> batch;
  batch.push_back({id, api::EncodeQueuePayload({client_id, now, std::move(*sealed)})});

  const auto started = std::chrono::steady_clock::now();
  queue_.EnqueueAsync(std::move(batch), [this, respond = std::move(respond),
                                         request_id = context.request_id, id,
                                         client = client_id.str(), now, started](Status status) {
    metrics_->enqueue_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (!status) {
      metrics_->rejected.Add({{"code", std::string(ErrorCodeName(ErrorCode::kQueueUnavailable))}})
          .Increment();
      spdlog::warn("event=enqueue_failed request_id={} client_id={} error=\"{}\"", request_id,
                   client, status.error().message);
      auto response = net::MakeErrorResponse(
          Error{ErrorCode::kQueueUnavailable, "the message queue is unavailable; retry later"},
          request_id);
      response.set(http::field::retry_after, std::to_string(options_.retry_after.count()));
      respond(std::move(response));
      return;
    }
    metrics_->accepted.Increment();
    respond(net::MakeJsonResponse(http::status::accepted,
                                  nlohmann::json{{"message_id", id.str()},
                                                 {"status", "queued"},
                                                 {"client_id", client},
                                                 {"queued_at", FormatTimestamp(now)}}));
  });
}

}  // namespace msgbroker::proxy
