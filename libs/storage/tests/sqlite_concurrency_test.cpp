// Every store method may be called from several threads at once; the database outlives the
// SqliteDatabase object as long as a store holds it.

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "msgbroker/storage/sqlite_database.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage {
namespace {

namespace fs = std::filesystem;

using std::chrono::milliseconds;
using testing::MakeMessage;
using testing::OpenOrFail;
using testing::OptionsFor;
using testing::TempDir;

TEST(SqliteConcurrencyTest, ThreadsInsertAndReadAtOnce) {
  TempDir dir;
  FakeClock clock;
  auto db = OpenOrFail(OptionsFor(dir.path() / "broker.db"), clock);  // two readers
  ASSERT_NE(db, nullptr);
  auto store = db->messages();
  auto registry = db->clients();

  constexpr int kThreads = 4;
  constexpr int kBatches = 25;
  constexpr int kBatchSize = 20;
  std::atomic<int> failures{0};
  std::vector<std::vector<MessageId>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string client = "client-" + std::to_string(t);
      if (!registry->CreateClient(
              Client{testing::MakeClientId(client), "x.example", ClientStatus::kActive, {}})) {
        ++failures;
      }
      std::uint64_t last_total = 0;
      for (int b = 0; b < kBatches; ++b) {
        std::vector<StoredMessage> batch;
        for (int i = 0; i < kBatchSize; ++i) {
          batch.push_back(MakeMessage(clock.Now() + milliseconds(b * kBatchSize + i), client));
          ids[t].push_back(batch.back().id);
        }
        auto inserted = store->InsertBatch(batch);
        if (!inserted || *inserted != std::vector<bool>(kBatchSize, true)) ++failures;
        // This thread's rows are visible right after its commit; the total only grows.
        auto mine = store->List(MessageQuery{.client_id = testing::MakeClientId(client)});
        if (!mine || mine->total != static_cast<std::uint64_t>((b + 1) * kBatchSize)) ++failures;
        auto all = store->List(MessageQuery{.page_size = 10});
        if (!all || all->total < last_total) ++failures;
        if (all) last_total = all->total;
        auto got = store->Get(ids[t].front());
        if (!got || !got->has_value()) ++failures;
        if (!registry->ListIdentities() || !store->Ping()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  // Only the stores are left holding the database.
  db.reset();
  std::set<MessageId> listed;
  for (std::size_t page = 1;; ++page) {
    auto got = store->List(MessageQuery{.page = page, .page_size = 500});
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->total, static_cast<std::uint64_t>(kThreads * kBatches * kBatchSize));
    if (got->items.empty()) break;
    for (const auto& m : got->items) listed.insert(m.id);
  }
  for (const auto& per_thread : ids) {
    for (const auto& id : per_thread) EXPECT_TRUE(listed.contains(id));
  }
  EXPECT_EQ(listed.size(), static_cast<std::size_t>(kThreads * kBatches * kBatchSize));
  auto clients = registry->ListClients();
  ASSERT_TRUE(clients);
  EXPECT_EQ(clients->size(), static_cast<std::size_t>(kThreads));
}

}  // namespace
}  // namespace msgbroker::storage
