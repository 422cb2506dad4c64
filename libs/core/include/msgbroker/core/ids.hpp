#pragma once
// Domain identifiers are distinct types, not raw strings.

#include <chrono>
#include <compare>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace msgbroker {

// A time-ordered UUID (RFC 9562 version 7), canonical lowercase text form.
class MessageId {
 public:
  MessageId() = default;
  // Generates a new UUIDv7 for `now` using the OS CSPRNG.
  static MessageId Generate(std::chrono::system_clock::time_point now);
  // Accepts the canonical 36-character form (any hex case); returns nullopt otherwise.
  static std::optional<MessageId> Parse(std::string_view text);

  const std::string& str() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }
  auto operator<=>(const MessageId&) const = default;

 private:
  explicit MessageId(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

// A registered client's id: 1-64 of [A-Za-z0-9._-], starting with a letter or digit.
class ClientId {
 public:
  ClientId() = default;
  static std::optional<ClientId> Parse(std::string_view text);
  const std::string& str() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }
  auto operator<=>(const ClientId&) const = default;

 private:
  explicit ClientId(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

// Request ids: 16 random hex characters, or a caller-supplied X-Request-Id if it is sane.
std::string NewRequestId();
bool IsAcceptableRequestId(std::string_view text) noexcept;

}  // namespace msgbroker

template <>
struct std::hash<msgbroker::MessageId> {
  std::size_t operator()(const msgbroker::MessageId& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
template <>
struct std::hash<msgbroker::ClientId> {
  std::size_t operator()(const msgbroker::ClientId& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
