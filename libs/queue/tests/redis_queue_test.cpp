// RedisQueue: the Queue contract against the real redis-server of the `redis` CTest fixture,
// plus what only Redis has (reopen, consumers on several instances, pipelining, the server going
// away and coming back, authentication). Every test uses its own key prefix.

#include "msgbroker/queue/redis_queue.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>

#include "msgbroker/queue/redis_connection.hpp"
#include "msgbroker/testing/temp_dir.hpp"
#include "msgbroker/testing/test_servers.hpp"
#include "msgbroker/testing/wait_for.hpp"
#include "queue_contract.hpp"

namespace msgbroker::queue {
namespace {

namespace mt = msgbroker::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kNoWait{0};
constexpr milliseconds kLease{30'000};

std::string UniquePrefix() {
  return "msgbroker-test:" + MessageId::Generate(SystemClock::Instance().Now()).str() + ":";
}

// The fixture server's address and password, under a fresh key prefix.
Result<RedisQueueOptions> FixtureOptions() {
  auto port = mt::TestServerSetting("redis", "REDIS_PORT");
  if (!port) return tl::unexpected(port.error());
  auto password = mt::TestServerSetting("redis", "REDIS_PASSWORD");
  if (!password) return tl::unexpected(password.error());
  RedisQueueOptions options;
  options.host = "127.0.0.1";
  options.port = std::stoi(*port);
  options.password = *password;
  options.key_prefix = UniquePrefix();
  return options;
}

redis::ConnectionOptions RawOptions(const RedisQueueOptions& o) {
  return redis::ConnectionOptions{o.host,           o.port, o.password, o.db, o.connect_timeout,
                                  o.command_timeout};
}

// ---- the contract, instantiated for RedisQueue ------------------------------------------------

std::unique_ptr<contract::QueueUnderTest> MakeRedis(const contract::QueueLimits& limits,
                                                    const Clock& clock) {
  auto options = FixtureOptions();
  if (!options) {
    ADD_FAILURE() << options.error().message;
    return nullptr;
  }
  options->max_messages = limits.max_messages;
  options->max_payload_bytes = limits.max_payload_bytes;
  // Reopening is a new instance on the same key prefix, as a restarted process.
  return contract::ReopenableQueue::Open(
      [options = *options, &clock]() -> Result<std::unique_ptr<Queue>> {
        return RedisQueue::Open(options, clock);
      });
}

using contract::QueueContractTest;

INSTANTIATE_TEST_SUITE_P(
    Redis, QueueContractTest,
    ::testing::Values(contract::QueueContractParam{
        .name = "Redis", .factory = &MakeRedis, .leases_survive_reopen = true}),
    contract::QueueContractParamName);

// ---- Redis-specific ---------------------------------------------------------------------------

Status EnqueueAndWait(Queue& q, std::vector<NewMessage> messages) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto result = promise->get_future();
  q.EnqueueAsync(std::move(messages), [promise](Status s) { promise->set_value(std::move(s)); });
  if (result.wait_for(seconds(30)) != std::future_status::ready) {
    return Fail(ErrorCode::kTimeout, "enqueue callback did not run");
  }
  return result.get();
}

std::vector<std::string> Payloads(const std::vector<ClaimedMessage>& claimed) {
  std::vector<std::string> out;
  for (const auto& m : claimed) out.push_back(m.payload);
  return out;
}

// An event loop on a thread of its own, as an HTTP I/O thread runs one.
class CallerLoop {
 public:
  CallerLoop() : thread_([this] { loop_->run(); }) {}
  ~CallerLoop() { Destroy(); }
  CallerLoop(const CallerLoop&) = delete;
  CallerLoop& operator=(const CallerLoop&) = delete;

