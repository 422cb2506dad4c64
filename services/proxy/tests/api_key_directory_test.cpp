// ApiKeyDirectory without a network: the checks in order, the snapshot refresh (revocation and
// suspension reach it), failing closed on unusable rows, and the CIDR parsing and matching.

#include "msgbroker/proxy/api_key_directory.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

namespace msgbroker::proxy {
namespace {

using std::chrono::hours;

ClientId Id(std::string_view id) { return *ClientId::Parse(id); }

class ApiKeyDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = crypto::GenerateApiKey();
    ASSERT_TRUE(key);
    key_ = *key;
    Add(key_, "acme");
    ASSERT_TRUE(directory_.Refresh());
  }

  void Add(const crypto::GeneratedApiKey& key, std::string_view client,
           std::vector<std::string> cidrs = {}, std::optional<SystemTime> expires = {}) {
    storage::ApiKeyIdentity identity;
    identity.key.key_id = key.key_id;
    identity.key.client_id = Id(client);
    identity.key.secret_hash = key.secret_hash;
    identity.key.allowed_cidrs = std::move(cidrs);
    identity.key.expires_at = expires;
    identity.client.id = Id(client);
    identity.client.domain = std::string(client) + ".example";
    rows_.push_back(std::move(identity));
  }

  Result<storage::ClientIdentity> Auth(std::string authorization,
                                       std::string remote = "192.0.2.10:40000") {
    net::HttpRequest request{net::http::verb::post, "/api/v1/messages", 11};
    if (!authorization.empty()) request.set(net::http::field::authorization, authorization);
    net::RequestContext context;
    context.remote_address = std::move(remote);
    auto result = directory_.Authenticate(request, context, now_);
    EXPECT_TRUE(result.has_value());
    return result ? *result : Fail(ErrorCode::kInternal, "no decision");
  }

  static void ExpectError(const Result<storage::ClientIdentity>& r, ErrorCode code) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
  }

  double Failures(const std::string& reason) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != "proxy_api_key_auth_failures_total") continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          if (label.name == "reason" && label.value == reason) return metric.counter.value;
        }
      }
    }
    return -1;
  }

  std::vector<storage::ApiKeyIdentity> rows_;
  bool source_fails_ = false;
  prometheus::Registry registry_;
  ApiKeyDirectory directory_{[this]() -> Result<std::vector<storage::ApiKeyIdentity>> {
                               if (source_fails_) {
                                 return Fail(ErrorCode::kDatabaseUnavailable, "down");
                               }
                               return rows_;
                             },
                             std::chrono::milliseconds(60'000), registry_};
  crypto::GeneratedApiKey key_;
  SystemTime now_ = SystemTime{} + hours(24 * 365 * 50);
};

TEST_F(ApiKeyDirectoryTest, ValidKeyIdentifiesItsClient) {
  auto identity = Auth("Bearer " + key_.key);
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->client.id.str(), "acme");
  // The scheme is case-insensitive, extra spaces are allowed.
  EXPECT_TRUE(Auth("bearer   " + key_.key + " "));
  EXPECT_TRUE(directory_.healthy());
  EXPECT_EQ(directory_.size(), 1u);
}

TEST_F(ApiKeyDirectoryTest, EveryKeyLevelFailureIsTheSame401) {
  std::string wrong = key_.key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  auto other = crypto::GenerateApiKey();
  ASSERT_TRUE(other);
  for (const std::string& header : std::vector<std::string>{
           "Bearer " + wrong, "Bearer " + other->key, "Basic " + key_.key, "Bearer", "Bearer ",
           "Bearer mbk_short", "Bearer " + key_.key + "x", std::string("Token ") + key_.key}) {
    auto r = Auth(header);
    ExpectError(r, ErrorCode::kUnknownClient);
    if (!r) {
      EXPECT_EQ(r.error().message, "the API key is not valid");
      EXPECT_EQ(r.error().message.find(key_.key), std::string::npos);
    }
  }
  EXPECT_EQ(Failures("wrong_secret"), 1);
  EXPECT_EQ(Failures("unknown_key"), 1);
  EXPECT_EQ(Failures("malformed"), 6);
}

TEST_F(ApiKeyDirectoryTest, MissingKeyWithoutCertificateIs401CertificateRequired) {
  ExpectError(Auth(""), ErrorCode::kClientCertificateRequired);
  EXPECT_EQ(Failures("missing"), 1);
}

TEST_F(ApiKeyDirectoryTest, CertificateAloneIsLeftToTheCertificateAndBothAreRefused) {
  net::HttpRequest request{net::http::verb::post, "/api/v1/messages", 11};
  net::RequestContext context;
  context.remote_address = "127.0.0.1:1";
  context.peer.emplace();
  EXPECT_FALSE(directory_.Authenticate(request, context, now_).has_value());
  request.set(net::http::field::authorization, "Bearer " + key_.key);
  auto both = directory_.Authenticate(request, context, now_);
  ASSERT_TRUE(both.has_value());
  ExpectError(*both, ErrorCode::kInvalidRequest);
  EXPECT_EQ(Failures("ambiguous"), 1);
}

