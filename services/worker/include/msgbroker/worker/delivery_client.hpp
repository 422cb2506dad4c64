#pragma once
// How a worker hands a batch to the main server. The HTTP implementation sends one mTLS request
// per batch with the worker's certificate; tests can substitute their own.

#include <memory>
#include <vector>

#include "msgbroker/api/delivery.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/net/https_client.hpp"

namespace msgbroker::worker {

class DeliveryClient {
 public:
  virtual ~DeliveryClient() = default;
  // Ok: the main server answered 200 and committed every stored/duplicate item.
  // Error: nothing can be assumed committed; the whole batch is retried. kPayloadTooLarge: the
  // request was too large for the main server; the worker splits the batch and sends the halves.
  virtual Result<std::vector<api::DeliveryResult>> Deliver(
      const std::vector<api::DeliveryItem>& items) = 0;
};

class HttpDeliveryClient final : public DeliveryClient {
 public:
  // `tls` holds the worker's certificate; a reload (SIGHUP) reaches the next request.
  HttpDeliveryClient(net::Endpoint endpoint, std::shared_ptr<net::ReloadableClientContext> tls,
                     std::chrono::milliseconds timeout);
  Result<std::vector<api::DeliveryResult>> Deliver(
      const std::vector<api::DeliveryItem>& items) override;

 private:
  net::HttpsClient client_;
};

}  // namespace msgbroker::worker
