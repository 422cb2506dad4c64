#include "msgbroker/worker/delivery_client.hpp"

#include "msgbroker/api/contract.hpp"

namespace msgbroker::worker {

HttpDeliveryClient::HttpDeliveryClient(net::Endpoint endpoint,
                                       std::shared_ptr<net::ReloadableClientContext> tls,
                                       std::chrono::milliseconds timeout)
    : client_(std::move(endpoint), std::move(tls), timeout) {}

Result<std::vector<api::DeliveryResult>> HttpDeliveryClient::Deliver(
    const std::vector<api::DeliveryItem>& items) {
  auto response =
      client_.PostJson(std::string(api::kDeliveriesPath), api::EncodeDeliveryRequest(items));
  if (!response) return tl::unexpected(response.error());
  if (response->result() == net::http::status::payload_too_large) {
    return Fail(ErrorCode::kPayloadTooLarge, "main server refused the batch as too large");
  }
  if (response->result() == net::http::status::service_unavailable) {
    // Its database is down or it is overloaded: the batch was not looked at.
    return Fail(ErrorCode::kServiceUnavailable, "main server answered 503");
  }
  if (response->result() != net::http::status::ok) {
    return Fail(ErrorCode::kUpstreamError,
                "main server answered " + std::to_string(response->result_int()));
  }
  auto results = api::DecodeDeliveryResponse(response->body());
  if (!results) return tl::unexpected(results.error());
  if (results->size() != items.size()) {
    return Fail(ErrorCode::kUpstreamError, "main server answered for a different batch size");
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    if ((*results)[i].message_id != items[i].message_id) {
      return Fail(ErrorCode::kUpstreamError, "main server answered out of order");
    }
  }
  return results;
}

}  // namespace msgbroker::worker
