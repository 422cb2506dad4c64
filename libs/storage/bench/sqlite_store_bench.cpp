// SqliteMessageStore throughput with the production settings (WAL, synchronous=FULL: every
// batch commit is durable).
//
//   BM_InsertBatch/N   one writer, N-row batches of new rows (what the main server does per
//                      delivery request); items_per_second is rows per second.
//   BM_InsertDuplicates/500   the same 500 rows again (a redelivered batch).
//   BM_List            page 1 of 50, filtered by client, over 20k rows.
//   BM_Get             lookups by id over 20k rows.

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "msgbroker/storage/sqlite_database.hpp"
#include "store_bench_rows.hpp"

namespace msgbroker::storage {
namespace {

using bench::MakeBatch;

namespace fs = std::filesystem;

class BenchDatabase {
 public:
  BenchDatabase() {
    std::string tmpl = (fs::temp_directory_path() / "msgbroker-storage-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    SqliteOptions options;
    options.path = dir_ / "broker.db";
    auto opened = SqliteDatabase::Open(options, SystemClock::Instance());
    if (!opened) std::abort();
    db_ = std::move(*opened);
    store_ = db_->messages();
  }
  ~BenchDatabase() {
    store_.reset();
    db_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  MessageStore& store() { return *store_; }

 private:
  fs::path dir_;
  std::shared_ptr<SqliteDatabase> db_;
  std::shared_ptr<MessageStore> store_;
};

void Fill(MessageStore& store, std::size_t rows) {
  for (std::size_t done = 0; done < rows; done += 500) {
    if (!store.InsertBatch(MakeBatch(500, done))) std::abort();
  }
}

void BM_InsertBatch(benchmark::State& state) {
  BenchDatabase bench;
  const auto size = static_cast<std::size_t>(state.range(0));
  std::size_t serial = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto batch = MakeBatch(size, serial++);
    state.ResumeTiming();
    if (!bench.store().InsertBatch(batch)) state.SkipWithError("insert failed");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_InsertBatch)->Arg(1)->Arg(100)->Arg(500)->UseRealTime();

void BM_InsertDuplicates(benchmark::State& state) {
  BenchDatabase bench;
  const auto batch = MakeBatch(static_cast<std::size_t>(state.range(0)), 0);
  if (!bench.store().InsertBatch(batch)) std::abort();
  for (auto _ : state) {
    if (!bench.store().InsertBatch(batch)) state.SkipWithError("insert failed");
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
    if (!page || page->items.size() != 50) state.SkipWithError("list failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_List)->UseRealTime();

void BM_Get(benchmark::State& state) {
  BenchDatabase bench;
  const auto batch = MakeBatch(500, 0);
  if (!bench.store().InsertBatch(batch)) std::abort();
  Fill(bench.store(), 19'500);
  std::size_t i = 0;
  for (auto _ : state) {
    auto got = bench.store().Get(batch[i++ % batch.size()].id);
    if (!got || !got->has_value()) state.SkipWithError("get failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Get)->UseRealTime();

}  // namespace
}  // namespace msgbroker::storage

BENCHMARK_MAIN();