TEST_F(ApiKeyDirectoryTest, ExpiredKeyIsRefusedFromItsExpiryOn) {
  auto key = crypto::GenerateApiKey();
  ASSERT_TRUE(key);
  Add(*key, "acme", {}, now_ + std::chrono::seconds(1));
  ASSERT_TRUE(directory_.Refresh());
  EXPECT_TRUE(Auth("Bearer " + key->key));
  now_ += std::chrono::seconds(1);
  ExpectError(Auth("Bearer " + key->key), ErrorCode::kUnknownClient);
  EXPECT_EQ(Failures("expired"), 1);
}

TEST_F(ApiKeyDirectoryTest, AllowListAdmitsOnlyItsNetworks) {
  auto key = crypto::GenerateApiKey();
  ASSERT_TRUE(key);
  Add(*key, "acme", {"192.0.2.0/24", "2001:db8::/32"});
  ASSERT_TRUE(directory_.Refresh());
  const std::string header = "Bearer " + key->key;
  EXPECT_TRUE(Auth(header, "192.0.2.200:5555"));
  EXPECT_TRUE(Auth(header, "[2001:db8:1::7]:5555"));
  EXPECT_TRUE(Auth(header, "[::ffff:192.0.2.9]:5555"));  // IPv4 on a dual-stack socket
  ExpectError(Auth(header, "192.0.3.1:5555"), ErrorCode::kUnknownClient);
  ExpectError(Auth(header, "[2001:db9::1]:5555"), ErrorCode::kUnknownClient);
  ExpectError(Auth(header, "garbage"), ErrorCode::kUnknownClient);
  EXPECT_EQ(Failures("address_not_allowed"), 3);
  // The key without a list is good from anywhere.
  EXPECT_TRUE(Auth("Bearer " + key_.key, "203.0.113.5:1"));
}

TEST_F(ApiKeyDirectoryTest, RefreshAppliesRevocationAndClientStatus) {
  rows_[0].client.status = storage::ClientStatus::kSuspended;
  ASSERT_TRUE(directory_.Refresh());
  ExpectError(Auth("Bearer " + key_.key), ErrorCode::kClientSuspended);
  rows_[0].client.status = storage::ClientStatus::kRevoked;
  ASSERT_TRUE(directory_.Refresh());
  ExpectError(Auth("Bearer " + key_.key), ErrorCode::kClientRevoked);
  rows_.clear();  // the key was revoked: ListActive no longer returns it
  ASSERT_TRUE(directory_.Refresh());
  ExpectError(Auth("Bearer " + key_.key), ErrorCode::kUnknownClient);
  EXPECT_EQ(directory_.size(), 0u);
}

TEST_F(ApiKeyDirectoryTest, FailedRefreshKeepsTheSnapshotAndReportsUnhealthy) {
  source_fails_ = true;
  EXPECT_FALSE(directory_.Refresh());
  EXPECT_FALSE(directory_.healthy());
  EXPECT_TRUE(Auth("Bearer " + key_.key));
}

TEST_F(ApiKeyDirectoryTest, UnusableRowsAdmitNobody) {
  auto bad_hash = crypto::GenerateApiKey();
  auto bad_cidr = crypto::GenerateApiKey();
  ASSERT_TRUE(bad_hash && bad_cidr);
  Add(*bad_hash, "acme");
  rows_.back().key.secret_hash = "not-hex";
  Add(*bad_cidr, "acme", {"10.0.0.0/99"});
  ASSERT_TRUE(directory_.Refresh());
  EXPECT_EQ(directory_.size(), 1u);
  ExpectError(Auth("Bearer " + bad_hash->key), ErrorCode::kUnknownClient);
  ExpectError(Auth("Bearer " + bad_cidr->key), ErrorCode::kUnknownClient);
}

TEST(IpNetworkTest, ParsesNetworksAndAddresses) {
  auto v4 = ParseIpNetwork("10.1.0.0/16");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->prefix, 112);
  EXPECT_TRUE(NetworkContains(*v4, *ParsePeerAddress("10.1.255.3:1")));
  EXPECT_FALSE(NetworkContains(*v4, *ParsePeerAddress("10.2.0.1:1")));
  auto host = ParseIpNetwork("127.0.0.1");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 128);
  EXPECT_TRUE(NetworkContains(*host, *ParsePeerAddress("127.0.0.1:80")));
  EXPECT_FALSE(NetworkContains(*host, *ParsePeerAddress("127.0.0.2:80")));
  auto any = ParseIpNetwork("0.0.0.0/0");
  ASSERT_TRUE(any);
  EXPECT_TRUE(NetworkContains(*any, *ParsePeerAddress("203.0.113.1:1")));
  EXPECT_FALSE(NetworkContains(*any, *ParsePeerAddress("[2001:db8::1]:1")));
  auto v6 = ParseIpNetwork("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(NetworkContains(*v6, *ParsePeerAddress("[2001:db8:ffff::1]:443")));
}

TEST(IpNetworkTest, RefusesWhatIsNotANetwork) {
  for (const char* bad :
       {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x", "2001:db8::/129",
        "example.com", "10.0.0.1/8", "10.0.0.0/08/1", "2001:db8::1/32"}) {
    auto r = ParseIpNetwork(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest) << bad;
    }
  }
  EXPECT_FALSE(ParsePeerAddress("[::1"));
  EXPECT_FALSE(ParsePeerAddress("nohost:1"));
}

}  // namespace
}  // namespace msgbroker::proxy
