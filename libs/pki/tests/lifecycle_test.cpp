// CSR signing, CRL generation and PKCS#12 bundles, checked with OpenSSL's own verification.

#include <gtest/gtest.h>
#include <openssl/pkcs12.h>

#include "msgbroker/pki/certificate_authority.hpp"
#include "pki_test_support.hpp"

namespace msgbroker::pki {
namespace {

using std::chrono::days;
using std::chrono::hours;
using testing::ParseCertificate;
using testing::ParsePrivateKey;
using testing::VerifyChain;
using X509ReqPtr = std::unique_ptr<X509_REQ, detail::OpenSslDeleter<&X509_REQ_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, detail::OpenSslDeleter<&X509_CRL_free>>;
using Pkcs12Ptr = std::unique_ptr<PKCS12, detail::OpenSslDeleter<&PKCS12_free>>;
using StorePtr = std::unique_ptr<X509_STORE, detail::OpenSslDeleter<&X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, detail::OpenSslDeleter<&X509_STORE_CTX_free>>;

ClientId Id(std::string_view text) { return ClientId::Parse(text).value_or(ClientId{}); }

detail::EvpPkeyPtr Key(const char* type, const char* curve_or_null, std::size_t rsa_bits = 0) {
  EVP_PKEY* key = nullptr;
  if (std::string_view(type) == "RSA") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", rsa_bits);
  } else if (curve_or_null != nullptr) {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve_or_null);
  } else {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  }
  EXPECT_NE(key, nullptr) << detail::DrainOpenSslErrors();
  return detail::EvpPkeyPtr(key);
}

// A CSR for `key` asking for CN=evil, a DNS SAN, CA:TRUE and serverAuth (all to be ignored).
X509ReqPtr MakeCsr(EVP_PKEY* key) {
  X509ReqPtr req(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("evil"), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key);
  STACK_OF(X509_EXTENSION)* extensions = sk_X509_EXTENSION_new_null();
  X509V3_CTX context;
  X509V3_set_ctx(&context, nullptr, nullptr, req.get(), nullptr, 0);
  for (const auto& [nid, value] :
       {std::pair{NID_subject_alt_name, "DNS:evil.example,URI:urn:msgbroker:role:admin"},
        std::pair{NID_basic_constraints, "critical,CA:TRUE"},
        std::pair{NID_ext_key_usage, "serverAuth"}}) {
    sk_X509_EXTENSION_push(extensions, X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  }
  X509_REQ_add_extensions(req.get(), extensions);
  sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
  // Ed25519 signs without a separate digest.
  const EVP_MD* digest = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  EXPECT_GT(X509_REQ_sign(req.get(), key, digest), 0);
  return req;
}

std::string CsrPem(X509_REQ* req) {
  const detail::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req);
  return detail::MemoryBioContents(bio.get());
}

std::string CsrPemFor(EVP_PKEY* key) { return CsrPem(MakeCsr(key).get()); }

X509CrlPtr ParseCrl(std::string_view pem) {
  const detail::BioPtr bio = detail::MemoryBio(pem);
  return X509CrlPtr(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
}

// X509_verify_cert with CRL checking of the leaf against `crl_pem`; "" when it verifies.
std::string VerifyWithCrl(std::string_view ca_pem, std::string_view crl_pem,
                          std::string_view leaf_pem, SystemTime at) {
  const auto ca = ParseCertificate(ca_pem);
  const auto leaf = ParseCertificate(leaf_pem);
  const auto crl = ParseCrl(crl_pem);
  if (ca == nullptr || leaf == nullptr || crl == nullptr) return "unparsable PEM";
  StorePtr store(X509_STORE_new());
  StoreCtxPtr context(X509_STORE_CTX_new());
  X509_STORE_add_cert(store.get(), ca.get());
  X509_STORE_add_crl(store.get(), crl.get());
  X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  X509_STORE_CTX_init(context.get(), store.get(), leaf.get(), nullptr);
  X509_VERIFY_PARAM_set_time(
      X509_STORE_CTX_get0_param(context.get()),
      static_cast<time_t>(std::chrono::floor<std::chrono::seconds>(at.time_since_epoch()).count()));
  if (X509_verify_cert(context.get()) == 1) return {};
  ERR_clear_error();
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(context.get()));
}

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = CertificateAuthority::Create({}, clock_);
    ASSERT_TRUE(created.has_value()) << created.error().message;
    ca_.emplace(std::move(*created));
  }

  ClientCertificateRequest Request(std::string_view id = "acme-1") const {
    return {Id(id), "acme.example", days{90}};
  }

  IssuedCertificate Issue(std::string_view id) {
    auto issued = ca_->IssueClient(Request(id));
    EXPECT_TRUE(issued.has_value());
    return issued.value_or(IssuedCertificate{});
  }

  FakeClock clock_;
  std::optional<CertificateAuthority> ca_;
};

