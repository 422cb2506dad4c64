#pragma once
// Standard base64 (RFC 4648 §4, with padding) over OpenSSL's EVP block coder.

#include <optional>
#include <string>
#include <string_view>

namespace msgbroker {

std::string Base64Encode(std::string_view bytes);
// nullopt on any character outside the alphabet, bad padding or bad length.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace msgbroker
