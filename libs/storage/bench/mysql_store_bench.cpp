// The MySQL/MariaDB message store against the test server (tests/servers/mariadb.sh: InnoDB with
// innodb_flush_log_at_trx_commit=1, so every batch commit is durable), each benchmark in a
// database of its own (t_bench_<random>), dropped afterwards.
//
//   BM_InsertBatch/N          one writer, N-row batches of new rows (what the main server does
//                             per delivery request); items_per_second is rows per second.
//   BM_InsertBatchThreads/N   the same from 4 threads sharing one Database (pool of 8).
//   BM_InsertDuplicates/500   the same 500 rows again (a redelivered batch).
//   BM_List                   page 1 of 50 with its total, filtered by client, over 20k rows.
//   BM_Get                    lookups by id over 20k rows.
//
// Without the server's settings (MSGBROKER_TEST_SERVERS) the benchmark fails.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "msgbroker/storage/database.hpp"
#include "msgbroker/testing/test_servers.hpp"
#include "mysql_connection.hpp"
#include "mysql_database.hpp"
#include "store_bench_rows.hpp"

namespace msgbroker::storage {
namespace {

using bench::MakeBatch;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "mysql_store_bench: %s\n", message.c_str());
  std::abort();
}

std::string RandomSuffix() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::string out;
  for (int i = 0; i < 12; ++i) out += kHex[device() % 16];
  return out;
}

class BenchDatabase {
 public:
  BenchDatabase() {
    auto base = msgbroker::testing::TestServerSetting("mariadb", "DATABASE_URL");
    if (!base) Die(base.error().message);
    auto parsed = ParseDatabaseUrl(*base);
    if (!parsed) Die(parsed.error().message);
    auto connect = sql::MysqlConnectOptionsFromUrl(*parsed, DatabaseOptions{});
    if (!connect) Die(connect.error().message);
    auto admin = sql::MysqlConnection::Connect(*connect);
    if (!admin) Die(admin.error().message);
    admin_ = std::move(*admin);
    name_ = "t_bench_" + RandomSuffix();
    if (auto created = admin_->ExecuteScript("CREATE DATABASE " + name_); !created) {
      Die(created.error().message);
    }
    DatabaseOptions options;
    options.url = base->substr(0, base->rfind('/') + 1) + name_;
    options.pool_size = 8;
    auto opened = OpenDatabase(options, SystemClock::Instance());
    if (!opened) Die(opened.error().message);
    db_ = std::move(*opened);
    store_ = db_->messages();
  }
  ~BenchDatabase() {
    store_.reset();
    db_.reset();
    (void)admin_->ExecuteScript("DROP DATABASE IF EXISTS " + name_);
  }
  MessageStore& store() { return *store_; }

 private:
  std::unique_ptr<sql::MysqlConnection> admin_;
  std::string name_;
  std::shared_ptr<Database> db_;
  std::shared_ptr<MessageStore> store_;
};

std::vector<MessageId> Fill(MessageStore& store, std::size_t rows) {
  std::vector<MessageId> ids;
  for (std::size_t done = 0; done < rows; done += 500) {
    auto batch = MakeBatch(500, done);
    if (!store.InsertBatch(batch)) Die("fill failed");
    for (const auto& m : batch) ids.push_back(m.id);
  }
  return ids;
}

void BM_InsertBatch(benchmark::State& state) {
  BenchDatabase bench;
  const auto size = static_cast<std::size_t>(state.range(0));
  std::size_t serial = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto batch = MakeBatch(size, serial++);
    state.ResumeTiming();
    if (auto inserted = bench.store().InsertBatch(batch); !inserted) {
      state.SkipWithError(inserted.error().message.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_InsertBatch)->Arg(1)->Arg(100)->Arg(500)->UseRealTime();

std::unique_ptr<BenchDatabase> shared_bench;

void BM_InsertBatchThreads(benchmark::State& state) {
  if (state.thread_index() == 0) shared_bench = std::make_unique<BenchDatabase>();
  const auto size = static_cast<std::size_t>(state.range(0));
  std::size_t serial = static_cast<std::size_t>(state.thread_index()) * 1'000'000;
  for (auto _ : state) {
    auto batch = MakeBatch(size, serial++);
    if (auto inserted = shared_bench->store().InsertBatch(batch); !inserted) {
      state.SkipWithError(inserted.error().message.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  if (state.thread_index() == 0) shared_bench.reset();
}
BENCHMARK(BM_InsertBatchThreads)->Arg(100)->Arg(500)->Threads(4)->UseRealTime();

void BM_InsertDuplicates(benchmark::State& state) {
  BenchDatabase bench;
  const auto batch = MakeBatch(static_cast<std::size_t>(state.range(0)), 0);
  if (!bench.store().InsertBatch(batch)) Die("insert failed");
  for (auto _ : state) {
    if (auto inserted = bench.store().InsertBatch(batch); !inserted) {
      state.SkipWithError(inserted.error().message.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_InsertDuplicates)->Arg(500)->UseRealTime();

void BM_List(benchmark::State& state) {
  BenchDatabase bench;
  Fill(bench.store(), 20'000);
  MessageQuery query;
  query.client_id = *ClientId::Parse("globex");
  for (auto _ : state) {
    auto page = bench.store().List(query);
    if (!page || page->items.size() != 50) {
      state.SkipWithError("list failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_List)->UseRealTime();

void BM_Get(benchmark::State& state) {
  BenchDatabase bench;
  const auto ids = Fill(bench.store(), 20'000);
  std::size_t next = 0;
  for (auto _ : state) {
    auto got = bench.store().Get(ids[next++ % ids.size()]);
    if (!got || !*got) {
      state.SkipWithError("get failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Get)->UseRealTime();

}  // namespace
}  // namespace msgbroker::storage

BENCHMARK_MAIN();
