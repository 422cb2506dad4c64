#pragma once
// The client-facing intake (PRODUCT.md §3): POST /api/v1/messages.
// identity (verified certificate + registry) -> content type -> validation -> seal content ->
// durable enqueue -> 202. Nothing is answered 202 before the queue made it durable.

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/core/clock.hpp"
#include "msgbroker/crypto/envelope.hpp"
#include "msgbroker/net/router.hpp"
#include "msgbroker/net/standard_endpoints.hpp"
#include "msgbroker/proxy/client_directory.hpp"
#include "msgbroker/queue/queue.hpp"

namespace prometheus {
class Registry;
}

namespace msgbroker::proxy {

struct ProxyOptions {
  api::MessageLimits limits;
  std::chrono::seconds retry_after{2};  // Retry-After on 503 QUEUE_UNAVAILABLE
};

class ProxyService {
 public:
  ProxyService(ProxyOptions options, queue::Queue& queue, const ClientDirectory& directory,
               crypto::EnvelopeSealer& sealer, const Clock& clock, prometheus::Registry& metrics);
  ~ProxyService();

  void RegisterRoutes(net::Router& router);
  std::map<std::string, net::HealthCheck> Health() const;

 private:
  struct Metrics;
  void HandleSubmit(net::HttpRequest&& request, const net::RequestContext& context,
                    net::Responder respond);

  ProxyOptions options_;
  queue::Queue& queue_;
  const ClientDirectory& directory_;
  crypto::EnvelopeSealer& sealer_;
  const Clock& clock_;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace msgbroker::proxy
