#include "msgbroker/pki/certificate_authority.hpp"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <array>
#include <fstream>
#include <set>

#include "pki_test_support.hpp"

namespace msgbroker::pki {
namespace {

using std::chrono::days;
using std::chrono::minutes;
using testing::ParseCertificate;
using testing::ParsePrivateKey;
using testing::PermissionsOf;
using testing::TempDir;
using testing::VerifyChain;

constexpr std::array kAllRoles{ServiceRole::kProxy, ServiceRole::kWorker, ServiceRole::kMainServer,
                               ServiceRole::kPortal, ServiceRole::kAdmin};

ClientId MakeClientId(std::string_view text) {
  auto id = ClientId::Parse(text);
  EXPECT_TRUE(id.has_value()) << text;
  return id.value_or(ClientId{});
}

std::string SubjectField(const X509* cert, int nid) {
  char buffer[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), nid, buffer, sizeof(buffer));
  return buffer;
}

std::string Sha256OfDer(const X509* cert) {
  unsigned char* der = nullptr;
  const int size = i2d_X509(cert, &der);
  EXPECT_GT(size, 0);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<std::size_t>(size), digest);
  OPENSSL_free(der);
  std::string hex;
  for (const unsigned char byte : digest) {
    hex += "0123456789abcdef"[byte >> 4];
    hex += "0123456789abcdef"[byte & 0x0f];
  }
  return hex;
}

bool ExtensionIsCritical(const X509* cert, int nid) {
  const int index = X509_get_ext_by_NID(cert, nid, -1);
  return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::filesystem::path& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

class CertificateAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = CertificateAuthority::Create({}, clock_);
    ASSERT_TRUE(created.has_value()) << created.error().message;
    ca_.emplace(std::move(*created));
  }

  IssuedCertificate IssueClient(std::string_view id, std::string domain = "acme.example") {
    ClientCertificateRequest request;
    request.client_id = MakeClientId(id);
    request.domain = std::move(domain);
    auto issued = ca_->IssueClient(request);
    EXPECT_TRUE(issued.has_value()) << issued.error().message;
    return issued.value_or(IssuedCertificate{});
  }

  FakeClock clock_;
  std::optional<CertificateAuthority> ca_;
};

TEST_F(CertificateAuthorityTest, CreateMakesASelfSignedEcP256Ca) {
  const CertificateInfo& info = ca_->info();
  EXPECT_TRUE(info.is_ca);
  EXPECT_EQ(info.subject_cn, "msgbroker CA");
  EXPECT_EQ(info.not_before, clock_.Now() - minutes{5});
  EXPECT_EQ(info.not_after, clock_.Now() + days{3650});
  EXPECT_FALSE(info.client_auth);
  EXPECT_FALSE(info.server_auth);

  const auto cert = ParseCertificate(ca_->certificate_pem());
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(SubjectField(cert.get(), NID_organizationName), "msgbroker");
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())), 0);
  EXPECT_EQ(X509_verify(cert.get(), X509_get0_pubkey(cert.get())), 1);
  EXPECT_EQ(VerifyChain(ca_->certificate_pem(), ca_->certificate_pem(), clock_.Now()), "");

  const EVP_PKEY* key = X509_get0_pubkey(cert.get());
  EXPECT_TRUE(EVP_PKEY_is_a(key, "EC"));
  char group[64] = {};
  ASSERT_EQ(EVP_PKEY_get_group_name(key, group, sizeof(group), nullptr), 1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
}

TEST_F(CertificateAuthorityTest, CaExtensionsFollowTheProfile) {
  const auto cert = ParseCertificate(ca_->certificate_pem());
  ASSERT_NE(cert, nullptr);
  EXPECT_TRUE(ExtensionIsCritical(cert.get(), NID_basic_constraints));
  EXPECT_TRUE(ExtensionIsCritical(cert.get(), NID_key_usage));
  EXPECT_EQ(X509_get_pathlen(cert.get()), 0);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  const ASN1_OCTET_STRING* subject_key_id = X509_get0_subject_key_id(cert.get());
  const ASN1_OCTET_STRING* authority_key_id = X509_get0_authority_key_id(cert.get());
  ASSERT_NE(subject_key_id, nullptr);
  ASSERT_NE(authority_key_id, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(subject_key_id, authority_key_id), 0);
}

