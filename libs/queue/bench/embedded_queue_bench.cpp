// EmbeddedQueue throughput, fsync on (what `msgbroker up` runs with).
//
//   BM_EnqueueDurable/threads:N   N producers, each enqueues one message and waits for its
//                                 callback (a proxy request waiting for its 202): group commit
//                                 lets concurrent producers share an fdatasync.
//   BM_EnqueueBatch               one producer, 100 messages per call.
//   BM_ClaimAck                   one worker: Claim 100, Ack them (one durable ACK record).
//
// Counters: items_per_second, and msgs_per_fsync (how many enqueues shared one fdatasync).

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "msgbroker/queue/embedded_queue.hpp"

namespace msgbroker::queue {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kPayloadBytes = 512;  // about an encrypted 1000-character message

class BenchQueue {
 public:
  BenchQueue() {
    std::string tmpl = (fs::temp_directory_path() / "msgbroker-queue-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    EmbeddedQueueOptions options;
    options.directory = dir_;
    options.fsync = true;
    options.max_messages = 100'000'000;
    auto opened = EmbeddedQueue::Open(options, SystemClock::Instance());
    if (!opened) std::abort();
    queue_ = std::move(*opened);
  }
  ~BenchQueue() {
    queue_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  EmbeddedQueue& queue() { return *queue_; }

 private:
  fs::path dir_;
  std::unique_ptr<EmbeddedQueue> queue_;
};

BenchQueue* g_bench = nullptr;
std::atomic<std::uint64_t> g_enqueued{0};

void EnqueueAndWait(EmbeddedQueue& q, std::vector<NewMessage> messages, benchmark::State& state) {
  std::promise<Status> done;
  auto result = done.get_future();
  q.EnqueueAsync(std::move(messages), [&done](Status s) { done.set_value(std::move(s)); });
  if (!result.get()) state.SkipWithError("enqueue failed");
}

void BM_EnqueueDurable(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_bench = new BenchQueue();
    g_enqueued = 0;
  }
  const std::string payload(kPayloadBytes, 'x');
  for (auto _ : state) {
    EnqueueAndWait(g_bench->queue(),
                   {NewMessage{MessageId::Generate(std::chrono::system_clock::now()), payload}},
                   state);
    g_enqueued.fetch_add(1, std::memory_order_relaxed);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const auto syncs = g_bench->queue().sync_count();
    state.counters["msgs_per_fsync"] =
        syncs == 0 ? 0.0 : static_cast<double>(g_enqueued.load()) / static_cast<double>(syncs);
    delete g_bench;
    g_bench = nullptr;
  }
}
BENCHMARK(BM_EnqueueDurable)->Threads(1)->Threads(8)->Threads(64)->UseRealTime();

void BM_EnqueueBatch(benchmark::State& state) {
  BenchQueue bench;
  const std::string payload(kPayloadBytes, 'x');
  for (auto _ : state) {
    std::vector<NewMessage> batch;
    batch.reserve(100);
    for (int i = 0; i < 100; ++i) {
      batch.push_back(NewMessage{MessageId::Generate(std::chrono::system_clock::now()), payload});
    }
    EnqueueAndWait(bench.queue(), std::move(batch), state);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_EnqueueBatch)->UseRealTime();

void BM_ClaimAck(benchmark::State& state) {
  BenchQueue bench;
  EmbeddedQueue& q = bench.queue();
  const std::string payload(kPayloadBytes, 'x');
  std::int64_t items = 0;
  for (auto _ : state) {
    auto claimed = q.Claim("bench", 100, std::chrono::seconds(30), std::chrono::milliseconds(0));
    if (!claimed) {
      state.SkipWithError("claim failed");
      break;
    }
    if (claimed->empty()) {
      state.PauseTiming();
      for (int call = 0; call < 20; ++call) {
        std::vector<NewMessage> batch;
        for (int i = 0; i < 500; ++i) {
          batch.push_back(
              NewMessage{MessageId::Generate(std::chrono::system_clock::now()), payload});
        }
        EnqueueAndWait(q, std::move(batch), state);
      }
      state.ResumeTiming();
      continue;
    }
    std::vector<MessageId> ids;
    ids.reserve(claimed->size());
    for (const auto& m : *claimed) ids.push_back(m.id);
    if (!q.Ack(ids)) state.SkipWithError("ack failed");
    items += static_cast<std::int64_t>(ids.size());
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_ClaimAck)->UseRealTime();

}  // namespace
}  // namespace msgbroker::queue

BENCHMARK_MAIN();
