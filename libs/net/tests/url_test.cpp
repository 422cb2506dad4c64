#include <gtest/gtest.h>

#include "msgbroker/net/https_client.hpp"

namespace msgbroker::net {
namespace {

TEST(ParseUrlTest, HttpsWithPortAndPath) {
  const auto endpoint = ParseUrl("https://proxy.example:8443/api/v1/messages");
  ASSERT_TRUE(endpoint) << endpoint.error().message;
  EXPECT_TRUE(endpoint->tls);
  EXPECT_EQ(endpoint->host, "proxy.example");
  EXPECT_EQ(endpoint->port, 8443);
}

TEST(ParseUrlTest, DefaultPorts) {
  auto endpoint = ParseUrl("https://127.0.0.1");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->port, 443);
  EXPECT_EQ(endpoint->host, "127.0.0.1");
  endpoint = ParseUrl("http://worker.local/metrics");
  ASSERT_TRUE(endpoint);
  EXPECT_FALSE(endpoint->tls);
  EXPECT_EQ(endpoint->port, 80);
  EXPECT_EQ(endpoint->host, "worker.local");
}

TEST(ParseUrlTest, Ipv6Literal) {
  const auto endpoint = ParseUrl("https://[::1]:9000/x");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->host, "::1");
  EXPECT_EQ(endpoint->port, 9000);
}

TEST(ParseUrlTest, RejectsBadSchemesHostsAndPorts) {
  for (const char* url :
       {"ftp://host:21", "host:443", "https://", "https://:443", "https://host:", "https://host:0",
        "https://host:65536", "https://host:12ab", "https://user@host:443", "https://[::1"}) {
    const auto endpoint = ParseUrl(url);
    ASSERT_FALSE(endpoint) << url;
    EXPECT_EQ(endpoint.error().code, ErrorCode::kInvalidRequest) << url;
    EXPECT_NE(endpoint.error().message.find(url), std::string::npos) << endpoint.error().message;
  }
}

}  // namespace
}  // namespace msgbroker::net
