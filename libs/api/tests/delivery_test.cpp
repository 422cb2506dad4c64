#include "msgbroker/api/delivery.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace msgbroker::api {
namespace {

MessageId NewId() { return MessageId::Generate(std::chrono::system_clock::now()); }

TEST(DeliveryTest, RequestRoundTrip) {
  std::vector<DeliveryItem> items{{NewId(), 1, "{\"v\":1}", std::nullopt},
                                  {NewId(), 7, "p2", std::string("max attempts reached")}};
  auto decoded = DecodeDeliveryRequest(EncodeDeliveryRequest(items));
  ASSERT_TRUE(decoded) << decoded.error().message;
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].message_id, items[0].message_id);
  EXPECT_EQ((*decoded)[0].payload, items[0].payload);
  EXPECT_FALSE((*decoded)[0].failure);
  EXPECT_EQ((*decoded)[1].attempts, 7u);
  EXPECT_EQ((*decoded)[1].failure, "max attempts reached");
}

// The request is written by hand for speed: its bytes are what the document of the same items
// dumps.
TEST(DeliveryTest, RequestTextIsWhatADocumentDumps) {
  std::vector<DeliveryItem> items{
      {NewId(), 1, R"({"client_id":"acme","content":"AAH/","queued_at":1,"v":1})", std::nullopt},
      {NewId(), 4294967295u, "p2", std::string("main server said \"no\"\n")}};
  nlohmann::json list = nlohmann::json::array();
  for (const auto& item : items) {
    nlohmann::json j = {{"message_id", item.message_id.str()},
                        {"attempts", item.attempts},
                        {"payload", item.payload}};
    if (item.failure) j["failure"] = *item.failure;
    list.push_back(std::move(j));
  }
  EXPECT_EQ(EncodeDeliveryRequest(items), nlohmann::json({{"deliveries", list}}).dump());
  EXPECT_EQ(EncodeDeliveryRequest({}), R"({"deliveries":[]})");
}

TEST(DeliveryTest, RequestDefectsNameTheItem) {
  auto r = DecodeDeliveryRequest(
      R"({"deliveries":[{"message_id":"018bcfe5-6800-7abc-8def-0123456789ab","attempts":1,"payload":"x"},{"message_id":"nope","attempts":1,"payload":"x"}]})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(r.error().field, "deliveries[1]");
  EXPECT_FALSE(DecodeDeliveryRequest("{}"));
  EXPECT_FALSE(DecodeDeliveryRequest("nope"));
  EXPECT_FALSE(DecodeDeliveryRequest(
      R"({"deliveries":[{"message_id":"018bcfe5-6800-7abc-8def-0123456789ab","attempts":-1,"payload":"x"}]})"));
  // 2^32 + 1 used to arrive as 1 attempt (fuzz/corpus/api_json/delivery_request_huge_attempts).
  EXPECT_FALSE(DecodeDeliveryRequest(
      R"({"deliveries":[{"message_id":"018bcfe5-6800-7abc-8def-0123456789ab","attempts":4294967297,"payload":"x"}]})"));
}

TEST(DeliveryTest, RequestBatchLimit) {
  std::vector<DeliveryItem> items(kMaxDeliveryBatch + 1, DeliveryItem{NewId(), 1, "x", {}});
  auto r = DecodeDeliveryRequest(EncodeDeliveryRequest(items));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
}

TEST(DeliveryTest, ResponseRoundTrip) {
  std::vector<DeliveryResult> results{
      {NewId(), DeliveryOutcome::kStored, std::nullopt},
      {NewId(), DeliveryOutcome::kDuplicate, std::nullopt},
      {NewId(), DeliveryOutcome::kRejected, Error{ErrorCode::kDataCorrupted, "cannot open"}}};
  auto d = DecodeDeliveryResponse(EncodeDeliveryResponse(results));
  ASSERT_TRUE(d);
  ASSERT_EQ(d->size(), 3u);
  EXPECT_EQ((*d)[1].outcome, DeliveryOutcome::kDuplicate);
  EXPECT_EQ((*d)[2].outcome, DeliveryOutcome::kRejected);
  ASSERT_TRUE((*d)[2].error);
  EXPECT_EQ((*d)[2].error->code, ErrorCode::kDataCorrupted);
  EXPECT_FALSE(DecodeDeliveryResponse(R"({"results":[{"message_id":"x","outcome":"stored"}]})"));
  EXPECT_FALSE(DecodeDeliveryResponse("<html>"));
}

}  // namespace
}  // namespace msgbroker::api
