// Idempotency-Key on POST /api/v1/messages and /api/v1/messages/batch
// (docs/adr/0010-idempotency-keys.md). Requests without the header go straight to their handler.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "msgbroker/net/http_types.hpp"
#include "msgbroker/proxy/proxy_service.hpp"

namespace msgbroker::proxy {

namespace http = net::http;

namespace {

// The request, its context and the responder, carried across the store's asynchronous claim.
struct Pending {
  net::HttpRequest request;
  net::RequestContext context;
  net::Responder respond;
};

net::HttpResponse Replay(const StoredAnswer& answer) {
  net::HttpResponse response{static_cast<http::status>(answer.status), 11};
  if (!answer.content_type.empty()) response.set(http::field::content_type, answer.content_type);
  response.set(kIdempotentReplayedHeader, "true");
  response.body() = answer.body;
  response.prepare_payload();
  return response;
}

}  // namespace

void ProxyService::UseIdempotency(IdempotencyStore& store, prometheus::Registry& metrics) {
  idempotency_ = &store;
  idempotency_outcomes_ = &prometheus::BuildCounter()
                               .Name("proxy_idempotency_requests_total")
                               .Help("Requests with an Idempotency-Key, by outcome")
                               .Register(metrics);
}

void ProxyService::Keyed(SubmitHandler handler, net::HttpRequest&& request,
                         const net::RequestContext& context, net::Responder respond) {
  const auto field = request.find(kIdempotencyKeyHeader);
  if (idempotency_ == nullptr || field == request.end()) {
    return (this->*handler)(std::move(request), context, std::move(respond), nullptr);
  }
  // Unidentified callers get the handler's own 401/403; a key is scoped to a known client.
  auto identity = Identify(request, context, clock_.Now());
  if (!identity) return (this->*handler)(std::move(request), context, std::move(respond), nullptr);
  auto count = [this](std::string_view outcome) {
    idempotency_outcomes_->Add({{"outcome", std::string(outcome)}}).Increment();
  };

  auto key = request.count(kIdempotencyKeyHeader) > 1
                 ? Result<std::string>(tl::unexpected(Error{ErrorCode::kInvalidRequest,
                                                            "Idempotency-Key may be sent only once",
                                                            std::string(kIdempotencyKeyHeader)}))
                 : ParseIdempotencyKey(field->value());
  if (!key) {
    count("invalid");
    return respond(net::MakeErrorResponse(key.error(), context.request_id));
  }
  auto fingerprint = RequestFingerprint(request.method_string(), request.target(), request.body());
  auto keyed = std::make_shared<const IdempotentRequest>(
      IdempotentRequest{identity->client.id, std::move(*key), fingerprint});
  IdempotencyScope scope{identity->client.id.str(), IdempotencyKeyHash(keyed->key)};
  auto token = NewRequestId() + NewRequestId();  // 128 random bits: whose claim it is
  auto pending =
      std::make_shared<Pending>(Pending{std::move(request), context, std::move(respond)});
  // The handler runs later on the store's thread, not on this event loop (which may be gone).
  pending->context.loop = nullptr;

  idempotency_->ClaimAsync(
      scope, fingerprint, token,
      [this, handler, pending, keyed, scope, fingerprint, token, count](Result<ClaimResult> claim) {
        const auto& request_id = pending->context.request_id;
        if (!claim) {
          count("store_unavailable");
          spdlog::warn("event=idempotency_store_failed request_id={} client_id={} error=\"{}\"",
                       request_id, scope.client_id, claim.error().message);
          auto response =
              net::MakeErrorResponse(Error{ErrorCode::kServiceUnavailable,
                                           "the idempotency key store is unavailable; retry later"},
                                     request_id);
          response.set(http::field::retry_after, std::to_string(options_.retry_after.count()));
          return pending->respond(std::move(response));
        }
        if (claim->state != ClaimState::kClaimed && claim->fingerprint != fingerprint) {
          count("mismatch");
          return pending->respond(net::MakeErrorResponse(
              Error{ErrorCode::kIdempotencyKeyMismatch,
                    "this Idempotency-Key was used for a different request (method, path or body)",
                    std::string(kIdempotencyKeyHeader)},
              request_id));
        }
        if (claim->state == ClaimState::kInFlight) {
          count("in_flight");
          auto response = net::MakeErrorResponse(
              Error{ErrorCode::kIdempotencyKeyInUse,
                    "a request with this Idempotency-Key is still being processed; retry later",
                    std::string(kIdempotencyKeyHeader)},
              request_id);
          response.set(http::field::retry_after, "1");
          return pending->respond(std::move(response));
        }
        if (claim->state == ClaimState::kCompleted) {
          count("replayed");
          return pending->respond(Replay(claim->answer));
        }
        count("claimed");
        // Success answers are remembered before they are sent; anything else frees the key, so
        // that the client can correct the request or retry it.
        net::Responder remember = [this, scope, token,
                                   respond = pending->respond](net::HttpResponse response) {
          const auto status = response.result_int();
          auto shared = std::make_shared<net::HttpResponse>(std::move(response));
          if (status >= 200 && status < 300) {
            StoredAnswer answer{status, std::string(shared->base()[http::field::content_type]),
                                shared->body()};
            idempotency_->CompleteAsync(scope, token, std::move(answer),
                                        [shared, respond, client = scope.client_id](Status ok) {
                                          if (!ok) {
                                            spdlog::warn(
                                                "event=idempotency_record_failed client_id={} "
                                                "error=\"{}\"",
                                                client, ok.error().message);
                                          }
                                          respond(std::move(*shared));
                                        });
          } else {
            idempotency_->ReleaseAsync(scope, token,
                                       [shared, respond, client = scope.client_id](Status ok) {
                                         if (!ok) {
                                           spdlog::warn(
                                               "event=idempotency_release_failed client_id={} "
                                               "error=\"{}\"",
                                               client, ok.error().message);
                                         }
                                         respond(std::move(*shared));
                                       });
          }
        };
        (this->*handler)(std::move(pending->request), pending->context, std::move(remember),
                         keyed.get());
      });
}

}  // namespace msgbroker::proxy
