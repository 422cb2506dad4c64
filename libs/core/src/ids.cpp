#include "msgbroker/core/ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <stdexcept>

namespace msgbroker {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void FillRandom(unsigned char* out, std::size_t n) {
  // RAND_bytes only fails when the OS entropy source is broken; there is no sane fallback.
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    throw std::runtime_error("OS random number generator failed");
  }
}

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

MessageId MessageId::Generate(std::chrono::system_clock::time_point now) {
  std::array<unsigned char, 16> b{};
  FillRandom(b.data(), b.size());
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  for (int i = 0; i < 6; ++i) {
    b[static_cast<std::size_t>(i)] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  }
  b[6] = static_cast<unsigned char>(0x70 | (b[6] & 0x0F));  // version 7
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3F));  // RFC 9562 variant
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0F]);
  }
  return MessageId(std::move(out));
}

std::optional<MessageId> MessageId::Parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
      out.push_back('-');
    } else {
      if (!IsHex(c)) return std::nullopt;
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return MessageId(std::move(out));
}

std::optional<ClientId> ClientId::Parse(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  if (!std::isalnum(static_cast<unsigned char>(text.front()))) return std::nullopt;
  for (char c : text) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    if (!ok) return std::nullopt;
  }
  return ClientId(std::string(text));
}

std::string NewRequestId() {
  std::array<unsigned char, 8> b{};
  FillRandom(b.data(), b.size());
  std::string out;
  out.reserve(16);
  for (unsigned char c : b) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0F]);
  }
  return out;
}

bool IsAcceptableRequestId(std::string_view text) noexcept {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace msgbroker
