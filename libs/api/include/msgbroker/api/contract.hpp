#pragma once
// The API contract in one place: routes, default ports, header names and limits that the proxy,
// the main server, the worker, the CLI and the tests all use.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace msgbroker::api {

// Default ports, the same as the original system.
inline constexpr std::uint16_t kMainServerPort = 8000;
inline constexpr std::uint16_t kProxyPort = 8001;
inline constexpr std::uint16_t kPortalPort = 8080;
inline constexpr std::uint16_t kWorkerMetricsPort = 9100;

// Proxy (client-facing, client certificate required).
inline constexpr std::string_view kSubmitMessagePath = "/api/v1/messages";
inline constexpr std::string_view kSubmitBatchPath = "/api/v1/messages/batch";
// Request bodies: a single message is small; a batch carries up to kMaxBatchMessages of them.
// The proxy's HTTP limit is the batch size; the single-message route refuses more than its own.
inline constexpr std::size_t kMaxSubmitBodyBytes = 64 * 1024;
inline constexpr std::size_t kMaxBatchMessages = 500;
inline constexpr std::size_t kMaxBatchBodyBytes = 4 * 1024 * 1024;

// Main server: reading messages (admin certificate until user login arrives).
inline constexpr std::string_view kListMessagesPath = "/api/v1/messages";
inline constexpr std::string_view kGetMessagePath = "/api/v1/messages/{id}";
// Main server: internal delivery endpoint (worker certificate only).
inline constexpr std::string_view kDeliveriesPath = "/internal/v1/deliveries";

inline constexpr std::string_view kRequestIdHeader = "X-Request-Id";
inline constexpr std::string_view kJsonContentType = "application/json";

// Field names of the client API (kept from the original system).
inline constexpr std::string_view kFieldSenderNumber = "sender_number";
inline constexpr std::string_view kFieldMessageBody = "message_body";
inline constexpr std::string_view kFieldMetadata = "metadata";
inline constexpr std::string_view kFieldMessages = "messages";  // the batch request's array

struct MessageLimits {
  std::size_t max_body_chars = 1000;      // Unicode code points
  std::size_t max_metadata_bytes = 4096;  // serialised JSON
  std::size_t max_json_depth = 8;         // whole request document
};

// Delivery batches (worker -> main server). A full batch of the largest messages (1000 code
// points of 4-byte UTF-8, 4 KiB of metadata, sealed and base64-encoded: about 12 KiB an item)
// fits in the main server's request body limit; a worker splits a batch that does not.
inline constexpr std::size_t kMaxDeliveryBatch = 1000;
inline constexpr std::size_t kMaxDeliveryRequestBytes = 16 * 1024 * 1024;

}  // namespace msgbroker::api
