#include "msgbroker/proxy/idempotency.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace msgbroker::proxy {

namespace {

constexpr char kHex[] = "0123456789abcdef";

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
      EVP_MD_CTX_free(ctx_);
      throw std::runtime_error("SHA-256 is unavailable");
    }
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // Length-prefixed, so that ("ab","c") and ("a","bc") differ.
  Sha256& Field(std::string_view data) {
    const auto n = static_cast<std::uint64_t>(data.size());
    std::array<unsigned char, 8> length{};
    for (std::size_t i = 0; i < length.size(); ++i) {
      length[i] = static_cast<unsigned char>(n >> (8 * (7 - i)));
    }
    EVP_DigestUpdate(ctx_, length.data(), length.size());
    EVP_DigestUpdate(ctx_, data.data(), data.size());
    return *this;
  }
  std::array<unsigned char, 32> Finish() {
    std::array<unsigned char, 32> out{};
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, out.data(), &n);
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string Hex(const unsigned char* data, std::size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0x0F]);
  }
  return out;
}

Error BadKey(std::string reason) {
  return Error{ErrorCode::kInvalidRequest,
               "Idempotency-Key must be a structured-field string (\"...\" of 1-" +
                   std::to_string(kMaxIdempotencyKeyLength) +
                   " printable ASCII characters): " + std::move(reason),
               std::string(kIdempotencyKeyHeader)};
}

}  // namespace

Result<std::string> ParseIdempotencyKey(std::string_view value) {
  // HTTP strips optional whitespace around a field value; be tolerant of it anyway.
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || value.front() != '"') {
    return tl::unexpected(BadKey("the value does not start with a double quote"));
  }
  std::string key;
  std::size_t i = 1;
  for (;; ++i) {
    if (i >= value.size()) return tl::unexpected(BadKey("the closing double quote is missing"));
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == '"') break;
    if (c == '\\') {
      ++i;
      if (i >= value.size() || (value[i] != '"' && value[i] != '\\')) {
        return tl::unexpected(BadKey("only \\\" and \\\\ may be escaped"));
      }
      key.push_back(value[i]);
    } else if (c < 0x20 || c > 0x7e) {
      return tl::unexpected(BadKey("a character outside printable ASCII"));
    } else {
      key.push_back(static_cast<char>(c));
    }
    if (key.size() > kMaxIdempotencyKeyLength) {
      return tl::unexpected(BadKey("the key is too long"));
    }
  }
  if (i + 1 != value.size()) {
    return tl::unexpected(BadKey("something follows the closing double quote"));
  }
  if (key.empty()) return tl::unexpected(BadKey("the key is empty"));
  return key;
}

std::string RequestFingerprint(std::string_view method, std::string_view target,
                               std::string_view body) {
  const auto digest =
      Sha256().Field("msgbroker-request-v1").Field(method).Field(target).Field(body).Finish();
  return Hex(digest.data(), digest.size());
}

std::string IdempotencyKeyHash(std::string_view key) {
  const auto digest = Sha256().Field("msgbroker-idempotency-key-v1").Field(key).Finish();
  return Hex(digest.data(), digest.size());
}

MessageId DerivedMessageId(const ClientId& client, std::string_view key,
                           std::string_view fingerprint, std::size_t index) {
  auto b = Sha256()
               .Field("msgbroker-idempotent-message-id-v1")
               .Field(client.str())
               .Field(key)
               .Field(fingerprint)
               .Field(std::to_string(index))
               .Finish();
  b[6] = static_cast<unsigned char>(0x80 | (b[6] & 0x0F));  // version 8 (custom)
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3F));  // RFC 9562 variant
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
    text.push_back(kHex[b[i] >> 4]);
    text.push_back(kHex[b[i] & 0x0F]);
  }
  return *MessageId::Parse(text);
}

}  // namespace msgbroker::proxy
