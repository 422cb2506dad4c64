// SqliteClientRegistry: clients, their certificates, and the joined identities the proxy uses.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "msgbroker/storage/sqlite_database.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage {
namespace {

namespace fs = std::filesystem;

using std::chrono::hours;
using std::chrono::seconds;
using testing::MakeClientId;
using testing::OpenOrFail;
using testing::OptionsFor;
using testing::TempDir;

class SqliteClientRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenOrFail(OptionsFor(dir_.path() / "broker.db"), clock_);
    ASSERT_NE(db_, nullptr);
    registry_ = db_->clients();
  }

  Client MakeClient(std::string_view id, ClientStatus status = ClientStatus::kActive) {
    return Client{MakeClientId(id), std::string(id) + ".example", status,
                  clock_.Now() + seconds(id.size())};
  }
  ClientCertificate MakeCert(std::string_view client, std::string_view fingerprint,
                             SystemTime created_at) {
    return ClientCertificate{
        std::string(fingerprint),     MakeClientId(client),       "0a1b2c",  created_at - hours(1),
        created_at + hours(24 * 365), CertificateStatus::kActive, created_at};
  }
  void Create(const Client& client) {
    auto created = registry_->CreateClient(client);
    ASSERT_TRUE(created) << created.error().message;
  }
  void Add(const ClientCertificate& cert) {
    auto added = registry_->AddCertificate(cert);
    ASSERT_TRUE(added) << added.error().message;
  }

  static void ExpectSameClient(const Client& actual, const Client& expected) {
    EXPECT_EQ(actual.id, expected.id);
    EXPECT_EQ(actual.domain, expected.domain);
    EXPECT_EQ(actual.status, expected.status);
    EXPECT_EQ(actual.created_at, expected.created_at);
  }
  static void ExpectSameCert(const ClientCertificate& actual, const ClientCertificate& expected) {
    EXPECT_EQ(actual.fingerprint_sha256, expected.fingerprint_sha256);
    EXPECT_EQ(actual.client_id, expected.client_id);
    EXPECT_EQ(actual.serial_hex, expected.serial_hex);
    EXPECT_EQ(actual.not_before, expected.not_before);
    EXPECT_EQ(actual.not_after, expected.not_after);
    EXPECT_EQ(actual.status, expected.status);
    EXPECT_EQ(actual.created_at, expected.created_at);
  }

  TempDir dir_;
  FakeClock clock_;
  std::shared_ptr<SqliteDatabase> db_;
  std::shared_ptr<ClientRegistry> registry_;
};

TEST(ClientStatusNames, RoundTrip) {
  for (auto s : {ClientStatus::kActive, ClientStatus::kSuspended, ClientStatus::kRevoked}) {
    EXPECT_EQ(ParseClientStatus(ClientStatusName(s)), s);
  }
  EXPECT_EQ(ClientStatusName(ClientStatus::kSuspended), "suspended");
  EXPECT_EQ(ParseClientStatus("ACTIVE"), std::nullopt);
  EXPECT_EQ(CertificateStatusName(CertificateStatus::kActive), "active");
  EXPECT_EQ(CertificateStatusName(CertificateStatus::kRevoked), "revoked");
}

TEST_F(SqliteClientRegistryTest, CreateThenGet) {
  const auto acme = MakeClient("acme", ClientStatus::kSuspended);
  Create(acme);
  auto got = registry_->GetClient(acme.id);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(got->has_value());
  ExpectSameClient(**got, acme);
}

TEST_F(SqliteClientRegistryTest, GetUnknownClientIsEmpty) {
  auto got = registry_->GetClient(MakeClientId("nobody"));
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->has_value());
}

TEST_F(SqliteClientRegistryTest, CreatingATakenIdIsAlreadyExists) {
  Create(MakeClient("acme"));
  auto again = registry_->CreateClient(MakeClient("acme", ClientStatus::kRevoked));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  auto got = registry_->GetClient(MakeClientId("acme"));
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->status, ClientStatus::kActive);
}

TEST_F(SqliteClientRegistryTest, CertificateForUnknownClientIsNotFound) {
  auto added = registry_->AddCertificate(MakeCert("nobody", "ff00", clock_.Now()));
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, ErrorCode::kNotFound);
  auto listed = registry_->ListIdentities();
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

TEST_F(SqliteClientRegistryTest, DuplicateFingerprintIsAlreadyExists) {
  Create(MakeClient("acme"));
  Create(MakeClient("globex"));
  const auto cert = MakeCert("acme", "ab12", clock_.Now());
  Add(cert);
  for (const char* owner : {"acme", "globex"}) {
    auto again = registry_->AddCertificate(MakeCert(owner, "ab12", clock_.Now() + hours(1)));
    ASSERT_FALSE(again) << owner;
    EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists) << owner;
  }
  auto found = registry_->FindByFingerprint("ab12");
  ASSERT_TRUE(found && found->has_value());
  ExpectSameCert((*found)->certificate, cert);
}

