// The client lifecycle rules on a real SQLite registry and a real CA: what is stored, when, and
// that a refused or undeliverable request stores nothing.

#include "msgbroker/lifecycle/client_lifecycle.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "msgbroker/storage/sqlite_database.hpp"
#include "msgbroker/testing/temp_dir.hpp"

namespace msgbroker::lifecycle {
namespace {

using std::chrono::days;
using storage::CertificateStatus;
using storage::ClientStatus;

class ClientLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = pki::CertificateAuthority::Create({}, clock_);
    ASSERT_TRUE(ca) << ca.error().message;
    ca_.emplace(std::move(*ca));
    auto db = storage::SqliteDatabase::Open({.path = dir_ / "broker.db"}, clock_);
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    clients_ = db_->clients();
    certificates_ = db_->certificates();
  }

  static ClientId Id(std::string_view id) { return *ClientId::Parse(id); }

  // A deliver step that keeps what it was given, or fails when told to.
  Deliver Keep(std::vector<pki::IssuedCertificate>& out, bool fail = false) {
    return [&out, fail](const pki::IssuedCertificate& issued) -> Status {
      if (fail) return Fail(ErrorCode::kInternal, "disk full");
      out.push_back(issued);
      return Ok();
    };
  }

  pki::IssuedCertificate Issue(std::string_view id) {
    std::vector<pki::IssuedCertificate> delivered;
    auto issued = IssueClient(*clients_, *ca_, {Id(id), "acme.example", days{30}, {}},
                              Keep(delivered), clock_.Now());
    EXPECT_TRUE(issued) << issued.error().message;
    return *issued;
  }

  std::vector<storage::ClientCertificate> Certificates(std::string_view id) {
    auto list = clients_->ListCertificates(Id(id));
    EXPECT_TRUE(list);
    return *list;
  }

  // A PEM PKCS#10 request made by openssl(1), as a client would make it.
  std::string Csr() {
    const auto key = dir_ / "csr.key", csr = dir_ / "csr.pem";
    const std::string command =
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -subj /CN=whatever -keyout " +
        key.string() + " -out " + csr.string() + " 2>/dev/null";
    EXPECT_EQ(std::system(command.c_str()), 0);
    std::ifstream in(csr);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  testing::TempDir dir_;
  // Whole seconds: certificates and the registry keep no finer times.
  FakeClock clock_{std::chrono::floor<std::chrono::seconds>(SystemClock::Instance().Now())};
  std::optional<pki::CertificateAuthority> ca_;
  std::shared_ptr<storage::SqliteDatabase> db_;
  std::shared_ptr<storage::ClientRegistry> clients_;
  std::shared_ptr<storage::CertificateStore> certificates_;
};

TEST_F(ClientLifecycleTest, IssueDeliversThenRegistersClientAndCertificate) {
  std::vector<pki::IssuedCertificate> delivered;
  auto issued = IssueClient(*clients_, *ca_, {Id("acme"), "acme.example", days{30}, {}},
                            Keep(delivered), clock_.Now());
  ASSERT_TRUE(issued) << issued.error().message;
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].info.fingerprint_sha256, issued->info.fingerprint_sha256);
  EXPECT_FALSE(issued->private_key_pem.empty());
  auto client = clients_->GetClient(Id("acme"));
  ASSERT_TRUE(client && *client);
  EXPECT_EQ((*client)->domain, "acme.example");
  EXPECT_EQ((*client)->status, ClientStatus::kActive);
  auto certs = Certificates("acme");
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(certs[0].fingerprint_sha256, issued->info.fingerprint_sha256);
  EXPECT_EQ(certs[0].not_after, issued->info.not_after);
  EXPECT_EQ(issued->info.not_after, clock_.Now() + days{30});
}

TEST_F(ClientLifecycleTest, IssueFromCsrKeepsNoKey) {
  std::vector<pki::IssuedCertificate> delivered;
  auto issued = IssueClient(*clients_, *ca_, {Id("acme"), "acme.example", days{30}, Csr()},
                            Keep(delivered), clock_.Now());
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_TRUE(issued->private_key_pem.empty());
  EXPECT_EQ(Certificates("acme").size(), 1u);
}

