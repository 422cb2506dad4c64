#include "msgbroker/core/utf8.hpp"

#include <cstdint>

namespace msgbroker {
namespace {

// Decodes one code point at `i`; returns false on malformed input.
bool Next(std::string_view s, std::size_t& i, char32_t& cp) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    ++i;
    return true;
  }
  std::size_t len = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return false;
  }
  if (i + len > s.size()) return false;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  i += len;
  return true;
}

bool IsUnicodeSpace(char32_t cp) noexcept {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
    case 0x200B:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace

std::size_t Utf8SequenceLength(std::string_view text, std::size_t at) noexcept {
  std::size_t i = at;
  char32_t cp = 0;
  return at < text.size() && Next(text, i, cp) ? i - at : 0;
}

std::optional<std::size_t> Utf8Length(std::string_view text) noexcept {
  std::size_t count = 0;
  std::size_t i = 0;
  char32_t cp = 0;
  while (i < text.size()) {
    if (!Next(text, i, cp)) return std::nullopt;
    ++count;
  }
  return count;
}

bool IsBlank(std::string_view utf8) noexcept {
  std::size_t i = 0;
  char32_t cp = 0;
  while (i < utf8.size()) {
    if (!Next(utf8, i, cp)) return false;
    if (!IsUnicodeSpace(cp)) return false;
  }
  return true;
}

bool HasDisallowedControl(std::string_view utf8) noexcept {
  for (char c : utf8) {
    const auto b = static_cast<unsigned char>(c);
    if ((b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7F) return true;
  }
  return false;
}

}  // namespace msgbroker