TEST(CertificateAuthorityCreateTest, HonoursOptionsIncludingRsa3072) {
  const FakeClock clock(SystemTime{std::chrono::seconds{1'800'000'000}});
  CaOptions options;
  options.common_name = "Example Root";
  options.organization = "Example Org";
  options.validity = days{30};
  options.algorithm = KeyAlgorithm::kRsa3072;
  auto ca = CertificateAuthority::Create(options, clock);
  ASSERT_TRUE(ca.has_value()) << ca.error().message;
  EXPECT_EQ(ca->info().subject_cn, "Example Root");
  EXPECT_EQ(ca->info().not_before, clock.Now() - minutes{5});
  EXPECT_EQ(ca->info().not_after, clock.Now() + days{30});

  const auto cert = ParseCertificate(ca->certificate_pem());
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(SubjectField(cert.get(), NID_organizationName), "Example Org");
  const EVP_PKEY* key = X509_get0_pubkey(cert.get());
  EXPECT_TRUE(EVP_PKEY_is_a(key, "RSA"));
  EXPECT_EQ(EVP_PKEY_get_bits(key), 3072);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_sha256WithRSAEncryption);
  EXPECT_EQ(VerifyChain(ca->certificate_pem(), ca->certificate_pem(), clock.Now()), "");
}

TEST(CertificateAuthorityCreateTest, RejectsEmptyNameAndNonPositiveValidity) {
  const FakeClock clock;
  CaOptions no_name;
  no_name.common_name.clear();
  auto unnamed = CertificateAuthority::Create(no_name, clock);
  ASSERT_FALSE(unnamed.has_value());
  EXPECT_EQ(unnamed.error().code, ErrorCode::kInvalidRequest);

  CaOptions no_validity;
  no_validity.validity = days{0};
  auto expired = CertificateAuthority::Create(no_validity, clock);
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().code, ErrorCode::kInvalidRequest);
}

TEST_F(CertificateAuthorityTest, SaveThenLoadRoundTrips) {
  const TempDir dir;
  const auto cert_file = dir.path() / "ca.crt";
  const auto key_file = dir.path() / "ca.key";
  ASSERT_TRUE(ca_->Save(cert_file, key_file).has_value());

  using std::filesystem::perms;
  EXPECT_EQ(PermissionsOf(key_file), perms::owner_read | perms::owner_write);
  EXPECT_EQ(PermissionsOf(cert_file),
            perms::owner_read | perms::owner_write | perms::group_read | perms::others_read);
  EXPECT_EQ(ReadFile(cert_file), ca_->certificate_pem());
  EXPECT_TRUE(ReadFile(key_file).starts_with("-----BEGIN PRIVATE KEY-----\n"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 2)
      << "no temporary files are left behind";

  auto loaded = CertificateAuthority::Load(cert_file, key_file, clock_);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_EQ(loaded->info().fingerprint_sha256, ca_->info().fingerprint_sha256);
  EXPECT_EQ(loaded->certificate_pem(), ca_->certificate_pem());

  // The loaded key signs: what it issues verifies against the original CA certificate.
  ServiceCertificateRequest request;
  auto issued = loaded->IssueService(request);
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  EXPECT_EQ(VerifyChain(ca_->certificate_pem(), issued->certificate_pem, clock_.Now()), "");
}

TEST_F(CertificateAuthorityTest, SaveRefusesToOverwrite) {
  const TempDir dir;
  const auto cert_file = dir.path() / "ca.crt";
  const auto key_file = dir.path() / "ca.key";
  ASSERT_TRUE(ca_->Save(cert_file, key_file).has_value());
  const std::string original_key = ReadFile(key_file);

  auto other = CertificateAuthority::Create({}, clock_);
  ASSERT_TRUE(other.has_value()) << other.error().message;
  const auto again = other->Save(cert_file, key_file);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(again.error().message.find(cert_file.string()), std::string::npos)
      << again.error().message;
  EXPECT_EQ(ReadFile(cert_file), ca_->certificate_pem());
  EXPECT_EQ(ReadFile(key_file), original_key);

  // An existing key file alone blocks the save, and no certificate is written.
  const auto new_cert = dir.path() / "other.crt";
  const auto key_only = other->Save(new_cert, key_file);
  ASSERT_FALSE(key_only.has_value());
  EXPECT_NE(key_only.error().message.find(key_file.string()), std::string::npos)
      << key_only.error().message;
  EXPECT_FALSE(std::filesystem::exists(new_cert));
}

TEST_F(CertificateAuthorityTest, LoadReportsAMissingFileByName) {
  const TempDir dir;
  const auto cert_file = dir.path() / "ca.crt";
  const auto key_file = dir.path() / "ca.key";

  auto missing_cert = CertificateAuthority::Load(cert_file, key_file, clock_);
  ASSERT_FALSE(missing_cert.has_value());
  EXPECT_EQ(missing_cert.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing_cert.error().message.find(cert_file.string()), std::string::npos)
      << missing_cert.error().message;

  WriteFile(cert_file, ca_->certificate_pem());
  auto missing_key = CertificateAuthority::Load(cert_file, key_file, clock_);
  ASSERT_FALSE(missing_key.has_value());
  EXPECT_EQ(missing_key.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing_key.error().message.find(key_file.string()), std::string::npos)
      << missing_key.error().message;
}

TEST_F(CertificateAuthorityTest, LoadRejectsGarbageNamingTheFile) {
  const TempDir dir;
  const auto cert_file = dir.path() / "ca.crt";
  const auto key_file = dir.path() / "ca.key";
  ASSERT_TRUE(ca_->Save(cert_file, key_file).has_value());
  const auto garbage = dir.path() / "garbage.pem";
  WriteFile(garbage, "this is not PEM\n");

  auto bad_cert = CertificateAuthority::Load(garbage, key_file, clock_);
  ASSERT_FALSE(bad_cert.has_value());
  EXPECT_EQ(bad_cert.error().code, ErrorCode::kInvalidRequest);
  EXPECT_NE(bad_cert.error().message.find(garbage.string()), std::string::npos)
      << bad_cert.error().message;
  EXPECT_NE(bad_cert.error().message.find("certificate"), std::string::npos);

  auto bad_key = CertificateAuthority::Load(cert_file, garbage, clock_);
  ASSERT_FALSE(bad_key.has_value());
  EXPECT_EQ(bad_key.error().code, ErrorCode::kInvalidRequest);
  EXPECT_NE(bad_key.error().message.find(garbage.string()), std::string::npos)
      << bad_key.error().message;
  EXPECT_NE(bad_key.error().message.find("private key"), std::string::npos);

  // A certificate where the key should be is not a key either.
  auto swapped = CertificateAuthority::Load(cert_file, cert_file, clock_);
  ASSERT_FALSE(swapped.has_value());
  EXPECT_NE(swapped.error().message.find("private key"), std::string::npos)
      << swapped.error().message;
  EXPECT_EQ(ERR_peek_error(), 0UL) << "the OpenSSL error queue must be left empty";
}

TEST_F(CertificateAuthorityTest, LoadRejectsAKeyOfAnotherCa) {
  const TempDir dir;
  ASSERT_TRUE(ca_->Save(dir.path() / "a.crt", dir.path() / "a.key").has_value());
  auto other = CertificateAuthority::Create({}, clock_);
  ASSERT_TRUE(other.has_value()) << other.error().message;
  ASSERT_TRUE(other->Save(dir.path() / "b.crt", dir.path() / "b.key").has_value());

  auto mixed = CertificateAuthority::Load(dir.path() / "a.crt", dir.path() / "b.key", clock_);
  ASSERT_FALSE(mixed.has_value());
  EXPECT_EQ(mixed.error().code, ErrorCode::kInvalidRequest);
  EXPECT_NE(mixed.error().message.find((dir.path() / "b.key").string()), std::string::npos)
      << mixed.error().message;
  EXPECT_NE(mixed.error().message.find((dir.path() / "a.crt").string()), std::string::npos)
      << mixed.error().message;
  EXPECT_NE(mixed.error().message.find("does not match"), std::string::npos);
}

TEST_F(CertificateAuthorityTest, LoadRejectsANonCaCertificate) {
  const TempDir dir;
  const IssuedCertificate leaf = IssueClient("acme-1");
  WriteFile(dir.path() / "leaf.crt", leaf.certificate_pem);
  WriteFile(dir.path() / "leaf.key", leaf.private_key_pem);

  auto loaded =
      CertificateAuthority::Load(dir.path() / "leaf.crt", dir.path() / "leaf.key", clock_);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message.find("not a CA"), std::string::npos) << loaded.error().message;
  EXPECT_NE(loaded.error().message.find((dir.path() / "leaf.crt").string()), std::string::npos);
}

TEST_F(CertificateAuthorityTest, IssueClientFollowsTheClientProfile) {
  const IssuedCertificate issued = IssueClient("acme-1");
  const CertificateInfo& info = issued.info;
  EXPECT_EQ(info.subject_cn, "acme-1");
  EXPECT_EQ(info.client_id, "acme-1");
  EXPECT_EQ(info.role, std::nullopt);
  EXPECT_EQ(info.uri_sans, std::vector<std::string>{"urn:msgbroker:client:acme-1"});
  EXPECT_EQ(info.dns_sans, std::vector<std::string>{"acme.example"});
  EXPECT_TRUE(info.ip_sans.empty());
  EXPECT_TRUE(info.client_auth);
  EXPECT_FALSE(info.server_auth);
  EXPECT_FALSE(info.is_ca);
  EXPECT_EQ(info.not_before, clock_.Now() - minutes{5});
  EXPECT_EQ(info.not_after, clock_.Now() + days{365});

  const auto cert = ParseCertificate(issued.certificate_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(SubjectField(cert.get(), NID_organizationName), "acme.example");
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(cert.get()),
                          X509_get_subject_name(ParseCertificate(ca_->certificate_pem()).get())),
            0);
  EXPECT_TRUE(ExtensionIsCritical(cert.get(), NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_TRUE(ExtensionIsCritical(cert.get(), NID_basic_constraints));
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
  EXPECT_NE(X509_get0_subject_key_id(cert.get()), nullptr);

  // The AKI names the CA's key.
  const auto ca_cert = ParseCertificate(ca_->certificate_pem());
  ASSERT_NE(X509_get0_authority_key_id(cert.get()), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert.get()),
                                  X509_get0_subject_key_id(ca_cert.get())),
            0);

  EXPECT_EQ(info.fingerprint_sha256, Sha256OfDer(cert.get()));

  ASSERT_TRUE(issued.private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
  const auto key = ParsePrivateKey(issued.private_key_pem);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

TEST_F(CertificateAuthorityTest, IssuedClientChainsToTheCaWithinItsValidity) {
  const IssuedCertificate issued = IssueClient("acme-1");
  EXPECT_EQ(VerifyChain(ca_->certificate_pem(), issued.certificate_pem, clock_.Now()), "");
  EXPECT_EQ(VerifyChain(ca_->certificate_pem(), issued.certificate_pem,
                        clock_.Now() + days{365} - minutes{1}),
            "");
  EXPECT_EQ(VerifyChain(ca_->certificate_pem(), issued.certificate_pem,
                        clock_.Now() + days{365} + minutes{1}),
            "certificate has expired");
  EXPECT_EQ(VerifyChain(ca_->certificate_pem(), issued.certificate_pem, clock_.Now() - minutes{6}),
            "certificate is not yet valid");
}

TEST_F(CertificateAuthorityTest, SerialsAreRandomPositiveAndDistinct) {
  std::set<std::string> serials{ca_->info().serial_hex};
  for (int i = 0; i < 8; ++i) {
    const IssuedCertificate issued = IssueClient("acme-" + std::to_string(i));
    const std::string& serial = issued.info.serial_hex;
    EXPECT_TRUE(serials.insert(serial).second) << "duplicate serial " << serial;
    EXPECT_LE(serial.size(), 32U);
    EXPECT_GE(serial.size(), 16U) << "a 128-bit random serial is this short only by chance";
  }
}

TEST_F(CertificateAuthorityTest, ClientDomainThatIsNotADnsNameGivesNoDnsSan) {
  const IssuedCertificate issued = IssueClient("acme-2", "Acme Corp");
  EXPECT_TRUE(issued.info.dns_sans.empty());
  const auto cert = ParseCertificate(issued.certificate_pem);
  EXPECT_EQ(SubjectField(cert.get(), NID_organizationName), "Acme Corp");
  EXPECT_EQ(issued.info.client_id, "acme-2");
}

TEST_F(CertificateAuthorityTest, IssueClientRejectsBadRequests) {
  ClientCertificateRequest no_id;
  auto unnamed = ca_->IssueClient(no_id);
  ASSERT_FALSE(unnamed.has_value());
  EXPECT_EQ(unnamed.error().field, "client_id");

  ClientCertificateRequest long_domain;
  long_domain.client_id = MakeClientId("acme-1");
  long_domain.domain = std::string(60, 'a') + ".example";
  auto too_long = ca_->IssueClient(long_domain);
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().field, "domain");

  ClientCertificateRequest no_validity;
  no_validity.client_id = MakeClientId("acme-1");
  no_validity.validity = days{0};
  auto expired = ca_->IssueClient(no_validity);
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().code, ErrorCode::kInvalidRequest);
}

