#pragma once
// UTF-8 checks shared by the message validation (libs/api) and the configuration loader.

#include <cstddef>
#include <optional>
#include <string_view>

namespace msgbroker {

// Number of code points if `text` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF),
// nullopt otherwise.
std::optional<std::size_t> Utf8Length(std::string_view text) noexcept;

// Bytes of the well-formed code point starting at `at`, or 0 when it is malformed (or `at` is past
// the end).
std::size_t Utf8SequenceLength(std::string_view text, std::size_t at) noexcept;

// True when the text has no code point other than Unicode white space.
bool IsBlank(std::string_view utf8) noexcept;

// True when the text contains a C0 control character other than tab, LF or CR, or DEL.
bool HasDisallowedControl(std::string_view utf8) noexcept;

}  // namespace msgbroker