  boost::asio::io_context* get() { return loop_ ? &*loop_ : nullptr; }
  std::thread::id thread_id() const { return thread_.get_id(); }
  // Runs `f` in one turn of the loop.
  template <typename F>
  void Post(F&& f) {
    boost::asio::post(*loop_, std::forward<F>(f));
  }
  // Stops the loop and destroys its io_context, as a server that shuts down does.
  void Destroy() {
    if (!loop_) return;
    work_.reset();
    loop_->stop();
    if (thread_.joinable()) thread_.join();
    loop_.reset();
  }

 private:
  std::optional<boost::asio::io_context> loop_{std::in_place, 1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      loop_->get_executor()};
  std::thread thread_;
};

// Counts what enqueue callbacks report, and on which thread they ran.
struct Outcomes {
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<int> done{0};
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::vector<Error> errors;

  Queue::EnqueueCallback Callback() {
    return [this](Status s) {
      {
        std::lock_guard lock(mu);
        threads.insert(std::this_thread::get_id());
        if (!s) errors.push_back(s.error());
      }
      ++(s ? ok : failed);
      ++done;
    };
  }
  bool WaitFor(int calls) {
    return mt::WaitFor([&] { return done.load() >= calls; }, seconds(30));
  }
};

class RedisQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = FixtureOptions();
    ASSERT_TRUE(options) << options.error().message;
    options_ = *options;
  }

  std::unique_ptr<RedisQueue> Open() {
    auto opened = RedisQueue::Open(options_, clock_);
    EXPECT_TRUE(opened) << opened.error().message;
    return opened ? std::move(*opened) : nullptr;
  }

  MessageId EnqueueOne(Queue& q, const std::string& payload) {
    const MessageId id = MessageId::Generate(clock_.Now());
    const Status s = EnqueueAndWait(q, {NewMessage{id, payload}});
    EXPECT_TRUE(s) << s.error().message;
    return id;
  }

  FakeClock clock_;
  RedisQueueOptions options_;
};

// A worker process that dies mid-lease: another instance (another consumer) gets its messages
// once the visibility timeout has passed by the clock, and not before.
TEST_F(RedisQueueTest, DeadConsumersMessagesGoToAnotherAfterTheVisibilityTimeout) {
  std::vector<MessageId> ids;
  {
    auto dying = Open();
    ASSERT_TRUE(dying);
    for (int i = 0; i < 3; ++i) ids.push_back(EnqueueOne(*dying, "m" + std::to_string(i)));
    auto claimed = dying->Claim("worker-a", 10, seconds(10), kNoWait);
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->size(), 3u);
  }  // gone without Ack
  auto other = Open();
  ASSERT_TRUE(other);
  clock_.Advance(seconds(9));
  auto early = other->Claim("worker-b", 10, seconds(10), kNoWait);
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty()) << "claimable while the lease still runs";
  clock_.Advance(seconds(1));
  auto taken = other->Claim("worker-b", 10, seconds(10), kNoWait);
  ASSERT_TRUE(taken);
  EXPECT_EQ(Payloads(*taken), (std::vector<std::string>{"m0", "m1", "m2"}));
  for (const auto& m : *taken) EXPECT_EQ(m.attempts, 2u);
  std::vector<MessageId> done;
  for (const auto& m : *taken) done.push_back(m.id);
  ASSERT_TRUE(other->Ack(done));
  auto stats = other->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready + stats->delayed + stats->in_flight + stats->dead, 0u);
}

// 1000 concurrent EnqueueAsync calls from threads without an event loop: all succeed, and the
// queue's own enqueue loops send them in far fewer pipelined round trips than calls, with one
// such thread and with several.
TEST_F(RedisQueueTest, ConcurrentEnqueuesSharePipelinedRoundTrips) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 125;
  constexpr int kTotal = kThreads * kPerThread;
  for (std::size_t writers : {1u, 3u}) {
    SCOPED_TRACE("writers " + std::to_string(writers));
    options_.writers = writers;
    options_.key_prefix = UniquePrefix();
    auto q = Open();
    ASSERT_TRUE(q);
    const auto burst = contract::EnqueueBurst(*q, clock_, kThreads, kPerThread);
    ASSERT_TRUE(contract::EveryCallAccepted(burst, kTotal));
    const std::uint64_t round_trips = q->enqueue_round_trips();
    std::cout << "[ pipelining ] " << writers << " writer(s): " << kTotal << " enqueues, "
              << round_trips << " round trips\n";
    EXPECT_GT(round_trips, 0u);
    EXPECT_LT(round_trips, static_cast<std::uint64_t>(kTotal / 4));
    auto stats = q->Stats();
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->ready, static_cast<std::uint64_t>(kTotal));
  }
}

