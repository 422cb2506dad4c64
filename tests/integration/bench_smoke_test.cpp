// `msgbroker bench` against a real `msgbroker up`: a short run must accept and deliver everything.
// (A smoke run that keeps the benchmark working; figures come from docs/PERFORMANCE.md runs.)

#include <signal.h>

#include <nlohmann/json.hpp>

#include "up_process.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

TEST(BenchSmokeTest, ShortRunAcceptsAndDeliversEverything) {
  TempDir tmp;
  const auto data = (tmp.path() / "data").string();
  UpProcess up(data);
  ASSERT_TRUE(up.WaitUntilUp()) << up.output();
  for (const char* rate : {"0", "200"}) {
    auto [rc, out] =
        RunShell(MsgbrokerBinary() + " bench --json --data-dir " + data +
                 " --url https://127.0.0.1:" + std::to_string(up.ports.proxy) +
                 " --main-server-url https://127.0.0.1:" + std::to_string(up.ports.main_server) +
                 " --connections 4 --duration 1 --rate " + rate);
    ASSERT_EQ(rc, 0) << out;
    auto result = nlohmann::json::parse(out.substr(out.rfind('{')));
    EXPECT_GT(result["accepted"].get<int>(), 0) << out;
    EXPECT_EQ(result["failed"], 0);
    EXPECT_TRUE(result["all_delivered"].get<bool>()) << out;
    EXPECT_GT(result["p99_ms"].get<double>(), 0.0);
  }
  up.process().Signal(SIGTERM);
  EXPECT_EQ(up.process().Wait(30s), 0);
}

}  // namespace
}  // namespace msgbroker::testing
