// RedisQueue throughput against the redis-server of the `redis` CTest fixture (AOF with
// appendfsync always, on loopback), read through MSGBROKER_TEST_SERVERS.
//
//   BM_EnqueueDurable/threads:N   N producers, each enqueues one message and waits for its
//                                 callback (a proxy request waiting for its 202): the
//                                 queue's own enqueue loops pipeline concurrent calls into
//                                 one round trip.
//   BM_EnqueueBatch               one producer, 100 messages per call.
//   BM_ClaimAck                   one worker: Claim 100, Ack them.
//
// Counters: items_per_second, and msgs_per_round_trip (enqueue calls per pipelined round trip).

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>

#include "msgbroker/queue/redis_queue.hpp"
#include "msgbroker/testing/test_servers.hpp"

namespace msgbroker::queue {
namespace {

constexpr std::size_t kPayloadBytes = 512;  // about an encrypted 1000-character message

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "redis_queue_bench: %s\n", message.c_str());
  std::exit(1);
}

// A RedisQueue on the fixture server under a fresh key prefix.
std::unique_ptr<RedisQueue> OpenBenchQueue() {
  auto port = msgbroker::testing::TestServerSetting("redis", "REDIS_PORT");
  if (!port) Die(port.error().message);
  auto password = msgbroker::testing::TestServerSetting("redis", "REDIS_PASSWORD");
  if (!password) Die(password.error().message);
  RedisQueueOptions options;
  options.port = std::stoi(*port);
  options.password = *password;
  options.key_prefix =
      "msgbroker-bench:" + MessageId::Generate(std::chrono::system_clock::now()).str() + ":";
  options.max_messages = 100'000'000;
  auto opened = RedisQueue::Open(options, SystemClock::Instance());
  if (!opened) Die(opened.error().message);
  return std::move(*opened);
}

RedisQueue* g_queue = nullptr;
std::atomic<std::uint64_t> g_enqueued{0};

void EnqueueAndWait(RedisQueue& q, std::vector<NewMessage> messages, benchmark::State& state) {
  std::promise<Status> done;
  auto result = done.get_future();
  q.EnqueueAsync(std::move(messages), [&done](Status s) { done.set_value(std::move(s)); });
  if (!result.get()) state.SkipWithError("enqueue failed");
}

void BM_EnqueueDurable(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_queue = OpenBenchQueue().release();
    g_enqueued = 0;
  }
  const std::string payload(kPayloadBytes, 'x');
  for (auto _ : state) {
    EnqueueAndWait(*g_queue,
                   {NewMessage{MessageId::Generate(std::chrono::system_clock::now()), payload}},
                   state);
    g_enqueued.fetch_add(1, std::memory_order_relaxed);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const auto round_trips = g_queue->enqueue_round_trips();
    state.counters["msgs_per_round_trip"] =
        round_trips == 0
            ? 0.0
            : static_cast<double>(g_enqueued.load()) / static_cast<double>(round_trips);
    delete g_queue;
    g_queue = nullptr;
  }
}
BENCHMARK(BM_EnqueueDurable)->Threads(1)->Threads(8)->Threads(64)->UseRealTime();

void BM_EnqueueBatch(benchmark::State& state) {
  auto q = OpenBenchQueue();
  const std::string payload(kPayloadBytes, 'x');
  for (auto _ : state) {
    std::vector<NewMessage> batch;
    batch.reserve(100);
    for (int i = 0; i < 100; ++i) {
      batch.push_back(NewMessage{MessageId::Generate(std::chrono::system_clock::now()), payload});
    }
    EnqueueAndWait(*q, std::move(batch), state);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_EnqueueBatch)->UseRealTime();

void BM_ClaimAck(benchmark::State& state) {
  auto q = OpenBenchQueue();
  const std::string payload(kPayloadBytes, 'x');
  std::int64_t items = 0;
  for (auto _ : state) {
    auto claimed = q->Claim("bench", 100, std::chrono::seconds(30), std::chrono::milliseconds(0));
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
        EnqueueAndWait(*q, std::move(batch), state);
      }
      state.ResumeTiming();
      continue;
    }
    std::vector<MessageId> ids;
    ids.reserve(claimed->size());
    for (const auto& m : *claimed) ids.push_back(m.id);
    if (!q->Ack(ids)) state.SkipWithError("ack failed");
    items += static_cast<std::int64_t>(ids.size());
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_ClaimAck)->UseRealTime();

}  // namespace
}  // namespace msgbroker::queue

BENCHMARK_MAIN();
