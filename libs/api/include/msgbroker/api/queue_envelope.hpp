#pragma once
// What travels through the queue for one message (docs/LIFE_OF_A_MESSAGE.md, step 4).
//
// Queue payload (JSON):  {"v":1,"client_id":"…","queued_at":<unix ms>,"content":"<base64>"}
// `content` is the sealed envelope (msgbroker/crypto/envelope.hpp) of the content JSON
//   {"sender_number":"…","message_body":"…","metadata":{…}}
// with associated data "<message id>|<client id>", so content can neither be read in the queue
// nor moved to another message or client.

#include <nlohmann/json.hpp>
#include <string>

#include "msgbroker/api/submit_message.hpp"
#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::api {

struct QueuePayload {
  ClientId client_id;
  SystemTime queued_at{};
  std::string sealed_content;  // binary
};

std::string EncodeQueuePayload(const QueuePayload& payload);
Result<QueuePayload> DecodeQueuePayload(std::string_view text);  // kDataCorrupted on any defect

std::string EnvelopeAssociatedData(const MessageId& id, const ClientId& client);

std::string EncodeContent(const SubmitMessage& message);
Result<SubmitMessage> DecodeContent(std::string_view text);  // kDataCorrupted on any defect

}  // namespace msgbroker::api
