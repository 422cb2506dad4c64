#pragma once
// The client-facing intake (PRODUCT.md §3): POST /api/v1/messages, and
// POST /api/v1/messages/batch ({"messages":[...]}, up to api::kMaxBatchMessages): one
// all-or-nothing enqueue for the valid items, a result per item (202 when all were queued, 207
// when some were rejected).
// identity (verified certificate + registry) -> content type -> rate limit (429 + Retry-After)
// -> validation -> seal content -> durable enqueue -> 202. Nothing is answered 202 before the
// queue made it durable. Answers to an identified client carry the RateLimit header fields.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/api/submit_message.hpp"
#include "msgbroker/core/clock.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "msgbroker/net/router.hpp"
#include "msgbroker/net/standard_endpoints.hpp"
#include "msgbroker/proxy/client_directory.hpp"
#include "msgbroker/proxy/idempotency.hpp"
#include "msgbroker/proxy/rate_limiter.hpp"
#include "msgbroker/proxy/shared_rate_limiter.hpp"
#include "msgbroker/queue/queue.hpp"

namespace prometheus {
class Registry;
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace msgbroker::proxy {

struct ProxyOptions {
  api::MessageLimits limits;
  std::chrono::seconds retry_after{2};  // Retry-After on 503 QUEUE_UNAVAILABLE
  // Messages per second and burst per client (each message of a batch counts); 0 = no limit.
  // The default: a client's own limit in the registry takes precedence.
  RateLimit rate_limit;
  // Buckets shared with the other proxies through Redis; null: this process's own buckets.
  std::shared_ptr<SharedRateLimiter> shared_rate_limiter;
};

class ApiKeyDirectory;

class ProxyService {
 public:
  ProxyService(ProxyOptions options, queue::Queue& queue, const ClientDirectory& directory,
               crypto::EnvelopeSealer& sealer, const Clock& clock, prometheus::Registry& metrics);
  ~ProxyService();

  // Honour Idempotency-Key with this store (docs/adr/0010-idempotency-keys.md); without it the
  // header is ignored. Call before RegisterRoutes; the store outlives the service.
  void UseIdempotency(IdempotencyStore& store, prometheus::Registry& metrics);
  void RegisterRoutes(net::Router& router);
  // Also admits requests without a client certificate that carry an API key (docs/adr/0012).
  // `keys` must outlive the service. Without this call, only certificates identify a client.
  void EnableApiKeys(const ApiKeyDirectory& keys) { api_keys_ = &keys; }
  std::map<std::string, net::HealthCheck> Health() const;

 private:
  struct Metrics;
  // `keyed`: the request carried a valid Idempotency-Key that it now holds (ids are derived).
  void HandleSubmit(net::HttpRequest&& request, const net::RequestContext& context,
                    net::Responder respond, const IdempotentRequest* keyed = nullptr);
  void HandleSubmitBatch(net::HttpRequest&& request, const net::RequestContext& context,
                         net::Responder respond, const IdempotentRequest* keyed = nullptr);
  using SubmitHandler = void (ProxyService::*)(net::HttpRequest&&, const net::RequestContext&,
                                               net::Responder, const IdempotentRequest*);
  // Idempotency-Key (idempotency_intake.cpp): without the header straight to `handler`; with it
  // claim the key, then replay, refuse (400/409/422) or run `handler` and remember its answer.
  void Keyed(SubmitHandler handler, net::HttpRequest&& request, const net::RequestContext& context,
             net::Responder respond);
  // The caller's registered identity: from the verified certificate, or from an API key where
  // they are enabled. Admit and the Idempotency-Key scope both use it.
  Result<storage::ClientIdentity> Identify(const net::HttpRequest& request,
                                           const net::RequestContext& context,
                                           SystemTime now) const;
  // Identity (verified certificate + registry), content type and the route's body size.
  Result<storage::ClientIdentity> Admit(const net::HttpRequest& request,
                                        const net::RequestContext& context,
                                        std::size_t max_body_bytes, SystemTime now);
  // A new message id and the content sealed to the main server.
  // `id` is given for a keyed request (derived), generated otherwise.
  Result<queue::NewMessage> Seal(const api::SubmitMessage& message, const ClientId& client_id,
                                 SystemTime now, const std::string& request_id,
                                 std::optional<MessageId> id = std::nullopt);
  // One all-or-nothing enqueue; answers on_durable() once durable, 503 when the queue refuses.
  void Enqueue(std::vector<queue::NewMessage> messages, const net::RequestContext& context,
               const ClientId& client_id, std::function<net::HttpResponse()> on_durable,
               net::Responder respond);

  ProxyOptions options_;
  queue::Queue& queue_;
  const ClientDirectory& directory_;
  crypto::EnvelopeSealer& sealer_;
  const Clock& clock_;
  // Takes `cost` tokens from the client's bucket; the 429 answer when there are not enough.
  std::optional<net::HttpResponse> Limit(const storage::Client& client, double cost,
                                         const std::string& request_id, RateDecision& decision);
  void AddRateLimitHeaders(net::HttpResponse& response, const RateDecision& decision) const;

  std::unique_ptr<Metrics> metrics_;
  RateLimiter limiter_;
  const ApiKeyDirectory* api_keys_ = nullptr;
  IdempotencyStore* idempotency_ = nullptr;
  prometheus::Family<prometheus::Counter>* idempotency_outcomes_ = nullptr;
};

}  // namespace msgbroker::proxy