// Calls made on a caller's event loop (what the proxy's HTTP I/O threads do) are sent from that
// loop and answered on its thread, with the calls of one turn sharing round trips.
TEST_F(RedisQueueTest, EnqueuesOnACallersLoopAreSentAndAnsweredOnThatLoop) {
  constexpr int kTurns = 10;
  constexpr int kPerTurn = 100;
  constexpr int kTotal = kTurns * kPerTurn;
  auto q = Open();
  ASSERT_TRUE(q);
  CallerLoop loop;
  Outcomes outcomes;
  for (int t = 0; t < kTurns; ++t) {
    loop.Post([&] {
      for (int i = 0; i < kPerTurn; ++i) {
        q->EnqueueAsyncOn(loop.get(), {NewMessage{MessageId::Generate(clock_.Now()), "m"}},
                          outcomes.Callback());
      }
    });
  }
  ASSERT_TRUE(outcomes.WaitFor(kTotal));
  EXPECT_EQ(outcomes.ok, kTotal);
  EXPECT_EQ(outcomes.threads, std::set<std::thread::id>{loop.thread_id()});
  const std::uint64_t round_trips = q->enqueue_round_trips();
  std::cout << "[ lane ] " << kTotal << " enqueues in " << kTurns << " turns, " << round_trips
            << " round trips\n";
  EXPECT_GT(round_trips, 0u);
  EXPECT_LE(round_trips, static_cast<std::uint64_t>(2 * kTurns));
  auto stats = q->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, static_cast<std::uint64_t>(kTotal));
}

// Naming a loop from a thread that does not run it cannot use that loop: the call goes to the
// queue's own threads, and still succeeds.
TEST_F(RedisQueueTest, EnqueueNamingALoopFromAnotherThreadUsesTheQueuesOwnThreads) {
  auto q = Open();
  ASSERT_TRUE(q);
  CallerLoop loop;
  Outcomes outcomes;
  q->EnqueueAsyncOn(loop.get(), {NewMessage{MessageId::Generate(clock_.Now()), "m"}},
                    outcomes.Callback());
  ASSERT_TRUE(outcomes.WaitFor(1));
  EXPECT_EQ(outcomes.ok, 1);
  ASSERT_EQ(outcomes.threads.size(), 1u);
  EXPECT_NE(*outcomes.threads.begin(), loop.thread_id());
  EXPECT_NE(*outcomes.threads.begin(), std::this_thread::get_id());
}