TEST_F(LifecycleTest, SignedCsrGetsTheClientProfileAndNothingItAskedFor) {
  const auto key = Key("EC", "P-256");
  auto issued = ca_->SignClientCsr(Request(), CsrPemFor(key.get()));
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  EXPECT_TRUE(issued->private_key_pem.empty());
  EXPECT_EQ(VerifyChain(ca_->certificate_pem(), issued->certificate_pem, clock_.Now()), "");
  EXPECT_EQ(issued->info.subject_cn, "acme-1");
  EXPECT_EQ(issued->info.client_id, "acme-1");
  EXPECT_FALSE(issued->info.role.has_value());
  EXPECT_EQ(issued->info.dns_sans, std::vector<std::string>{"acme.example"});
  EXPECT_EQ(issued->info.uri_sans, std::vector<std::string>{"urn:msgbroker:client:acme-1"});
  EXPECT_TRUE(issued->info.client_auth);
  EXPECT_FALSE(issued->info.server_auth);
  EXPECT_FALSE(issued->info.is_ca);
  EXPECT_EQ(issued->info.not_after, clock_.Now() + days{90});
  const auto cert = ParseCertificate(issued->certificate_pem);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key.get()), 1);
  EXPECT_EQ(X509_get_ext_by_NID(cert.get(), NID_key_usage, -1) >= 0, true);
}

TEST_F(LifecycleTest, RsaAndP384CsrsAreSigned) {
  const auto rsa = Key("RSA", nullptr, 2048);
  auto from_rsa = ca_->SignClientCsr(Request(), CsrPemFor(rsa.get()));
  ASSERT_TRUE(from_rsa.has_value()) << from_rsa.error().message;
  const auto rsa_cert = ParseCertificate(from_rsa->certificate_pem);
  EXPECT_NE(X509_get_key_usage(rsa_cert.get()) & KU_KEY_ENCIPHERMENT, 0U);

  const auto p384 = Key("EC", "P-384");
  auto from_p384 = ca_->SignClientCsr(Request(), CsrPemFor(p384.get()));
  ASSERT_TRUE(from_p384.has_value()) << from_p384.error().message;
  EXPECT_EQ(VerifyChain(ca_->certificate_pem(), from_p384->certificate_pem, clock_.Now()), "");
}

