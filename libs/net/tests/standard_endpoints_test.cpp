#include "msgbroker/net/standard_endpoints.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "msgbroker/core/time_format.hpp"
#include "msgbroker/core/version.hpp"
#include "net_test_support.hpp"

namespace msgbroker::net {
namespace {

using testing::ServerTls;

class StandardEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Router router;
    AddStandardEndpoints(
        router, "proxy", status_,
        [this] {
          std::lock_guard lock(mutex_);
          return checks_;
        },
        registry_);
    HttpServerOptions options;
    options.service = "proxy";
    options.tls = ServerTls();
    server_ = std::make_unique<HttpServer>(options, std::move(router), *registry_);
    ASSERT_TRUE(server_->Start());
    client_ = std::make_unique<HttpsClient>(Endpoint{true, "127.0.0.1", server_->port()},
                                            testing::ClientTls(), std::chrono::seconds{5});
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop(std::chrono::milliseconds{0});
  }
  void SetChecks(std::map<std::string, HealthCheck> checks) {
    std::lock_guard lock(mutex_);
    checks_ = std::move(checks);
  }
  HttpResponse Get(const std::string& target) {
    auto response = client_->Get(target);
    EXPECT_TRUE(response) << response.error().message;
    return response ? *response : HttpResponse{};
  }

  std::shared_ptr<ServiceStatus> status_ = std::make_shared<ServiceStatus>();
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::mutex mutex_;
  std::map<std::string, HealthCheck> checks_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpsClient> client_;
};

TEST_F(StandardEndpointsTest, HealthReportsTheWorstCheck) {
  SetChecks({{"database", {HealthState::kHealthy, "ok"}}, {"queue", {HealthState::kHealthy, ""}}});
  auto response = Get("/health");
  EXPECT_EQ(response.result(), http::status::ok);
  auto body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["status"], "healthy");
  EXPECT_EQ(body["service"], "proxy");
  EXPECT_EQ(body["version"], std::string(Version()));
  EXPECT_TRUE(ParseTimestamp(body["timestamp"].get<std::string>()).has_value());
  EXPECT_GE(body["uptime_seconds"].get<std::int64_t>(), 0);
  EXPECT_EQ(body["checks"]["database"], (nlohmann::json{{"status", "healthy"}, {"detail", "ok"}}));

  SetChecks({{"database", {HealthState::kHealthy, "ok"}},
             {"queue", {HealthState::kDegraded, "backlog 10000"}}});
  response = Get("/health");
  EXPECT_EQ(response.result(), http::status::ok);
  body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["status"], "degraded");
  EXPECT_EQ(body["checks"]["queue"]["detail"], "backlog 10000");

  SetChecks({{"database", {HealthState::kUnhealthy, "disk I/O error"}},
             {"queue", {HealthState::kDegraded, ""}}});
  response = Get("/health");
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(nlohmann::json::parse(response.body())["status"], "unhealthy");
}

TEST_F(StandardEndpointsTest, HealthzIsAlwaysAlive) {
  const auto response = Get("/healthz");
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(nlohmann::json::parse(response.body()), (nlohmann::json{{"status", "alive"}}));
}

TEST_F(StandardEndpointsTest, ReadyzFollowsServiceStatus) {
  auto response = Get("/readyz");
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(nlohmann::json::parse(response.body())["status"], "not_ready");
  status_->ready = true;
  response = Get("/readyz");
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(nlohmann::json::parse(response.body())["status"], "ready");
  status_->dependencies_ready = false;  // e.g. the proxy's queue is down
  response = Get("/readyz");
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(nlohmann::json::parse(response.body())["reason"], "dependency unavailable");
  status_->dependencies_ready = true;
  EXPECT_EQ(Get("/readyz").result(), http::status::ok);
  status_->ready = false;
  response = Get("/readyz");
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(nlohmann::json::parse(response.body())["reason"], "starting or stopping");
}

TEST_F(StandardEndpointsTest, MetricsExposeRequestCounters) {
  ASSERT_EQ(Get("/healthz").result(), http::status::ok);
  const auto response = Get("/metrics");
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(response.body().find("# TYPE http_requests_total counter"), std::string::npos);
  EXPECT_NE(
      response.body().find(
          R"(http_requests_total{method="GET",route="/healthz",service="proxy",status="200"} 1)"),
      std::string::npos)
      << response.body();
  EXPECT_NE(response.body().find("http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(response.body().find("http_connections_active"), std::string::npos);
}

}  // namespace
}  // namespace msgbroker::net