TEST_F(ClientLifecycleTest, RefusedOrUndeliveredIssueStoresNothing) {
  Issue("taken");
  struct Case {
    IssueRequest request;
    ErrorCode code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{Id("taken"), "acme.example", days{30}, {}}, ErrorCode::kAlreadyExists, "client_id"},
      {{Id("x"), "", days{30}, {}}, ErrorCode::kInvalidRequest, "domain"},
      {{Id("x"), std::string(65, 'a'), days{30}, {}}, ErrorCode::kInvalidRequest, "domain"},
      {{Id("x"), "acme.example", days{0}, {}}, ErrorCode::kInvalidRequest, "days"},
      {{Id("x"), "acme.example", days{3651}, {}}, ErrorCode::kInvalidRequest, "days"},
      {{Id("x"), "acme.example", days{30}, "not a csr"}, ErrorCode::kInvalidRequest, "csr"},
  };
  for (const auto& c : cases) {
    std::vector<pki::IssuedCertificate> delivered;
    auto issued = IssueClient(*clients_, *ca_, c.request, Keep(delivered), clock_.Now());
    ASSERT_FALSE(issued) << c.request.client_id.str();
    EXPECT_EQ(issued.error().code, c.code) << issued.error().message;
    EXPECT_EQ(issued.error().field, c.field) << issued.error().message;
    EXPECT_TRUE(delivered.empty());
  }
  std::vector<pki::IssuedCertificate> none;
  auto undelivered = IssueClient(*clients_, *ca_, {Id("x"), "acme.example", days{30}, {}},
                                 Keep(none, true), clock_.Now());
  ASSERT_FALSE(undelivered);
  EXPECT_EQ(undelivered.error().message, "disk full");
  auto listed = clients_->ListClients();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 1u);  // only "taken"
}

TEST_F(ClientLifecycleTest, RenewSchedulesTheOldCertificatesForTheEndOfTheOverlap) {
  const auto first = Issue("acme");
  std::vector<pki::IssuedCertificate> delivered;
  auto renewal = RenewClient(*clients_, *certificates_, *ca_, {Id("acme"), days{60}, days{7}, {}},
                             Keep(delivered), clock_.Now());
  ASSERT_TRUE(renewal) << renewal.error().message;
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(renewal->superseded, std::vector<std::string>{first.info.fingerprint_sha256});
  EXPECT_EQ(renewal->superseded_revoked_at, clock_.Now() + days{7});
  const auto details = RenewalDetails(*renewal, days{7});
  EXPECT_EQ(details["overlap_days"], 7);
  EXPECT_EQ(details["key"], "generated");
  EXPECT_EQ(details["fingerprint_sha256"], renewal->issued.info.fingerprint_sha256);
  EXPECT_EQ(Certificates("acme").size(), 2u);
  auto old = certificates_->FindByFingerprint(first.info.fingerprint_sha256);
  ASSERT_TRUE(old && *old);
  EXPECT_EQ((*old)->status, CertificateStatus::kActive);  // valid during the overlap
  ASSERT_TRUE((*old)->revoke_after);
  EXPECT_EQ(*(*old)->revoke_after, clock_.Now() + days{7});

  // A later renewal with a longer overlap does not extend the first one's.
  auto again = RenewClient(*clients_, *certificates_, *ca_, {Id("acme"), days{60}, days{30}, {}},
                           Keep(delivered), clock_.Now());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->superseded, std::vector<std::string>{renewal->issued.info.fingerprint_sha256});
  old = certificates_->FindByFingerprint(first.info.fingerprint_sha256);
  EXPECT_EQ(*(*old)->revoke_after, clock_.Now() + days{7});

  clock_.Advance(days{8});
  auto due = certificates_->RevokeDue(clock_.Now());
  ASSERT_TRUE(due);
  EXPECT_EQ(*due, 1u);
  old = certificates_->FindByFingerprint(first.info.fingerprint_sha256);
  EXPECT_EQ((*old)->status, CertificateStatus::kRevoked);
  EXPECT_EQ((*old)->revocation_reason, "superseded");
}

TEST_F(ClientLifecycleTest, RenewWithoutOverlapRevokesAtOnce) {
  const auto first = Issue("acme");
  std::vector<pki::IssuedCertificate> delivered;
  auto renewal = RenewClient(*clients_, *certificates_, *ca_,
                             {Id("acme"), days{60}, days{0}, Csr()}, Keep(delivered), clock_.Now());
  ASSERT_TRUE(renewal) << renewal.error().message;
  EXPECT_TRUE(renewal->issued.private_key_pem.empty());
  EXPECT_EQ(RenewalDetails(*renewal, days{0})["key"], "csr");
  auto old = certificates_->FindByFingerprint(first.info.fingerprint_sha256);
  ASSERT_TRUE(old && *old);
  EXPECT_EQ((*old)->status, CertificateStatus::kRevoked);
  EXPECT_EQ((*old)->revocation_reason, "superseded");
}