TEST_F(LifecycleTest, WeakOrUnsupportedKeysAreRefusedByName) {
  struct Case {
    detail::EvpPkeyPtr key;
    std::string expected;
  };
  Case cases[] = {
      {Key("RSA", nullptr, 1024), "1024 bits; at least 2048"},
      {Key("EC", "P-521"), "curve secp521r1; only P-256 and P-384"},
      {Key("EC", "secp256k1"), "curve secp256k1"},
      {Key("ED25519", nullptr), "key type ED25519 is not accepted"},
  };
  for (const Case& c : cases) {
    auto issued = ca_->SignClientCsr(Request(), CsrPemFor(c.key.get()));
    ASSERT_FALSE(issued.has_value()) << c.expected;
    EXPECT_EQ(issued.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(issued.error().field, "csr");
    EXPECT_NE(issued.error().message.find(c.expected), std::string::npos) << issued.error().message;
  }
}

TEST_F(LifecycleTest, ACsrWhoseSignatureDoesNotVerifyIsRefused) {
  const auto key = Key("EC", "P-256");
  const auto other = Key("EC", "P-256");
  X509ReqPtr req = MakeCsr(key.get());
  // Signed by another key: no proof of possession of the key in the request.
  ASSERT_GT(X509_REQ_sign(req.get(), other.get(), EVP_sha256()), 0);
  auto issued = ca_->SignClientCsr(Request(), CsrPem(req.get()));
  ASSERT_FALSE(issued.has_value());
  EXPECT_EQ(issued.error().field, "csr");
  EXPECT_NE(issued.error().message.find("signature does not verify"), std::string::npos);
}

TEST_F(LifecycleTest, GarbageEmptyAndHugeCsrsAreRefused) {
  for (const std::string& text :
       {std::string(), std::string("not a csr"), ca_->certificate_pem(),
        std::string(
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
        std::string(70'000, 'A')}) {
    auto issued = ca_->SignClientCsr(Request(), text);
    ASSERT_FALSE(issued.has_value());
    EXPECT_EQ(issued.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(issued.error().field, "csr");
  }
  const auto key = Key("EC", "P-256");
  auto no_id = ca_->SignClientCsr({ClientId{}, "acme.example"}, CsrPemFor(key.get()));
  ASSERT_FALSE(no_id.has_value());
  EXPECT_EQ(no_id.error().field, "client_id");
}

TEST_F(LifecycleTest, CrlRevokesOneCertificateAndNotTheOther) {
  const IssuedCertificate revoked = Issue("acme-1");
  const IssuedCertificate kept = Issue("acme-2");
  CrlRequest request;
  request.revoked = {{revoked.info.serial_hex, clock_.Now(), RevocationReason::kKeyCompromise}};
  request.this_update = clock_.Now();
  request.crl_number = 42;
  auto crl = ca_->MakeCrl(request);
  ASSERT_TRUE(crl.has_value()) << crl.error().message;
  const SystemTime at = clock_.Now() + hours{1};
  EXPECT_EQ(VerifyWithCrl(ca_->certificate_pem(), crl->pem, revoked.certificate_pem, at),
            "certificate revoked");
  EXPECT_EQ(VerifyWithCrl(ca_->certificate_pem(), crl->pem, kept.certificate_pem, at), "");
  // Past nextUpdate the CRL no longer counts.
  EXPECT_EQ(VerifyWithCrl(ca_->certificate_pem(), crl->pem, kept.certificate_pem,
                          clock_.Now() + hours{25}),
            "CRL has expired");
}

TEST_F(LifecycleTest, CrlCarriesNumberReasonDatesAndTheCaSignature) {
  const IssuedCertificate a = Issue("acme-1");
  const IssuedCertificate b = Issue("acme-2");
  CrlRequest request;
  request.revoked = {{a.info.serial_hex, clock_.Now() - hours{2}, RevocationReason::kSuperseded},
                     {b.info.serial_hex, clock_.Now() - hours{1}, RevocationReason::kUnspecified}};
  request.this_update = clock_.Now();
  request.validity = hours{6};
  request.crl_number = 1'700'000'000'123;
  auto crl = ca_->MakeCrl(request);
  ASSERT_TRUE(crl.has_value()) << crl.error().message;
  const auto parsed = ParseCrl(crl->pem);
  ASSERT_NE(parsed, nullptr);
  // DER and PEM are the same CRL.
  const unsigned char* der = reinterpret_cast<const unsigned char*>(crl->der.data());
  X509CrlPtr from_der(d2i_X509_CRL(nullptr, &der, static_cast<long>(crl->der.size())));
  ASSERT_NE(from_der, nullptr);
  EXPECT_EQ(X509_CRL_cmp(parsed.get(), from_der.get()), 0);

  EXPECT_EQ(X509_CRL_get_version(parsed.get()), X509_CRL_VERSION_2);
  const auto ca = ParseCertificate(ca_->certificate_pem());
  EXPECT_EQ(X509_CRL_verify(parsed.get(), X509_get0_pubkey(ca.get())), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(parsed.get()), X509_get_subject_name(ca.get())), 0);
  int day = 0;
  int seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&day, &seconds, X509_CRL_get0_lastUpdate(parsed.get()),
                           X509_CRL_get0_nextUpdate(parsed.get())),
            1);
  EXPECT_EQ(day * 86400 + seconds, 6 * 3600);

  ASN1_INTEGER* number = static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(parsed.get(), NID_crl_number, nullptr, nullptr));
  ASSERT_NE(number, nullptr);
  std::uint64_t value = 0;
  ASN1_INTEGER_get_uint64(&value, number);
  ASN1_INTEGER_free(number);
  EXPECT_EQ(value, 1'700'000'000'123U);
  EXPECT_GE(X509_CRL_get_ext_by_NID(parsed.get(), NID_authority_key_identifier, -1), 0);

  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(parsed.get());
  ASSERT_EQ(sk_X509_REVOKED_num(entries), 2);
  for (int i = 0; i < 2; ++i) {
    X509_REVOKED* entry = sk_X509_REVOKED_value(entries, i);
    BIGNUM* serial = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(entry), nullptr);
    char* hex = BN_bn2hex(serial);
    std::string text(hex);
    OPENSSL_free(hex);
    BN_free(serial);
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASN1_ENUMERATED* reason = static_cast<ASN1_ENUMERATED*>(
        X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr));
    ASSERT_NE(reason, nullptr);
    const long code = ASN1_ENUMERATED_get(reason);
    ASN1_ENUMERATED_free(reason);
    if (text == a.info.serial_hex) {
      EXPECT_EQ(code, 4);  // superseded
    } else {
      EXPECT_EQ(text, b.info.serial_hex);
      EXPECT_EQ(code, 0);
    }
  }
}