TEST_F(RedisQueueTest, InvalidOptionsAreRefused) {
  for (auto [pipeline, writers, what] :
       {std::tuple{std::size_t{0}, std::size_t{2}, "max_pipeline"},
        std::tuple{std::size_t{1024}, std::size_t{0}, "writers"}}) {
    options_.max_pipeline = pipeline;
    options_.writers = writers;
    auto opened = RedisQueue::Open(options_, clock_);
    ASSERT_FALSE(opened) << what;
    EXPECT_EQ(opened.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(opened.error().message.find(what), std::string::npos) << opened.error().message;
  }
}

// Calls pending together share one script run, but each stays all or nothing on its own: with
// room for 5 messages, a burst of one-, two- and three-message calls (some repeating an id of an
// earlier call) fills exactly the room, refuses whole calls only, and skips repeated ids.
TEST_F(RedisQueueTest, CallsSharingAScriptRunStayAllOrNothingEach) {
  options_.max_messages = 5;
  auto q = Open();
  ASSERT_TRUE(q);
  const MessageId shared = MessageId::Generate(clock_.Now());
  std::vector<std::vector<NewMessage>> calls;
  for (int i = 0; i < 12; ++i) {
    std::vector<NewMessage> call;
    for (int k = 0; k <= i % 3; ++k) {
      call.push_back(
          {MessageId::Generate(clock_.Now()), std::to_string(i) + "-" + std::to_string(k)});
    }
    if (i % 4 == 1) call.front().id = shared;  // the same id in several calls
    calls.push_back(std::move(call));
  }
  std::mutex mu;
  std::vector<std::optional<Status>> results(calls.size());
  std::atomic<int> done{0};
  for (std::size_t i = 0; i < calls.size(); ++i) {
    q->EnqueueAsync(calls[i], [&, i](Status s) {
      std::lock_guard lock(mu);
      results[i] = std::move(s);
      ++done;
    });
  }
  ASSERT_TRUE(mt::WaitFor([&] { return done.load() == static_cast<int>(calls.size()); },
                          milliseconds(10'000)));
  std::set<std::string> stored_ids;
  std::lock_guard lock(mu);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    ASSERT_TRUE(results[i].has_value());
    if (*results[i]) {
      for (const auto& m : calls[i]) stored_ids.insert(m.id.str());
    } else {
      EXPECT_NE(results[i]->error().message.find("queue is full"), std::string::npos)
          << results[i]->error().message;
    }
  }
  auto claimed = q->Claim("w", 100, kLease, kNoWait);
  ASSERT_TRUE(claimed) << claimed.error().message;
  std::set<std::string> claimed_ids;
  for (const auto& m : *claimed) claimed_ids.insert(m.id.str());
  EXPECT_EQ(claimed->size(), claimed_ids.size()) << "an id was stored twice";
  EXPECT_EQ(claimed_ids, stored_ids) << "what succeeded is exactly what is in the queue";
  EXPECT_LE(claimed->size(), 5u);
  EXPECT_GE(claimed->size(), 3u);
}

// Every key the queue writes lies under its prefix, so deployments (and tests) can share a
// server.
TEST_F(RedisQueueTest, KeysStayUnderThePrefix) {
  auto q = Open();
  ASSERT_TRUE(q);
  const MessageId a = EnqueueOne(*q, "a");
  const MessageId b = EnqueueOne(*q, "b");
  EnqueueOne(*q, "c");
  ASSERT_TRUE(q->Claim("w", 2, kLease, kNoWait));
  const RetryRequest retry[] = {{a, clock_.Now() + seconds(5), "e"}};
  ASSERT_TRUE(q->Retry(retry));
  const DeadLetterRequest dead[] = {{b, "r"}};
  ASSERT_TRUE(q->DeadLetter(dead));

  auto conn = redis::Connection::Open(RawOptions(options_));
  ASSERT_TRUE(conn) << conn.error().message;
  auto keys = (*conn)->Command({"KEYS", options_.key_prefix + "*"});
  ASSERT_TRUE(keys);
  // stream, ids, delayed, dead, dead_seq, and the hashes of the delayed and the dead message
  // (`leases` is gone with its last member).
  EXPECT_EQ((*keys)->elements, 7u);
  auto other = (*conn)->Command({"KEYS", "msgbroker:*"});
  ASSERT_TRUE(other);
  EXPECT_EQ((*other)->elements, 0u) << "a key outside the test's prefix";
}

// Once acknowledged, a message leaves nothing behind: its stream entry, its `ids` field and its
// lease are deleted, so Redis's memory follows the backlog, not the traffic.
TEST_F(RedisQueueTest, AcknowledgedMessagesLeaveNothingBehind) {
  auto q = Open();
  ASSERT_TRUE(q);
  std::vector<MessageId> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(EnqueueOne(*q, "m" + std::to_string(i)));
  auto first = q->Claim("w", 20, kLease, kNoWait);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 20u);
  auto conn = redis::Connection::Open(RawOptions(options_));
  ASSERT_TRUE(conn) << conn.error().message;
  auto count = [&](std::initializer_list<std::string_view> command) {
    auto reply = (*conn)->Command(command);
    EXPECT_TRUE(reply);
    return reply ? redis::ReplyInteger(reply->get()) : -1;
  };
  const std::string stream = options_.key_prefix + "stream";
  const std::string id_hash = options_.key_prefix + "ids";
  const std::string leases = options_.key_prefix + "leases";
  EXPECT_EQ(count({"XLEN", stream}), 50) << "leased messages stay on the stream until acked";
  EXPECT_EQ(count({"ZCARD", leases}), 20);
  // Acknowledging a mix of leased and still ready messages.
  std::vector<MessageId> acked(ids.begin(), ids.begin() + 10);
  acked.insert(acked.end(), ids.end() - 5, ids.end());
  ASSERT_TRUE(q->Ack(acked));
  EXPECT_EQ(count({"XLEN", stream}), 35);
  EXPECT_EQ(count({"HLEN", id_hash}), 35);
  EXPECT_EQ(count({"ZCARD", leases}), 10);
  auto stats = q->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, 25u);
  EXPECT_EQ(stats->in_flight, 10u);
  auto rest = q->Claim("w", 100, kLease, kNoWait);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 25u);
  EXPECT_EQ(rest->front().payload, "m20") << "the oldest ready message first";
  std::vector<MessageId> remaining(ids.begin() + 10, ids.end() - 5);
  ASSERT_TRUE(q->Ack(remaining));
  EXPECT_EQ(count({"XLEN", stream}), 0);
  EXPECT_EQ(count({"EXISTS", id_hash}), 0);
  EXPECT_EQ(count({"EXISTS", leases}), 0);
}

