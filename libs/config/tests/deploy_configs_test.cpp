// Every example under deploy/config/ must load, so the examples cannot rot.

#include <gtest/gtest.h>

#include <filesystem>

#include "msgbroker/config/loader.hpp"

namespace msgbroker::config {
namespace {

namespace fs = std::filesystem;

const fs::path kDeployDir = fs::path(MSGBROKER_SOURCE_DIR) / "deploy" / "config";

// What an operator's environment would hold; fixed so the test is hermetic.
Environment FakeEnv() {
  return MapEnvironment({{"MSGBROKER_BIND", "10.0.0.5"},
                         {"REDIS_HOST", "redis.internal"},
                         {"MAIN_SERVER_URL", "https://main.internal:8000"}});
}

template <typename C>
Result<C> Load(const fs::path& file) {
  return LoadConfig<C>(file, FakeEnv());
}

TEST(DeployConfigs, EveryExampleLoads) {
  std::size_t loaded = 0;
  for (const auto& entry : fs::directory_iterator(kDeployDir)) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string name = entry.path().stem().string();
    Status ok = Fail(ErrorCode::kInvalidRequest, "no loader for " + name);
    const auto check = [&](auto result) {
      ok = result ? Ok() : Status(tl::unexpected(result.error()));
    };
    if (name == "proxy") check(Load<ProxyConfig>(entry.path()));
    if (name == "main-server") check(Load<MainServerConfig>(entry.path()));
    if (name == "worker") check(Load<WorkerConfig>(entry.path()));
    if (name == "portal") check(Load<PortalConfig>(entry.path()));
    EXPECT_TRUE(ok) << entry.path() << ": " << ok.error().message;
    ++loaded;
  }
  EXPECT_EQ(loaded, 4u);
}

TEST(DeployConfigs, DescribeTheDistributedLayout) {
  auto proxy = Load<ProxyConfig>(kDeployDir / "proxy.yaml");
  ASSERT_TRUE(proxy) << proxy.error().message;
  EXPECT_EQ(proxy->queue.type, QueueType::kRedis);
  EXPECT_EQ(proxy->queue.redis.host, "redis.internal");
  EXPECT_EQ(proxy->listen.host, "10.0.0.5");
  auto worker = Load<WorkerConfig>(kDeployDir / "worker.yaml");
  ASSERT_TRUE(worker) << worker.error().message;
  EXPECT_EQ(worker->queue.type, QueueType::kRedis);
  EXPECT_EQ(worker->main_server_url, "https://main.internal:8000");
  auto main = Load<MainServerConfig>(kDeployDir / "main-server.yaml");
  ASSERT_TRUE(main) << main.error().message;
  EXPECT_FALSE(main->database.url_file.empty());
}

}  // namespace
}  // namespace msgbroker::config