TEST_F(LifecycleTest, AnEmptyCrlIsValidAndBadInputIsRefused) {
  const IssuedCertificate a = Issue("acme-1");
  auto empty = ca_->MakeCrl({.this_update = clock_.Now()});
  ASSERT_TRUE(empty.has_value()) << empty.error().message;
  EXPECT_EQ(VerifyWithCrl(ca_->certificate_pem(), empty->pem, a.certificate_pem, clock_.Now()), "");
  for (const std::string& serial :
       {std::string(), std::string("XYZ"), std::string("ABCD"), std::string(41, 'a')}) {
    auto bad = ca_->MakeCrl(
        {.revoked = {{serial, clock_.Now(), RevocationReason::kUnspecified}}, .this_update = {}});
    ASSERT_FALSE(bad.has_value()) << serial;
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidRequest);
  }
  auto zero = ca_->MakeCrl({.this_update = clock_.Now(), .validity = std::chrono::seconds{0}});
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().field, "validity");
}

TEST(RevocationReasonTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (const auto reason : {RevocationReason::kUnspecified, RevocationReason::kKeyCompromise,
                            RevocationReason::kCaCompromise, RevocationReason::kAffiliationChanged,
                            RevocationReason::kSuperseded, RevocationReason::kCessationOfOperation,
                            RevocationReason::kPrivilegeWithdrawn}) {
    EXPECT_EQ(ParseRevocationReason(RevocationReasonName(reason)), reason);
  }
  EXPECT_EQ(RevocationReasonName(RevocationReason::kKeyCompromise), "key-compromise");
  EXPECT_FALSE(ParseRevocationReason("certificate-hold").has_value());
  EXPECT_FALSE(ParseRevocationReason("").has_value());
}