// A prefix holding keys of the earlier layout (a `ready` set, a `seq` counter) is refused at Open,
// naming the key, instead of being misread; the queue opens once they are gone.
TEST_F(RedisQueueTest, EarlierLayoutIsRefusedAtOpen) {
  auto conn = redis::Connection::Open(RawOptions(options_));
  ASSERT_TRUE(conn) << conn.error().message;
  for (const char* name : {"seq", "ready"}) {
    const std::string key = options_.key_prefix + name;
    ASSERT_TRUE((*conn)->Command({"SET", key, "7"}));
    auto opened = RedisQueue::Open(options_, clock_);
    ASSERT_FALSE(opened) << name;
    EXPECT_EQ(opened.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(opened.error().message.find(key), std::string::npos) << opened.error().message;
    ASSERT_TRUE((*conn)->Command({"DEL", key}));
  }
  EXPECT_TRUE(Open());
}

// A stream entry that lacks the payload or the enqueue time, or carries a malformed claim count,
// is reported as corrupted data by Claim, not handed out with made-up values.
TEST_F(RedisQueueTest, MalformedStreamEntryIsDataCorrupted) {
  auto conn = redis::Connection::Open(RawOptions(options_));
  ASSERT_TRUE(conn) << conn.error().message;
  const std::string id = MessageId::Generate(clock_.Now()).str();
  const std::vector<std::vector<std::string>> bad = {
      {"i", id, "t", "1"}, {"i", id, "p", "x"}, {"i", id, "p", "x", "t", "1", "a", "two"}};
  for (const auto& fields : bad) {
    options_.key_prefix = UniquePrefix();
    auto q = Open();
    ASSERT_TRUE(q);
    std::vector<std::string_view> xadd = {"XADD", "", "*"};
    const std::string stream = options_.key_prefix + "stream";
    xadd[1] = stream;
    xadd.insert(xadd.end(), fields.begin(), fields.end());
    ASSERT_TRUE((*conn)->Command(xadd));
    auto claimed = q->Claim("w", 10, kLease, kNoWait);
    ASSERT_FALSE(claimed) << fields.size();
    EXPECT_EQ(claimed.error().code, ErrorCode::kDataCorrupted);
  }
}

TEST_F(RedisQueueTest, WrongPasswordIsAClearError) {
  options_.password = "not-the-password";
  auto opened = RedisQueue::Open(options_, clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kQueueUnavailable);
  EXPECT_NE(opened.error().message.find("authentication failed"), std::string::npos)
      << opened.error().message;
  EXPECT_NE(opened.error().message.find(std::to_string(options_.port)), std::string::npos);
  EXPECT_EQ(opened.error().message.find("not-the-password"), std::string::npos)
      << "the password leaked into the message";

  options_.password.clear();
  auto anonymous = RedisQueue::Open(options_, clock_);
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code, ErrorCode::kQueueUnavailable);
  EXPECT_NE(anonymous.error().message.find("NOAUTH"), std::string::npos)
      << anonymous.error().message;
}

