#include "msgbroker/api/delivery.hpp"

#include <limits>
#include <nlohmann/json.hpp>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/core/json_text.hpp"

namespace msgbroker::api {
namespace {

std::string_view OutcomeName(DeliveryOutcome o) {
  switch (o) {
    case DeliveryOutcome::kStored:
      return "stored";
    case DeliveryOutcome::kDuplicate:
      return "duplicate";
    case DeliveryOutcome::kRejected:
      return "rejected";
  }
  return "rejected";
}

std::optional<ErrorCode> CodeFromName(std::string_view name) {
  for (std::size_t i = 0; i < kErrorCodeCount; ++i) {
    const auto code = static_cast<ErrorCode>(i);
    if (ErrorCodeName(code) == name) return code;
  }
  return std::nullopt;
}

}  // namespace

// Written directly (msgbroker/core/json_text.hpp): each payload is JSON text itself, and
// escaping it into a document per item was a sixth of the worker's CPU. Keys in nlohmann's order.
std::string EncodeDeliveryRequest(const std::vector<DeliveryItem>& items) {
  std::size_t bytes = 32;
  for (const auto& item : items) bytes += item.payload.size() * 5 / 4 + 96;
  std::string out;
  out.reserve(bytes);
  out += R"({"deliveries":[)";
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    if (i > 0) out += ',';
    out += R"({"attempts":)";
    AppendJsonNumber(out, item.attempts);
    if (item.failure) {
      out += ',';
      AppendJsonKey(out, "failure");
      AppendJsonString(out, *item.failure);
    }
    out += ',';
    AppendJsonKey(out, "message_id");
    AppendJsonString(out, item.message_id.str());
    out += ',';
    AppendJsonKey(out, "payload");
    AppendJsonString(out, item.payload);
    out += '}';
  }
  out += "]}";
  return out;
}

Result<std::vector<DeliveryItem>> DecodeDeliveryRequest(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(ErrorCode::kInvalidJson, "delivery request is not a JSON object");
  }
  auto list = doc.find("deliveries");
  if (list == doc.end() || !list->is_array()) {
    return Fail(ErrorCode::kInvalidRequest, "deliveries must be an array", "deliveries");
  }
  if (list->size() > kMaxDeliveryBatch) {
    return Fail(ErrorCode::kInvalidRequest,
                "at most " + std::to_string(kMaxDeliveryBatch) + " deliveries per request",
                "deliveries");
  }
  std::vector<DeliveryItem> out;
  out.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto& j = (*list)[i];
    const std::string field = "deliveries[" + std::to_string(i) + "]";
    if (!j.is_object()) return Fail(ErrorCode::kInvalidRequest, "item is not an object", field);
    auto id = j.find("message_id");
    auto attempts = j.find("attempts");
    auto payload = j.find("payload");
    if (id == j.end() || !id->is_string() || attempts == j.end() ||
        !attempts->is_number_unsigned() || payload == j.end() || !payload->is_string()) {
      return Fail(ErrorCode::kInvalidRequest, "item needs message_id, attempts and payload", field);
    }
    // get<std::uint32_t> would silently wrap a larger count.
    if (attempts->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
      return Fail(ErrorCode::kInvalidRequest, "attempts is out of range", field);
    }
    auto parsed = MessageId::Parse(id->get<std::string>());
    if (!parsed) return Fail(ErrorCode::kInvalidRequest, "message_id is not a UUID", field);
    DeliveryItem item{*parsed, attempts->get<std::uint32_t>(), payload->get<std::string>(), {}};
    if (auto f = j.find("failure"); f != j.end()) {
      if (!f->is_string()) return Fail(ErrorCode::kInvalidRequest, "failure must be text", field);
      item.failure = f->get<std::string>();
    }
    out.push_back(std::move(item));
  }
  return out;
}

std::string EncodeDeliveryResponse(const std::vector<DeliveryResult>& results) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json j = {{"message_id", r.message_id.str()}, {"outcome", OutcomeName(r.outcome)}};
    if (r.error) {
      j["error"] = {{"code", ErrorCodeName(r.error->code)}, {"message", r.error->message}};
    }
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"results", std::move(list)}}.dump();
}

Result<std::vector<DeliveryResult>> DecodeDeliveryResponse(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("results") ||
      !doc["results"].is_array()) {
    return Fail(ErrorCode::kUpstreamError, "delivery response is malformed");
  }
  std::vector<DeliveryResult> out;
  for (auto& j : doc["results"]) {
    if (!j.is_object() || !j.contains("message_id") || !j["message_id"].is_string() ||
        !j.contains("outcome") || !j["outcome"].is_string()) {
      return Fail(ErrorCode::kUpstreamError, "delivery result is malformed");
    }
    auto id = MessageId::Parse(j["message_id"].get<std::string>());
    if (!id) return Fail(ErrorCode::kUpstreamError, "delivery result has a bad message_id");
    DeliveryResult r{*id, DeliveryOutcome::kRejected, std::nullopt};
    const auto outcome = j["outcome"].get<std::string>();
    if (outcome == "stored") {
      r.outcome = DeliveryOutcome::kStored;
    } else if (outcome == "duplicate") {
      r.outcome = DeliveryOutcome::kDuplicate;
    } else if (outcome == "rejected") {
      Error e{ErrorCode::kInternal, "rejected"};
      if (j.contains("error") && j["error"].is_object()) {
        const auto& ej = j["error"];
        if (ej.contains("code") && ej["code"].is_string()) {
          e.code = CodeFromName(ej["code"].get<std::string>()).value_or(ErrorCode::kInternal);
        }
        if (ej.contains("message") && ej["message"].is_string()) {
          e.message = ej["message"].get<std::string>();
        }
      }
      r.error = std::move(e);
    } else {
      return Fail(ErrorCode::kUpstreamError, "delivery result has an unknown outcome");
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace msgbroker::api