TEST_F(LifecycleTest, Pkcs12HoldsKeyCertificateAndCaUnderThePassword) {
  const IssuedCertificate issued = Issue("acme-1");
  auto bundle = MakePkcs12(issued.certificate_pem, issued.private_key_pem, ca_->certificate_pem(),
                           "s3cret", "acme-1");
  ASSERT_TRUE(bundle.has_value()) << bundle.error().message;
  const unsigned char* der = reinterpret_cast<const unsigned char*>(bundle->data());
  Pkcs12Ptr p12(d2i_PKCS12(nullptr, &der, static_cast<long>(bundle->size())));
  ASSERT_NE(p12, nullptr);
  EXPECT_EQ(PKCS12_verify_mac(p12.get(), "wrong", -1), 0);
  ERR_clear_error();
  ASSERT_EQ(PKCS12_verify_mac(p12.get(), "s3cret", -1), 1);
  const X509_ALGOR* mac_algorithm = nullptr;
  PKCS12_get0_mac(nullptr, &mac_algorithm, nullptr, nullptr, p12.get());
  ASSERT_NE(mac_algorithm, nullptr);
  const ASN1_OBJECT* mac_oid = nullptr;
  X509_ALGOR_get0(&mac_oid, nullptr, nullptr, mac_algorithm);
  EXPECT_EQ(OBJ_obj2nid(mac_oid), NID_sha256);

  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;
  ASSERT_EQ(PKCS12_parse(p12.get(), "s3cret", &key, &cert, &chain), 1);
  const detail::EvpPkeyPtr key_owner(key);
  const detail::X509Ptr cert_owner(cert);
  const auto expected_key = ParsePrivateKey(issued.private_key_pem);
  EXPECT_EQ(EVP_PKEY_eq(key, expected_key.get()), 1);
  EXPECT_EQ(X509_cmp(cert, ParseCertificate(issued.certificate_pem).get()), 0);
  ASSERT_EQ(sk_X509_num(chain), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(chain, 0), ParseCertificate(ca_->certificate_pem()).get()), 0);
  sk_X509_pop_free(chain, X509_free);

  // The key bag is encrypted with PBES2 (AES-256-CBC): the openssl(1) default of OpenSSL 3.
  STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12.get());
  ASSERT_NE(safes, nullptr);
  bool saw_shrouded_key = false;
  for (int i = 0; i < sk_PKCS7_num(safes); ++i) {
    PKCS7* safe = sk_PKCS7_value(safes, i);
    if (OBJ_obj2nid(safe->type) != NID_pkcs7_data) {
      // The certificate bag: PKCS#7 encryptedData, also PBES2.
      EXPECT_EQ(OBJ_obj2nid(safe->d.encrypted->enc_data->algorithm->algorithm), NID_pbes2);
      continue;
    }
    STACK_OF(PKCS12_SAFEBAG)* bags = PKCS12_unpack_p7data(safe);
    for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); ++j) {
      const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, j);
      if (PKCS12_SAFEBAG_get_nid(bag) != NID_pkcs8ShroudedKeyBag) continue;
      saw_shrouded_key = true;
      const X509_ALGOR* algorithm = nullptr;
      X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &algorithm, nullptr);
      const ASN1_OBJECT* oid = nullptr;
      X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm);
      EXPECT_EQ(OBJ_obj2nid(oid), NID_pbes2);
    }
    sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
  }
  sk_PKCS7_pop_free(safes, PKCS7_free);
  EXPECT_TRUE(saw_shrouded_key);
}

TEST_F(LifecycleTest, Pkcs12RefusesAnEmptyPasswordAndAMismatchedKey) {
  const IssuedCertificate a = Issue("acme-1");
  const IssuedCertificate b = Issue("acme-2");
  auto empty = MakePkcs12(a.certificate_pem, a.private_key_pem, ca_->certificate_pem(), "", "x");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().field, "password");
  auto mismatch =
      MakePkcs12(a.certificate_pem, b.private_key_pem, ca_->certificate_pem(), "pw", "x");
  ASSERT_FALSE(mismatch.has_value());
  EXPECT_EQ(mismatch.error().field, "private_key");
  auto garbage = MakePkcs12("junk", a.private_key_pem, ca_->certificate_pem(), "pw", "x");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_EQ(garbage.error().field, "certificate");
}

}  // namespace
}  // namespace msgbroker::pki
