#include "msgbroker/pki/certificate_info.hpp"

#include <arpa/inet.h>
#include <openssl/pem.h>

#include <array>
#include <cctype>
#include <chrono>
#include <ctime>
#include <utility>

#include "openssl_util.hpp"

namespace msgbroker::pki {
namespace {

using detail::BignumPtr;
using detail::DrainOpenSslErrors;
using detail::GeneralNamesPtr;
using detail::X509Ptr;

constexpr std::array<std::pair<ServiceRole, std::string_view>, 5> kRoleNames{{
    {ServiceRole::kProxy, "proxy"},
    {ServiceRole::kWorker, "worker"},
    {ServiceRole::kMainServer, "main-server"},
    {ServiceRole::kPortal, "portal"},
    {ServiceRole::kAdmin, "admin"},
}};

std::string LowerHex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[data[i] >> 4]);
    hex.push_back(kDigits[data[i] & 0x0f]);
  }
  return hex;
}

std::string Asn1StringText(const ASN1_STRING* value) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
}

std::string SubjectCommonName(const X509* cert) {
  const X509_NAME* name = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int size = ASN1_STRING_to_UTF8(&utf8, data);
  if (size < 0) return {};
  std::string common_name(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(size));
  OPENSSL_free(utf8);
  return common_name;
}

std::string SerialHex(const X509* cert) {
  const BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (serial == nullptr) return {};
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return {};
  std::string text(hex);
  OPENSSL_free(hex);
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string FingerprintSha256(const X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &size) != 1) return {};
  return LowerHex(digest, size);
}

SystemTime ToSystemTime(const ASN1_TIME* time) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return {};
  using namespace std::chrono;
  const sys_days day = year{parts.tm_year + 1900} / month{static_cast<unsigned>(parts.tm_mon + 1)} /
                       static_cast<unsigned>(parts.tm_mday);
  return SystemTime{day + hours{parts.tm_hour} + minutes{parts.tm_min} + seconds{parts.tm_sec}};
}

std::string IpAddressText(const ASN1_OCTET_STRING* address) {
  const int size = ASN1_STRING_length(address);
  const unsigned char* bytes = ASN1_STRING_get0_data(address);
  char text[INET6_ADDRSTRLEN] = {};
  if (size == 4) {
    if (inet_ntop(AF_INET, bytes, text, sizeof(text)) != nullptr) return text;
  } else if (size == 16) {
    if (inet_ntop(AF_INET6, bytes, text, sizeof(text)) != nullptr) return text;
  }
  return LowerHex(bytes, static_cast<std::size_t>(size > 0 ? size : 0));
}

void ReadSubjectAltNames(const X509* cert, CertificateInfo& info) {
  const GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    switch (name->type) {
      case GEN_DNS:
        info.dns_sans.push_back(Asn1StringText(name->d.dNSName));
        break;
      case GEN_IPADD:
        info.ip_sans.push_back(IpAddressText(name->d.iPAddress));
        break;
      case GEN_URI:
        info.uri_sans.push_back(Asn1StringText(name->d.uniformResourceIdentifier));
        break;
      default:
        break;
    }
  }
  // The first URI of each kind decides; our CA never issues more than one.
  for (const std::string& uri : info.uri_sans) {
    const std::string_view view(uri);
    if (!info.role && view.starts_with(kRoleUriPrefix)) {
      info.role = ParseRole(view.substr(kRoleUriPrefix.size()));
    } else if (!info.client_id && view.starts_with(kClientUriPrefix)) {
      info.client_id = std::string(view.substr(kClientUriPrefix.size()));
    }
  }
}

bool IsCa(const X509* cert) {
  auto* constraints = static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert, NID_basic_constraints, nullptr, nullptr));
  if (constraints == nullptr) return false;
  const bool is_ca = constraints->ca != 0;
  BASIC_CONSTRAINTS_free(constraints);
  return is_ca;
}

void ReadExtendedKeyUsage(const X509* cert, CertificateInfo& info) {
  auto* usages =
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr));
  if (usages == nullptr) return;
  for (int i = 0; i < sk_ASN1_OBJECT_num(usages); ++i) {
    const int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(usages, i));
    if (nid == NID_client_auth) info.client_auth = true;
    if (nid == NID_server_auth) info.server_auth = true;
  }
  EXTENDED_KEY_USAGE_free(usages);
}

}  // namespace

std::string_view RoleName(ServiceRole role) noexcept {
  for (const auto& [value, name] : kRoleNames) {
    if (value == role) return name;
  }
  return "unknown";
}

std::optional<ServiceRole> ParseRole(std::string_view name) noexcept {
  for (const auto& [value, text] : kRoleNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

CertificateInfo Describe(const X509* cert) {
  CertificateInfo info;
  if (cert == nullptr) return info;
  // Malformed optional extensions leave fields empty; the errors they raise are dropped so they
  // cannot confuse later OpenSSL calls of the caller (whose own pending errors stay queued).
  ERR_set_mark();
  info.subject_cn = SubjectCommonName(cert);
  info.serial_hex = SerialHex(cert);
  info.fingerprint_sha256 = FingerprintSha256(cert);
  info.not_before = ToSystemTime(X509_get0_notBefore(cert));
  info.not_after = ToSystemTime(X509_get0_notAfter(cert));
  info.is_ca = IsCa(cert);
  ReadSubjectAltNames(cert, info);
  ReadExtendedKeyUsage(cert, info);
  ERR_pop_to_mark();
  return info;
}

Result<CertificateInfo> DescribePem(std::string_view pem) {
  const detail::BioPtr bio = detail::MemoryBio(pem);
  if (bio == nullptr) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalidRequest, "certificate PEM text is too large");
  }
  const X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return Fail(ErrorCode::kInvalidRequest,
                "text does not contain a PEM certificate: " + DrainOpenSslErrors());
  }
  return Describe(cert.get());
}

}  // namespace msgbroker::pki