TEST_F(CertificateAuthorityTest, RsaClientKeysAlsoGetKeyEncipherment) {
  ClientCertificateRequest request;
  request.client_id = MakeClientId("rsa-client");
  request.domain = "acme.example";
  request.algorithm = KeyAlgorithm::kRsa3072;
  auto issued = ca_->IssueClient(request);
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  const auto cert = ParseCertificate(issued->certificate_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_TRUE(EVP_PKEY_is_a(X509_get0_pubkey(cert.get()), "RSA"));
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(cert.get())), 3072);
  EXPECT_EQ(X509_get_key_usage(cert.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  const auto key = ParsePrivateKey(issued->private_key_pem);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(VerifyChain(ca_->certificate_pem(), issued->certificate_pem, clock_.Now()), "");
}

TEST_F(CertificateAuthorityTest, IssueServiceCarriesTheRoleForEveryRole) {
  for (const ServiceRole role : kAllRoles) {
    ServiceCertificateRequest request;
    request.role = role;
    request.dns_names = {"localhost", "broker.internal"};
    request.ip_addresses = {"127.0.0.1", "::1"};
    auto issued = ca_->IssueService(request);
    ASSERT_TRUE(issued.has_value()) << issued.error().message;
    const CertificateInfo& info = issued->info;
    const std::string name(RoleName(role));
    EXPECT_EQ(info.role, role) << name;
    EXPECT_EQ(info.subject_cn, name);
    EXPECT_EQ(info.client_id, std::nullopt);
    EXPECT_EQ(info.uri_sans, std::vector<std::string>{"urn:msgbroker:role:" + name});
    EXPECT_EQ(info.dns_sans, (std::vector<std::string>{"localhost", "broker.internal"}));
    EXPECT_EQ(info.ip_sans, (std::vector<std::string>{"127.0.0.1", "::1"}));
    EXPECT_TRUE(info.server_auth);
    EXPECT_TRUE(info.client_auth);
    EXPECT_FALSE(info.is_ca);
    EXPECT_EQ(info.not_after, clock_.Now() + days{825});
    EXPECT_EQ(VerifyChain(ca_->certificate_pem(), issued->certificate_pem, clock_.Now()), "");

    // What the TLS layer does with a peer certificate: describe it from its PEM.
    auto described = DescribePem(issued->certificate_pem);
    ASSERT_TRUE(described.has_value()) << described.error().message;
    EXPECT_EQ(described->role, role);
    EXPECT_EQ(described->fingerprint_sha256, info.fingerprint_sha256);
  }
}

TEST_F(CertificateAuthorityTest, IssueServiceValidatesNamesAndAddresses) {
  for (const std::string& bad_name :
       std::vector<std::string>{"", "bad name", "-leading.example", "a..b",
                                "a.com,URI:urn:msgbroker:role:admin", std::string(64, 'a')}) {
    ServiceCertificateRequest request;
    request.dns_names = {bad_name};
    auto issued = ca_->IssueService(request);
    ASSERT_FALSE(issued.has_value()) << bad_name;
    EXPECT_EQ(issued.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(issued.error().field, "dns_names");
  }
  for (const std::string& bad_address :
       std::vector<std::string>{"", "localhost", "300.1.1.1", "1.2.3", "::g"}) {
    ServiceCertificateRequest request;
    request.ip_addresses = {bad_address};
    auto issued = ca_->IssueService(request);
    ASSERT_FALSE(issued.has_value()) << bad_address;
    EXPECT_EQ(issued.error().field, "ip_addresses");
  }
  EXPECT_EQ(ERR_peek_error(), 0UL) << "the OpenSSL error queue must be left empty";
}

TEST_F(CertificateAuthorityTest, CertificatesOfAnotherCaDoNotVerify) {
  // Same subject name, different key: only the signature tells them apart.
  auto other = CertificateAuthority::Create({}, clock_);
  ASSERT_TRUE(other.has_value()) << other.error().message;
  ClientCertificateRequest request;
  request.client_id = MakeClientId("acme-1");
  auto foreign = other->IssueClient(request);
  ASSERT_TRUE(foreign.has_value()) << foreign.error().message;

  EXPECT_EQ(VerifyChain(other->certificate_pem(), foreign->certificate_pem, clock_.Now()), "");
  EXPECT_NE(VerifyChain(ca_->certificate_pem(), foreign->certificate_pem, clock_.Now()), "");
  EXPECT_NE(VerifyChain(ca_->certificate_pem(), other->certificate_pem(), clock_.Now()), "");
}

TEST_F(CertificateAuthorityTest, MovedCaKeepsWorking) {
  CertificateAuthority moved = std::move(*ca_);
  ca_.reset();
  ServiceCertificateRequest request;
  auto issued = moved.IssueService(request);
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  EXPECT_EQ(VerifyChain(moved.certificate_pem(), issued->certificate_pem, clock_.Now()), "");
}

}  // namespace
}  // namespace msgbroker::pki
