// The ApiKeyStore contract (schema version 4), run on every backend through the Database contract
// fixture (database_contract.hpp): SQLite, PostgreSQL and MySQL/MariaDB.

#include <gmock/gmock.h>

#include "database_contract.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage::testing {
namespace {

using std::chrono::hours;
using ::testing::ElementsAre;

class ApiKeyFixture {
 public:
  static Client MakeClient(std::string_view id, SystemTime at,
                           ClientStatus status = ClientStatus::kActive) {
    Client client;
    client.id = MakeClientId(id);
    client.domain = std::string(id) + ".example";
    client.status = status;
    client.created_at = at;
    return client;
  }
  static ApiKey MakeKey(std::string_view key_id, std::string_view client, SystemTime at) {
    ApiKey key;
    key.key_id = std::string(key_id);
    key.client_id = MakeClientId(client);
    key.secret_hash = std::string(64, 'a');
    key.label = "billing system";
    key.created_at = at;
    return key;
  }
};

std::vector<std::string> KeyIds(const std::vector<ApiKey>& keys) {
  std::vector<std::string> ids;
  for (const auto& k : keys) ids.push_back(k.key_id);
  return ids;
}

TEST_P(DatabaseContractTest, ApiKeyRoundTripsEveryField) {
  const auto now = clock_.Now();
  ASSERT_TRUE(registry_->CreateClient(ApiKeyFixture::MakeClient("acme", now)));
  auto keys = db_->api_keys();
  ApiKey key = ApiKeyFixture::MakeKey("0123456789abcdef", "acme", now);
  key.label = "Grüße; DROP TABLE api_keys; --";
  key.allowed_cidrs = {"192.0.2.0/24", "2001:db8::/32"};
  key.expires_at = now + hours(24);
  ASSERT_TRUE(keys->Create(key));

  auto got = keys->Get("0123456789abcdef");
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(got->has_value());
  const ApiKey& k = **got;
  EXPECT_EQ(k.key_id, key.key_id);
  EXPECT_EQ(k.client_id.str(), "acme");
  EXPECT_EQ(k.secret_hash, key.secret_hash);
  EXPECT_EQ(k.label, key.label);
  EXPECT_THAT(k.allowed_cidrs, ElementsAre("192.0.2.0/24", "2001:db8::/32"));
  EXPECT_EQ(k.created_at, now);
  EXPECT_EQ(k.expires_at, key.expires_at);
  EXPECT_FALSE(k.revoked_at);
  EXPECT_EQ(k.revoked_reason, "");
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM api_keys"), 1);

  auto missing = keys->Get("ffffffffffffffff");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_P(DatabaseContractTest, ApiKeyWithoutExpiryOrCidrsStaysEmpty) {
  const auto now = clock_.Now();
  ASSERT_TRUE(registry_->CreateClient(ApiKeyFixture::MakeClient("acme", now)));
  auto keys = db_->api_keys();
  ASSERT_TRUE(keys->Create(ApiKeyFixture::MakeKey("1111111111111111", "acme", now)));
  auto got = keys->Get("1111111111111111");
  ASSERT_TRUE(got && *got);
  EXPECT_FALSE((*got)->expires_at);
  EXPECT_TRUE((*got)->allowed_cidrs.empty());
}

TEST_P(DatabaseContractTest, ApiKeyCreateRefusesDuplicatesUnknownClientsAndBadInput) {
  const auto now = clock_.Now();
  ASSERT_TRUE(registry_->CreateClient(ApiKeyFixture::MakeClient("acme", now)));
  auto keys = db_->api_keys();
  ASSERT_TRUE(keys->Create(ApiKeyFixture::MakeKey("1111111111111111", "acme", now)));

  auto duplicate = keys->Create(ApiKeyFixture::MakeKey("1111111111111111", "acme", now));
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, ErrorCode::kAlreadyExists);

  auto orphan = keys->Create(ApiKeyFixture::MakeKey("2222222222222222", "nobody", now));
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(orphan.error().field, "client_id");

  auto no_id = keys->Create(ApiKeyFixture::MakeKey("", "acme", now));
  ASSERT_FALSE(no_id);
  EXPECT_EQ(no_id.error().code, ErrorCode::kInvalidRequest);
  ApiKey no_hash = ApiKeyFixture::MakeKey("3333333333333333", "acme", now);
  no_hash.secret_hash.clear();
  EXPECT_EQ(keys->Create(no_hash).error().code, ErrorCode::kInvalidRequest);
  ApiKey comma = ApiKeyFixture::MakeKey("4444444444444444", "acme", now);
  comma.allowed_cidrs = {"10.0.0.0/8,10.1.0.0/16"};
  EXPECT_EQ(keys->Create(comma).error().code, ErrorCode::kInvalidRequest);
  ApiKey revoked = ApiKeyFixture::MakeKey("5555555555555555", "acme", now);
  revoked.revoked_at = now;
  EXPECT_EQ(keys->Create(revoked).error().code, ErrorCode::kInvalidRequest);

  // Nothing but the first key was written.
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM api_keys"), 1);
}

TEST_P(DatabaseContractTest, ApiKeysListByClientInOrder) {
  const auto now = clock_.Now();
  ASSERT_TRUE(registry_->CreateClient(ApiKeyFixture::MakeClient("acme", now)));
  ASSERT_TRUE(registry_->CreateClient(ApiKeyFixture::MakeClient("beta", now)));
  auto keys = db_->api_keys();
  ASSERT_TRUE(keys->Create(ApiKeyFixture::MakeKey("b000000000000002", "beta", now)));
  ASSERT_TRUE(keys->Create(ApiKeyFixture::MakeKey("a000000000000002", "acme", now + hours(1))));
  ASSERT_TRUE(keys->Create(ApiKeyFixture::MakeKey("a000000000000001", "acme", now)));

  auto all = keys->List(std::nullopt);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_THAT(KeyIds(*all),
              ElementsAre("a000000000000001", "a000000000000002", "b000000000000002"));
  auto acme = keys->List(MakeClientId("acme"));
  ASSERT_TRUE(acme);
  EXPECT_THAT(KeyIds(*acme), ElementsAre("a000000000000001", "a000000000000002"));
  auto none = keys->List(MakeClientId("nobody"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(DatabaseContractTest, ApiKeyRevokeIsOnceAndLeavesTheActiveList) {
  const auto now = clock_.Now();
  ASSERT_TRUE(registry_->CreateClient(ApiKeyFixture::MakeClient("acme", now)));
  ASSERT_TRUE(
      registry_->CreateClient(ApiKeyFixture::MakeClient("sleepy", now, ClientStatus::kSuspended)));
  auto keys = db_->api_keys();
  ASSERT_TRUE(keys->Create(ApiKeyFixture::MakeKey("a000000000000001", "acme", now)));
  ASSERT_TRUE(keys->Create(ApiKeyFixture::MakeKey("a000000000000002", "acme", now)));
  ASSERT_TRUE(keys->Create(ApiKeyFixture::MakeKey("c000000000000001", "sleepy", now)));

  const auto later = now + hours(2);
  ASSERT_TRUE(keys->Revoke("a000000000000001", later, "leaked in a ticket"));
  auto revoked = keys->Get("a000000000000001");
  ASSERT_TRUE(revoked && *revoked);
  EXPECT_EQ((*revoked)->revoked_at, later);
  EXPECT_EQ((*revoked)->revoked_reason, "leaked in a ticket");

  auto again = keys->Revoke("a000000000000001", later + hours(1), "second time");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  auto unchanged = keys->Get("a000000000000001");
  ASSERT_TRUE(unchanged && *unchanged);
  EXPECT_EQ((*unchanged)->revoked_at, later);
  EXPECT_EQ((*unchanged)->revoked_reason, "leaked in a ticket");

  auto unknown = keys->Revoke("ffffffffffffffff", later, "");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

  // The active list: keys not revoked, each with its client as it is now (suspended included,
  // and its own rate limit, which the proxy applies to a key's requests).
  ASSERT_TRUE(registry_->SetClientRateLimit(MakeClientId("acme"), ClientRateLimit{7, 21}));
  auto active = keys->ListActive();
  ASSERT_TRUE(active) << active.error().message;
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[0].key.key_id, "a000000000000002");
  EXPECT_EQ((*active)[0].client.id.str(), "acme");
  EXPECT_EQ((*active)[0].client.status, ClientStatus::kActive);
  EXPECT_EQ((*active)[0].client.rate_limit, (ClientRateLimit{7, 21}));
  EXPECT_EQ((*active)[1].key.key_id, "c000000000000001");
  EXPECT_EQ((*active)[1].client.status, ClientStatus::kSuspended);
  EXPECT_EQ((*active)[1].client.domain, "sleepy.example");
  EXPECT_FALSE((*active)[1].client.rate_limit.has_value());

  // Revoked keys are still listed for the operator.
  auto all = keys->List(std::nullopt);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
}

}  // namespace
}  // namespace msgbroker::storage::testing