TEST_F(SqliteClientRegistryTest, FindByFingerprintJoinsTheClient) {
  const auto acme = MakeClient("acme");
  Create(acme);
  auto cert = MakeCert("acme", "c0ffee", clock_.Now());
  cert.status = CertificateStatus::kRevoked;
  Add(cert);

  auto found = registry_->FindByFingerprint("c0ffee");
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->has_value());
  ExpectSameClient((*found)->client, acme);
  ExpectSameCert((*found)->certificate, cert);

  auto missing = registry_->FindByFingerprint("c0ffef");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  auto injected = registry_->FindByFingerprint("' OR 1=1 --");
  ASSERT_TRUE(injected);
  EXPECT_FALSE(injected->has_value());
}

TEST_F(SqliteClientRegistryTest, ListClientsIsOrderedById) {
  for (const char* id : {"initech", "acme", "globex", "Zeta", "acme-2"}) Create(MakeClient(id));
  auto listed = registry_->ListClients();
  ASSERT_TRUE(listed) << listed.error().message;
  std::vector<std::string> ids;
  for (const auto& c : *listed) ids.push_back(c.id.str());
  // Byte order: upper case sorts before lower case.
  EXPECT_EQ(ids, (std::vector<std::string>{"Zeta", "acme", "acme-2", "globex", "initech"}));
  ExpectSameClient(listed->at(3), MakeClient("globex"));
}

TEST_F(SqliteClientRegistryTest, ListCertificatesOfOneClientByCreation) {
  Create(MakeClient("acme"));
  Create(MakeClient("globex"));
  const auto newer = MakeCert("acme", "0002", clock_.Now() + hours(2));
  const auto older = MakeCert("acme", "0003", clock_.Now() + hours(1));
  Add(newer);
  Add(older);
  Add(MakeCert("globex", "0001", clock_.Now()));

  auto listed = registry_->ListCertificates(MakeClientId("acme"));
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 2u);
  ExpectSameCert(listed->at(0), older);
  ExpectSameCert(listed->at(1), newer);

  auto none = registry_->ListCertificates(MakeClientId("nobody"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(SqliteClientRegistryTest, ListIdentitiesJoinsEveryCertificateWithItsClient) {
  const auto globex = MakeClient("globex", ClientStatus::kSuspended);
  const auto acme = MakeClient("acme");
  const auto idle = MakeClient("idle");  // no certificate: not an identity
  Create(globex);
  Create(acme);
  Create(idle);
  const auto g1 = MakeCert("globex", "aa", clock_.Now());
  const auto a2 = MakeCert("acme", "bb", clock_.Now() + hours(2));
  const auto a1 = MakeCert("acme", "cc", clock_.Now() + hours(1));
  Add(g1);
  Add(a2);
  Add(a1);

  auto listed = registry_->ListIdentities();
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 3u);
  ExpectSameClient(listed->at(0).client, acme);
  ExpectSameCert(listed->at(0).certificate, a1);
  ExpectSameClient(listed->at(1).client, acme);
  ExpectSameCert(listed->at(1).certificate, a2);
  ExpectSameClient(listed->at(2).client, globex);
  ExpectSameCert(listed->at(2).certificate, g1);
}

TEST_F(SqliteClientRegistryTest, SetClientStatusChangesWhatLookupsSee) {
  Create(MakeClient("acme"));
  Add(MakeCert("acme", "dd", clock_.Now()));
  for (auto status : {ClientStatus::kSuspended, ClientStatus::kRevoked, ClientStatus::kActive,
                      ClientStatus::kActive}) {
    auto set = registry_->SetClientStatus(MakeClientId("acme"), status);
    ASSERT_TRUE(set) << set.error().message;
    auto got = registry_->GetClient(MakeClientId("acme"));
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->status, status);
    auto found = registry_->FindByFingerprint("dd");
    ASSERT_TRUE(found && found->has_value());
    EXPECT_EQ((*found)->client.status, status);
  }
}

TEST_F(SqliteClientRegistryTest, SetStatusOfUnknownClientIsNotFound) {
  auto set = registry_->SetClientStatus(MakeClientId("nobody"), ClientStatus::kRevoked);
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().code, ErrorCode::kNotFound);
}

TEST_F(SqliteClientRegistryTest, RegistrySurvivesReopen) {
  Create(MakeClient("acme"));
  Add(MakeCert("acme", "ee", clock_.Now()));
  registry_.reset();
  db_ = OpenOrFail(OptionsFor(dir_.path() / "broker.db"), clock_);
  ASSERT_NE(db_, nullptr);
  auto found = db_->clients()->FindByFingerprint("ee");
  ASSERT_TRUE(found && found->has_value());
  EXPECT_EQ((*found)->client.id.str(), "acme");
}

}  // namespace
}  // namespace msgbroker::storage