TEST_F(ClientLifecycleTest, RefusedOrUndeliveredRenewalChangesNothing) {
  const auto first = Issue("acme");
  Issue("gone");
  ASSERT_TRUE(ChangeClientStatus(*clients_, Id("gone"), ClientStatus::kRevoked));
  struct Case {
    RenewRequest request;
    ErrorCode code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{Id("nobody"), days{30}, days{7}, {}}, ErrorCode::kNotFound, ""},
      {{Id("gone"), days{30}, days{7}, {}}, ErrorCode::kInvalidRequest, ""},
      {{Id("acme"), days{0}, days{7}, {}}, ErrorCode::kInvalidRequest, "days"},
      {{Id("acme"), days{30}, days{-1}, {}}, ErrorCode::kInvalidRequest, "overlap_days"},
      {{Id("acme"), days{30}, days{366}, {}}, ErrorCode::kInvalidRequest, "overlap_days"},
      {{Id("acme"), days{30}, days{7}, "-----BEGIN CERTIFICATE REQUEST-----"},
       ErrorCode::kInvalidRequest,
       "csr"},
  };
  for (const auto& c : cases) {
    std::vector<pki::IssuedCertificate> delivered;
    auto renewal =
        RenewClient(*clients_, *certificates_, *ca_, c.request, Keep(delivered), clock_.Now());
    ASSERT_FALSE(renewal) << c.request.client_id.str();
    EXPECT_EQ(renewal.error().code, c.code) << renewal.error().message;
    EXPECT_EQ(renewal.error().field, c.field) << renewal.error().message;
    EXPECT_TRUE(delivered.empty());
  }
  std::vector<pki::IssuedCertificate> none;
  EXPECT_FALSE(RenewClient(*clients_, *certificates_, *ca_, {Id("acme"), days{30}, days{0}, {}},
                           Keep(none, true), clock_.Now()));
  ASSERT_EQ(Certificates("acme").size(), 1u);
  auto old = certificates_->FindByFingerprint(first.info.fingerprint_sha256);
  EXPECT_EQ((*old)->status, CertificateStatus::kActive);
  EXPECT_FALSE((*old)->revoke_after);
}

TEST_F(ClientLifecycleTest, SuspendResumeAndRevokeIsFinal) {
  Issue("acme");
  auto suspended = ChangeClientStatus(*clients_, Id("acme"), ClientStatus::kSuspended);
  ASSERT_TRUE(suspended);
  EXPECT_TRUE(suspended->changed());
  EXPECT_EQ(StatusChangeDetails(*suspended),
            (nlohmann::json{{"from", "active"}, {"to", "suspended"}}));
  auto again = ChangeClientStatus(*clients_, Id("acme"), ClientStatus::kSuspended);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->changed());
  auto resumed = ChangeClientStatus(*clients_, Id("acme"), ClientStatus::kActive);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->from, ClientStatus::kSuspended);
  EXPECT_EQ((*clients_->GetClient(Id("acme")))->status, ClientStatus::kActive);
  ASSERT_TRUE(ChangeClientStatus(*clients_, Id("acme"), ClientStatus::kRevoked));
  auto back = ChangeClientStatus(*clients_, Id("acme"), ClientStatus::kActive);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ((*clients_->GetClient(Id("acme")))->status, ClientStatus::kRevoked);
  auto missing = ChangeClientStatus(*clients_, Id("nobody"), ClientStatus::kSuspended);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(ClientLifecycleTest, ServiceCertificatesAreDeliveredThenRecorded) {
  std::vector<pki::IssuedCertificate> delivered;
  auto issued = IssueService(
      *certificates_, *ca_,
      {pki::ServiceRole::kWorker, {"worker-1.internal", "localhost"}, {"10.0.0.7"}, days{90}},
      Keep(delivered), clock_.Now());
  ASSERT_TRUE(issued) << issued.error().message;
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(issued->info.role, pki::ServiceRole::kWorker);
  auto record = certificates_->FindByFingerprint(issued->info.fingerprint_sha256);
  ASSERT_TRUE(record && *record);
  EXPECT_EQ((*record)->kind, storage::CertificateKind::kService);
  EXPECT_EQ((*record)->owner, "worker");
  EXPECT_EQ((*record)->domain, "worker-1.internal,localhost");
  EXPECT_EQ((*record)->not_after, clock_.Now() + days{90});

  struct Case {
    ServiceIssueRequest request;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{pki::ServiceRole::kProxy, {"not a name"}, {}, days{90}}, "dns_names"},
      {{pki::ServiceRole::kProxy, {}, {"300.1.1.1"}, days{90}}, "ip_addresses"},
      {{pki::ServiceRole::kProxy, {}, {}, days{90}}, "dns_names"},
      {{pki::ServiceRole::kProxy, {"localhost"}, {}, days{0}}, "days"},
  };
  for (const auto& c : cases) {
    std::vector<pki::IssuedCertificate> none;
    auto refused = IssueService(*certificates_, *ca_, c.request, Keep(none), clock_.Now());
    ASSERT_FALSE(refused) << c.field;
    EXPECT_EQ(refused.error().field, c.field) << refused.error().message;
    EXPECT_TRUE(none.empty());
  }
  std::vector<pki::IssuedCertificate> none;
  EXPECT_FALSE(IssueService(*certificates_, *ca_, {}, Keep(none, true), clock_.Now()));
  auto listed = certificates_->List({.kind = storage::CertificateKind::kService});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->total, 1u);  // only the first one
}

}  // namespace
}  // namespace msgbroker::lifecycle