// ---- a private server this test can kill ------------------------------------------------------

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// redis-server as a child process (AOF with appendfsync always in a temporary directory),
// started and SIGKILLed by PID.
class PrivateRedis {
 public:
  PrivateRedis() : port_(FreePort()), password_("pw-" + UniquePrefix().substr(15, 8)) {}
  ~PrivateRedis() { Kill(); }
  PrivateRedis(const PrivateRedis&) = delete;
  PrivateRedis& operator=(const PrivateRedis&) = delete;

  RedisQueueOptions Options() const {
    RedisQueueOptions o;
    o.host = "127.0.0.1";
    o.port = port_;
    o.password = password_;
    o.key_prefix = "msgbroker-test:";
    o.connect_timeout = milliseconds(500);
    o.command_timeout = milliseconds(500);
    return o;
  }

  // Starts the server and waits until it answers.
  bool Start() {
    const std::string port = std::to_string(port_);
    const std::string dir = dir_.path().string();
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
      ::execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port.c_str(),
               "--requirepass", password_.c_str(), "--dir", dir.c_str(), "--appendonly", "yes",
               "--appendfsync", "always", "--save", "", "--daemonize", "no",
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return mt::WaitFor(
        [&] { return static_cast<bool>(redis::Connection::Open(RawOptions(Options()))); },
        milliseconds(10'000));
  }

  // SIGSTOP/SIGCONT: the server still accepts connections (the kernel does) but answers nothing.
  void Pause() { ::kill(pid_, SIGSTOP); }
  void Resume() { ::kill(pid_, SIGCONT); }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  mt::TempDir dir_{"msgbroker-redis"};
  int port_;
  std::string password_;
  pid_t pid_ = -1;
};

// The server dies: calls fail fast with kQueueUnavailable (nothing hangs); it comes back on the
// same port: the same RedisQueue works again, and what was acknowledged before is still there.
TEST_F(RedisQueueTest, ServerDownFailsFastAndTheQueueRecovers) {
  PrivateRedis server;
  ASSERT_TRUE(server.Start());
  auto opened = RedisQueue::Open(server.Options(), clock_);
  ASSERT_TRUE(opened) << opened.error().message;
  auto& q = **opened;
  EnqueueOne(q, "before");
  auto warm = q.Stats();  // leaves a pooled connection that the kill will break
  ASSERT_TRUE(warm);

  server.Kill();
  const auto t0 = std::chrono::steady_clock::now();
  const Status lost = EnqueueAndWait(q, {NewMessage{MessageId::Generate(clock_.Now()), "lost"}});
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code, ErrorCode::kQueueUnavailable) << lost.error().message;
  auto claim = q.Claim("w", 10, kLease, milliseconds(100));
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code, ErrorCode::kQueueUnavailable);
  auto stats = q.Stats();
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, ErrorCode::kQueueUnavailable);
  const MessageId ids[] = {MessageId::Generate(clock_.Now())};
  EXPECT_FALSE(q.Ack(ids));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5)) << "calls did not fail fast";

  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(mt::WaitFor([&] { return static_cast<bool>(q.Stats()); }, milliseconds(10'000)));
  EnqueueOne(q, "after");
  auto claimed = q.Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(Payloads(*claimed), (std::vector<std::string>{"before", "after"}));
}

// A server that accepts connections but never answers: every call gives up after the command
// timeout instead of hanging, and the queue works again once the server does.
TEST_F(RedisQueueTest, StalledServerTimesOutAndTheQueueRecovers) {
  PrivateRedis server;
  ASSERT_TRUE(server.Start());
  auto opened = RedisQueue::Open(server.Options(), clock_);
  ASSERT_TRUE(opened) << opened.error().message;
  auto& q = **opened;
  EnqueueOne(q, "before");

  server.Pause();
  const auto t0 = std::chrono::steady_clock::now();
  // Redis may still apply this call when it wakes up: a producer's retry with the same id would
  // be skipped, so reporting it failed is safe.
  const Status late = EnqueueAndWait(q, {NewMessage{MessageId::Generate(clock_.Now()), "late"}});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kQueueUnavailable);
  EXPECT_NE(late.error().message.find("timed out"), std::string::npos) << late.error().message;
  auto claim = q.Claim("w", 10, kLease, kNoWait);
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code, ErrorCode::kQueueUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5)) << "calls did not time out";

  server.Resume();
  ASSERT_TRUE(mt::WaitFor([&] { return static_cast<bool>(q.Stats()); }, milliseconds(10'000)));
  EnqueueOne(q, "after");
  // The timed-out Claim reached Redis too and may have leased messages when it woke up; they
  // come back once that lease expires, like a worker's that crashed.
  clock_.Advance(kLease + seconds(1));
  auto claimed = q.Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed) << claimed.error().message;
  std::vector<std::string> payloads = Payloads(*claimed);
  std::sort(payloads.begin(), payloads.end());
  payloads.erase(std::remove(payloads.begin(), payloads.end(), "late"), payloads.end());
  EXPECT_EQ(payloads, (std::vector<std::string>{"after", "before"}));
}

std::int64_t ConnectedClients(const RedisQueueOptions& options) {
  auto conn = redis::Connection::Open(RawOptions(options));
  if (!conn) return -1;
  auto info = (*conn)->Command({"INFO", "clients"});
  if (!info) return -1;
  const std::string_view text = redis::ReplyString(info->get());
  constexpr std::string_view kField = "connected_clients:";
  const auto at = text.find(kField);
  if (at == std::string_view::npos) return -1;
  return std::atoll(std::string(text.substr(at + kField.size())).c_str());
}

// Close from the loop itself, right after a burst of calls on it: every call accepted before
// finishes, later ones are refused, and the loop's connection closes once drained although the
// loop goes on running (the queue's own connections close with it).
TEST_F(RedisQueueTest, CloseLetsEnqueuesOnACallersLoopFinishThenClosesTheirConnection) {
  PrivateRedis server;
  ASSERT_TRUE(server.Start());
  auto opened = RedisQueue::Open(server.Options(), clock_);
  ASSERT_TRUE(opened) << opened.error().message;
  std::unique_ptr<RedisQueue> q = std::move(*opened);
  CallerLoop loop;
  Outcomes before;
  Outcomes after;
  constexpr int kCalls = 100;
  loop.Post([&] {
    for (int i = 0; i < kCalls; ++i) {
      q->EnqueueAsyncOn(loop.get(), {NewMessage{MessageId::Generate(clock_.Now()), "m"}},
                        before.Callback());
    }
    q->Close();
    q->EnqueueAsyncOn(loop.get(), {NewMessage{MessageId::Generate(clock_.Now()), "late"}},
                      after.Callback());
  });
  ASSERT_TRUE(before.WaitFor(kCalls));
  EXPECT_EQ(before.ok, kCalls);
  ASSERT_TRUE(after.WaitFor(1));
  ASSERT_EQ(after.errors.size(), 1u);
  EXPECT_EQ(after.errors[0].code, ErrorCode::kQueueUnavailable);
  q.reset();
  EXPECT_TRUE(mt::WaitFor([&] { return ConnectedClients(server.Options()) == 1; }, seconds(5)))
      << ConnectedClients(server.Options()) << " connected clients; 1 expected (the check itself)";
}

// A loop destroyed while its enqueue waits for a stalled server: the call fails at once with
// kQueueUnavailable (its callback runs exactly once), and the queue goes on working elsewhere.
TEST_F(RedisQueueTest, DestroyingTheCallersLoopFailsItsEnqueuesInFlight) {
  PrivateRedis server;
  ASSERT_TRUE(server.Start());
  auto options = server.Options();
  options.command_timeout = seconds(20);
  auto opened = RedisQueue::Open(options, clock_);
  ASSERT_TRUE(opened) << opened.error().message;
  auto& q = **opened;
  CallerLoop loop;
  Outcomes outcomes;
  // The lane's connection first, then the stall.
  loop.Post([&] {
    q.EnqueueAsyncOn(loop.get(), {NewMessage{MessageId::Generate(clock_.Now()), "first"}},
                     outcomes.Callback());
  });
  ASSERT_TRUE(outcomes.WaitFor(1));
  ASSERT_EQ(outcomes.ok, 1);
  server.Pause();
  loop.Post([&] {
    q.EnqueueAsyncOn(loop.get(), {NewMessage{MessageId::Generate(clock_.Now()), "stuck"}},
                     outcomes.Callback());
  });
  std::this_thread::sleep_for(milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  loop.Destroy();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
  ASSERT_EQ(outcomes.done, 2);
  ASSERT_EQ(outcomes.errors.size(), 1u);
  EXPECT_EQ(outcomes.errors[0].code, ErrorCode::kQueueUnavailable);
  EXPECT_NE(outcomes.errors[0].message.find("event loop"), std::string::npos)
      << outcomes.errors[0].message;
  server.Resume();
  EnqueueOne(q, "elsewhere");
}

// No server at start-up (a proxy or worker that starts before Redis): Open succeeds, every call
// fails fast with kQueueUnavailable naming the server, and once the server is there the same
// queue works without being reopened (scripts and consumer group are set up on first use).
TEST_F(RedisQueueTest, UnreachableServerAtOpenIsAnOutageTheQueueRidesOut) {
  PrivateRedis server;
  const auto t0 = std::chrono::steady_clock::now();
  auto opened = RedisQueue::Open(server.Options(), clock_);
  ASSERT_TRUE(opened) << opened.error().message;
  auto& q = **opened;
  const std::string where = "127.0.0.1:" + std::to_string(server.Options().port);
  const Status down = EnqueueAndWait(q, {NewMessage{MessageId::Generate(clock_.Now()), "early"}});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kQueueUnavailable);
  EXPECT_NE(down.error().message.find(where), std::string::npos) << down.error().message;
  auto claim = q.Claim("w", 10, kLease, milliseconds(100));
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code, ErrorCode::kQueueUnavailable);
  auto stats = q.Stats();
  ASSERT_FALSE(stats);
  EXPECT_NE(stats.error().message.find(where), std::string::npos) << stats.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5)) << "calls did not fail fast";

  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(mt::WaitFor([&] { return static_cast<bool>(q.Stats()); }, milliseconds(10'000)));
  EnqueueOne(q, "first");
  auto claimed = q.Claim("w", 10, kLease, kNoWait);
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(Payloads(*claimed), (std::vector<std::string>{"first"}));
  ASSERT_TRUE(q.Ack(std::vector<MessageId>{claimed->front().id}));
  auto after = q.Stats();
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->ready + after->in_flight, 0u);
}

}  // namespace
}  // namespace msgbroker::queue
