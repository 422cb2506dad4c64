// The PostgreSQL store's throughput against the test server (tests/servers/postgres.sh: fsync
// on, synchronous_commit on, so every batch commit is durable), in a schema of its own.
//
//   BM_InsertBatch/N           one writer, N-row batches of new rows (one multi-row INSERT ...
//                              ON CONFLICT DO NOTHING RETURNING id per batch); rows per second.
//   BM_InsertBatch/N/threads:4 four writers on the pool at once.
//   BM_InsertDuplicates/500    the same 500 rows again (a redelivered batch).
//   BM_List                    page 1 of 50, filtered by client, over 20k rows.
//   BM_Get                     lookups by id.
//
// Without the fixture's settings (run it through CTest) it fails rather than skips.

#include <benchmark/benchmark.h>
#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "msgbroker/storage/database.hpp"
#include "msgbroker/testing/test_servers.hpp"
#include "store_bench_rows.hpp"

namespace msgbroker::storage {
namespace {

using bench::MakeBatch;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "pg_store_bench: %s\n", message.c_str());
  std::exit(1);
}

void AdminExec(const std::string& url, const std::string& sql) {
  PGconn* admin = PQconnectdb(url.c_str());
  if (PQstatus(admin) != CONNECTION_OK) Die(std::string("admin: ") + PQerrorMessage(admin));
  PQsetNoticeProcessor(
      admin, [](void*, const char*) {}, nullptr);
  PGresult* result = PQexec(admin, sql.c_str());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  const std::string error = PQresultErrorMessage(result);
  PQclear(result);
  PQfinish(admin);
  if (!ok) Die(sql + ": " + error);
}

// A schema of its own, dropped at the end.
class BenchDatabase {
 public:
  BenchDatabase() {
    auto url = msgbroker::testing::TestServerSetting("postgres", "DATABASE_URL");
    if (!url) Die(url.error().message);
    base_url_ = *url;
    std::random_device rd;
    schema_ = "bench_" + std::to_string(rd()) + std::to_string(rd());
    AdminExec(base_url_, "CREATE SCHEMA " + schema_);
    DatabaseOptions options;
    options.url = base_url_ + "?options=-c%20search_path%3D" + schema_;
    options.pool_size = 8;
    auto opened = OpenDatabase(options, SystemClock::Instance());
    if (!opened) Die(opened.error().message);
    db_ = std::move(*opened);
    store_ = db_->messages();
  }
  ~BenchDatabase() {
    store_.reset();
    db_.reset();
    AdminExec(base_url_, "DROP SCHEMA " + schema_ + " CASCADE");
  }
  MessageStore& store() { return *store_; }

 private:
  std::string base_url_;
  std::string schema_;
  std::shared_ptr<Database> db_;
  std::shared_ptr<MessageStore> store_;
};

void Fill(MessageStore& store, std::size_t rows) {
  for (std::size_t done = 0; done < rows; done += 500) {
    if (!store.InsertBatch(MakeBatch(500, done))) Die("fill failed");
  }
}

// Shared by the threads of a multi-threaded run; created by thread 0.
std::unique_ptr<BenchDatabase> g_shared;

void BM_InsertBatch(benchmark::State& state) {
  if (state.thread_index() == 0) g_shared = std::make_unique<BenchDatabase>();
  // Google Benchmark starts every thread's loop together, after thread 0's set-up above.
  const auto size = static_cast<std::size_t>(state.range(0));
  std::size_t serial = static_cast<std::size_t>(state.thread_index()) * 1'000'000;
  for (auto _ : state) {
    state.PauseTiming();
    auto batch = MakeBatch(size, serial++);
    state.ResumeTiming();
    auto inserted = g_shared->store().InsertBatch(batch);
    if (!inserted) state.SkipWithError(inserted.error().message.c_str());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  if (state.thread_index() == 0) g_shared.reset();
}
BENCHMARK(BM_InsertBatch)->Arg(1)->Arg(100)->Arg(500)->UseRealTime();
BENCHMARK(BM_InsertBatch)->Arg(100)->Arg(500)->Threads(4)->UseRealTime();

void BM_InsertDuplicates(benchmark::State& state) {
  BenchDatabase bench;
  const auto batch = MakeBatch(static_cast<std::size_t>(state.range(0)), 0);
  if (!bench.store().InsertBatch(batch)) Die("insert failed");
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
  if (!bench.store().InsertBatch(batch)) Die("insert failed");
  Fill(bench.store(), 4'500);
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
