// No loss, no duplicates: SIGKILL `msgbroker up` while clients are sending, restart it, and
// prove that every message that was answered 202 is stored exactly once.

#include <signal.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "msgbroker/net/https_client.hpp"
#include "stored_messages.hpp"
#include "up_process.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

struct Layout {
  std::filesystem::path data;
  net::TlsClientConfig Demo() const {
    return {data / "pki" / "ca.crt", data / "clients" / "demo" / "client.crt",
            data / "clients" / "demo" / "client.key"};
  }
  net::TlsClientConfig Admin() const {
    return {data / "pki" / "ca.crt", data / "pki" / "admin.crt", data / "pki" / "admin.key"};
  }
};

TEST(CrashTest, EveryAcceptedMessageSurvivesSigkillExactlyOnce) {
  TempDir tmp;
  const Layout layout{tmp.path() / "data"};
  std::set<std::string> accepted;
  std::mutex mutex;

  for (int round = 0; round < 2; ++round) {
    UpProcess up(layout.data);
    ASSERT_TRUE(up.WaitUntilUp()) << up.output();
    std::atomic<bool> stop{false};
    std::atomic<int> accepted_this_round{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; ++t) {
      senders.emplace_back([&, t] {
        net::HttpsClient client({true, "127.0.0.1", static_cast<std::uint16_t>(up.ports.proxy)},
                                layout.Demo(), 5s);
        for (int i = 0; i < 100'000 && !stop.load(); ++i) {
          auto r = client.PostJson(
              "/api/v1/messages",
              nlohmann::json{{"sender_number", "+4915112345678"},
                             {"message_body", "round " + std::to_string(round) + " sender " +
                                                  std::to_string(t) + " #" + std::to_string(i)}}
                  .dump());
          if (!r) return;  // the process is gone
          if (r->result_int() == 202) {
            std::lock_guard lock(mutex);
            accepted.insert(nlohmann::json::parse(r->body())["message_id"].get<std::string>());
            ++accepted_this_round;
          }
        }
      });
    }
    // Kill while messages are flowing: some are stored, some queued, some in flight.
    ASSERT_TRUE(WaitFor([&] { return accepted_this_round.load() >= 400; }, 60s));
    up.process().Signal(SIGKILL);
    up.process().Wait(10s);
    stop = true;
    for (auto& s : senders) s.join();
  }

  UpProcess up(layout.data);
  ASSERT_TRUE(up.WaitUntilUp()) << up.output();
  net::HttpsClient admin({true, "127.0.0.1", static_cast<std::uint16_t>(up.ports.main_server)},
                         layout.Admin(), 30s);
  std::multiset<std::string> stored;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto now = ReadStored(admin);
        if (!now) return false;
        EXPECT_TRUE(now->not_delivered.empty());
        stored = std::move(now->ids);
        return std::includes(stored.begin(), stored.end(), accepted.begin(), accepted.end());
      },
      60s, 250ms))
      << "accepted " << accepted.size() << ", stored " << stored.size();
  std::set<std::string> unique(stored.begin(), stored.end());
  EXPECT_EQ(unique.size(), stored.size()) << "a message was stored twice";
  // Messages whose 202 was lost in the kill may be stored too; never fewer than accepted.
  EXPECT_GE(stored.size(), accepted.size());
  std::cout << "accepted " << accepted.size() << " across two SIGKILLs; stored " << stored.size()
            << " exactly once each" << std::endl;
}

}  // namespace
}  // namespace msgbroker::testing
