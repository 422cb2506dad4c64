#include "msgbroker/pki/certificate_info.hpp"

#include <gtest/gtest.h>

#include <array>

#include "msgbroker/pki/certificate_authority.hpp"
#include "pki_test_support.hpp"

namespace msgbroker::pki {
namespace {

constexpr std::array kAllRoles{ServiceRole::kProxy, ServiceRole::kWorker, ServiceRole::kMainServer,
                               ServiceRole::kPortal, ServiceRole::kAdmin};

TEST(RoleNameTest, NamesAreTheWireNames) {
  EXPECT_EQ(RoleName(ServiceRole::kProxy), "proxy");
  EXPECT_EQ(RoleName(ServiceRole::kWorker), "worker");
  EXPECT_EQ(RoleName(ServiceRole::kMainServer), "main-server");
  EXPECT_EQ(RoleName(ServiceRole::kPortal), "portal");
  EXPECT_EQ(RoleName(ServiceRole::kAdmin), "admin");
}

TEST(RoleNameTest, ParseRoleIsTheInverseOfRoleName) {
  for (const ServiceRole role : kAllRoles) {
    EXPECT_EQ(ParseRole(RoleName(role)), role) << RoleName(role);
  }
}

TEST(RoleNameTest, UnknownNamesDoNotParse) {
  EXPECT_EQ(ParseRole(""), std::nullopt);
  EXPECT_EQ(ParseRole("main_server"), std::nullopt);
  EXPECT_EQ(ParseRole("Proxy"), std::nullopt);
  EXPECT_EQ(ParseRole("proxy "), std::nullopt);
  EXPECT_EQ(ParseRole("root"), std::nullopt);
}

TEST(DescribePemTest, RejectsTextWithoutACertificate) {
  for (const std::string_view text :
       {std::string_view(""), std::string_view("hello"),
        std::string_view(
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")}) {
    const auto info = DescribePem(text);
    ASSERT_FALSE(info.has_value()) << text;
    EXPECT_EQ(info.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(info.error().message.find("PEM certificate"), std::string::npos)
        << info.error().message;
  }
  EXPECT_EQ(ERR_peek_error(), 0UL) << "the OpenSSL error queue must be left empty";
}

TEST(DescribePemTest, ReadsTheFirstCertificateOfAChain) {
  const FakeClock clock;
  auto ca = CertificateAuthority::Create({}, clock);
  ASSERT_TRUE(ca.has_value()) << ca.error().message;
  auto service = ca->IssueService({});
  ASSERT_TRUE(service.has_value()) << service.error().message;

  const auto info = DescribePem(service->certificate_pem + ca->certificate_pem());
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->fingerprint_sha256, service->info.fingerprint_sha256);
  EXPECT_EQ(info->subject_cn, "main-server");
}

TEST(DescribeTest, NullCertificateGivesEmptyInfo) {
  const CertificateInfo info = Describe(nullptr);
  EXPECT_TRUE(info.subject_cn.empty());
  EXPECT_TRUE(info.fingerprint_sha256.empty());
  EXPECT_FALSE(info.is_ca);
}

TEST(DescribeTest, LeavesTheCallersPendingOpenSslErrorsAlone) {
  const FakeClock clock;
  auto ca = CertificateAuthority::Create({}, clock);
  ASSERT_TRUE(ca.has_value()) << ca.error().message;
  const auto cert = testing::ParseCertificate(ca->certificate_pem());
  ASSERT_NE(cert, nullptr);

  ERR_raise(ERR_LIB_USER, 42);
  const unsigned long pending = ERR_peek_error();
  EXPECT_EQ(Describe(cert.get()).subject_cn, "msgbroker CA");
  EXPECT_EQ(ERR_peek_last_error(), pending);
  ERR_clear_error();
}

TEST(DescribeTest, SerialIsLowercaseHexOfTheCertificateSerial) {
  const FakeClock clock;
  auto ca = CertificateAuthority::Create({}, clock);
  ASSERT_TRUE(ca.has_value()) << ca.error().message;
  const auto cert = testing::ParseCertificate(ca->certificate_pem());
  ASSERT_NE(cert, nullptr);

  const detail::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  ASSERT_NE(serial, nullptr);
  EXPECT_FALSE(BN_is_negative(serial.get()));
  char* expected = BN_bn2hex(serial.get());
  std::string expected_lower(expected);
  OPENSSL_free(expected);
  for (char& c : expected_lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));

  const std::string& serial_hex = ca->info().serial_hex;
  EXPECT_EQ(serial_hex, expected_lower);
  EXPECT_EQ(serial_hex.find_first_not_of("0123456789abcdef"), std::string::npos) << serial_hex;
  EXPECT_LE(serial_hex.size(), 32U);
}

}  // namespace
}  // namespace msgbroker::pki
