// EmbeddedQueue: the Queue contract, plus what only a local log has (persistence, torn tails,
// corruption, group commit, compaction, locking, kill -9, disk errors).

#include "msgbroker/queue/embedded_queue.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "log_format.hpp"
#include "msgbroker/testing/temp_dir.hpp"
#include "queue_contract.hpp"

namespace msgbroker::queue {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kNoWait{0};
constexpr milliseconds kLease{30'000};

using msgbroker::testing::TempDir;

// ---- the contract, instantiated for EmbeddedQueue --------------------------------------------

std::unique_ptr<contract::QueueUnderTest> MakeEmbedded(const contract::QueueLimits& limits,
                                                       const Clock& clock) {
  auto dir = std::make_shared<TempDir>();  // outlives the queue: the opener holds it
  EmbeddedQueueOptions options;
  options.directory = dir->path() / "queue";
  options.fsync = false;  // the contract is about semantics; durability is tested below
  options.max_messages = limits.max_messages;
  options.max_payload_bytes = limits.max_payload_bytes;
  return contract::ReopenableQueue::Open(
      [dir, options, &clock]() -> Result<std::unique_ptr<Queue>> {
        return EmbeddedQueue::Open(options, clock);
      });
}

using contract::QueueContractTest;

INSTANTIATE_TEST_SUITE_P(
    Embedded, QueueContractTest,
    ::testing::Values(contract::QueueContractParam{
        .name = "Embedded", .factory = &MakeEmbedded, .leases_survive_reopen = false}),
    contract::QueueContractParamName);

// ---- embedded-specific ------------------------------------------------------------------------

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

class EmbeddedQueueTest : public ::testing::Test {
 protected:
  EmbeddedQueueOptions Options() const {
    EmbeddedQueueOptions o;
    o.directory = dir_.path() / "q";
    return o;
  }
  fs::path LogPath() const { return dir_.path() / "q" / "queue.log"; }

  std::unique_ptr<EmbeddedQueue> OpenQueue(EmbeddedQueueOptions options) {
    auto opened = EmbeddedQueue::Open(std::move(options), clock_);
    EXPECT_TRUE(opened) << opened.error().message;
    return opened ? std::move(*opened) : nullptr;
  }
  std::unique_ptr<EmbeddedQueue> OpenQueue() { return OpenQueue(Options()); }

  static Status Enqueue(Queue& q, std::vector<NewMessage> messages) {
    auto promise = std::make_shared<std::promise<Status>>();
    auto result = promise->get_future();
    q.EnqueueAsync(std::move(messages), [promise](Status s) { promise->set_value(std::move(s)); });
    if (result.wait_for(seconds(30)) != std::future_status::ready) {
      return Fail(ErrorCode::kTimeout, "enqueue callback did not run");
    }
    return result.get();
  }
  MessageId EnqueueOne(Queue& q, const std::string& payload) {
    const MessageId id = MessageId::Generate(clock_.Now());
    const Status s = Enqueue(q, {NewMessage{id, payload}});
    EXPECT_TRUE(s) << s.error().message;
    return id;
  }
  static std::vector<ClaimedMessage> ClaimAll(Queue& q) {
    auto claimed = q.Claim("test", 1'000'000, kLease, kNoWait);
    EXPECT_TRUE(claimed) << claimed.error().message;
    return claimed ? std::move(*claimed) : std::vector<ClaimedMessage>{};
  }
  static std::vector<std::string> Payloads(const std::vector<ClaimedMessage>& claimed) {
    std::vector<std::string> out;
    for (const auto& m : claimed) out.push_back(m.payload);
    return out;
  }

  TempDir dir_;
  FakeClock clock_;
};

TEST_F(EmbeddedQueueTest, DuplicateIdIsIgnoredAndTheFirstCopyWins) {
  const MessageId id = MessageId::Generate(clock_.Now());
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    ASSERT_TRUE(Enqueue(*q, {NewMessage{id, "first"}}));
    ASSERT_TRUE(Enqueue(*q, {NewMessage{id, "second"}, NewMessage{id, "third"}}));
    auto stats = q->Stats();
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->ready, 1u);
  }
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  auto claimed = ClaimAll(*q);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].payload, "first");
}

// Fresh messages do not wait for the clock: after a restart with the wall clock stepped back
// (bad RTC, NTP step) they are claimable at once, while a Retry's not_before is still honoured.
TEST_F(EmbeddedQueueTest, ClockSteppingBackDoesNotStallFreshMessages) {
  const SystemTime t0 = clock_.Now();
  MessageId retried;
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    EnqueueOne(*q, "fresh");
    retried = EnqueueOne(*q, "retried");
    auto claimed = q->Claim("w", 2, kLease, kNoWait);
    ASSERT_TRUE(claimed);
    const RetryRequest retry[] = {{retried, t0 + seconds(10), "e"}};
    ASSERT_TRUE(q->Retry(retry));
    const MessageId ack[] = {(*claimed)[0].id};
    ASSERT_TRUE(q->Ack(ack));
    EnqueueOne(*q, "fresh-2");
  }
  clock_.Set(t0 - std::chrono::hours(1));
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  auto fresh = ClaimAll(*q);
  EXPECT_EQ(Payloads(fresh), std::vector<std::string>{"fresh-2"});
  ASSERT_EQ(fresh.size(), 1u);
  const MessageId ack[] = {fresh[0].id};
  ASSERT_TRUE(q->Ack(ack));
  clock_.Set(t0 + seconds(10));
  EXPECT_EQ(Payloads(ClaimAll(*q)), std::vector<std::string>{"retried"});
}

TEST_F(EmbeddedQueueTest, EmptyIdIsRejected) {
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  const Status s = Enqueue(*q, {NewMessage{MessageId{}, "x"}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidRequest);
}

TEST_F(EmbeddedQueueTest, SecondOpenOfTheSameDirectoryFails) {
  auto first = OpenQueue();
  ASSERT_TRUE(first);
  auto second = EmbeddedQueue::Open(Options(), clock_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kQueueUnavailable);
  EXPECT_NE(second.error().message.find(Options().directory.string()), std::string::npos)
      << second.error().message;
  first.reset();
  EXPECT_TRUE(OpenQueue()) << "the lock must be released when the queue is destroyed";
}

TEST_F(EmbeddedQueueTest, UncreatableDirectoryFailsNamingIt) {
  WriteFile(dir_.path() / "file", "x");
  EmbeddedQueueOptions options;
  options.directory = dir_.path() / "file" / "q";
  auto opened = EmbeddedQueue::Open(options, clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kQueueUnavailable);
  EXPECT_NE(opened.error().message.find(options.directory.string()), std::string::npos);
}

TEST_F(EmbeddedQueueTest, ForeignFileIsNotTakenForALog) {
  fs::create_directories(Options().directory);
  WriteFile(LogPath(), "this is not a queue log at all");
  auto opened = EmbeddedQueue::Open(Options(), clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDataCorrupted);
  EXPECT_NE(opened.error().message.find(LogPath().string()), std::string::npos);
  EXPECT_EQ(ReadFile(LogPath()), "this is not a queue log at all") << "a foreign file was changed";
}

TEST_F(EmbeddedQueueTest, TornFileHeaderStartsEmpty) {
  fs::create_directories(Options().directory);
  WriteFile(LogPath(), log::EncodeFileHeader().substr(0, 5));
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  EnqueueOne(*q, "after");
  q.reset();
  q = OpenQueue();
  ASSERT_TRUE(q);
  EXPECT_EQ(Payloads(ClaimAll(*q)), std::vector<std::string>{"after"});
}

TEST_F(EmbeddedQueueTest, LeftoverCompactionFileIsIgnored) {
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    EnqueueOne(*q, "kept");
  }
  WriteFile(Options().directory / "queue.log.compact", "half-written compaction");
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  EXPECT_EQ(Payloads(ClaimAll(*q)), std::vector<std::string>{"kept"});
  EXPECT_FALSE(fs::exists(Options().directory / "queue.log.compact"));
}

// Cuts the log at every byte offset inside its last record: each time the queue opens, keeps the
// complete records, drops the torn one and truncates the file to the last good record.
TEST_F(EmbeddedQueueTest, TornTailIsCutAtEveryOffset) {
  std::uint64_t before_last = 0;
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    EnqueueOne(*q, "one");
    EnqueueOne(*q, "two");
    before_last = fs::file_size(LogPath());
    ASSERT_TRUE(Enqueue(*q, {NewMessage{MessageId::Generate(clock_.Now()), "three-a"},
                             NewMessage{MessageId::Generate(clock_.Now()), "three-b"}}));
  }
  const std::string full = ReadFile(LogPath());
  ASSERT_GT(full.size(), before_last);
  for (std::size_t cut = before_last; cut < full.size(); ++cut) {
    WriteFile(LogPath(), full.substr(0, cut));
    auto q = OpenQueue();
    ASSERT_TRUE(q) << "cut at " << cut;
    EXPECT_EQ(Payloads(ClaimAll(*q)), (std::vector<std::string>{"one", "two"})) << "cut " << cut;
    q.reset();
    EXPECT_EQ(fs::file_size(LogPath()), before_last) << "torn tail not truncated, cut " << cut;
  }
  WriteFile(LogPath(), full);
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  EXPECT_EQ(Payloads(ClaimAll(*q)), (std::vector<std::string>{"one", "two", "three-a", "three-b"}));
}

TEST_F(EmbeddedQueueTest, WritesAfterATornTailAreReadable) {
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    EnqueueOne(*q, "one");
    EnqueueOne(*q, "two");
  }
  const std::string full = ReadFile(LogPath());
  WriteFile(LogPath(), full.substr(0, full.size() - 3));
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    EnqueueOne(*q, "three");
  }
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  EXPECT_EQ(Payloads(ClaimAll(*q)), (std::vector<std::string>{"one", "three"}));
}

// A flipped byte inside the log (not at its tail) is media corruption, not a torn write: the
// damaged record is skipped, every good record before and after it is kept, the damaged file is
// kept as queue.log.corrupt-<ms> and the log is rewritten clean.
TEST_F(EmbeddedQueueTest, CorruptMiddleRecordIsSkippedAndTheRestKept) {
  std::uint64_t second_start = 0;
  std::uint64_t second_end = 0;
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    EnqueueOne(*q, "first");
    second_start = fs::file_size(LogPath());
    EnqueueOne(*q, "second-payload");
    second_end = fs::file_size(LogPath());
    EnqueueOne(*q, "third");
  }
  const std::string full = ReadFile(LogPath());
  // Flip one byte in the body, and separately one in the length field of the header.
  for (std::uint64_t at : {(second_start + second_end) / 2, second_start + 9}) {
    std::string damaged = full;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x40);
    for (const auto& entry : fs::directory_iterator(Options().directory)) {
      if (entry.path().filename().string().starts_with("queue.log.corrupt")) {
        fs::remove(entry.path());
      }
    }
    WriteFile(LogPath(), damaged);
    {
      auto q = OpenQueue();
      ASSERT_TRUE(q);
      EXPECT_EQ(Payloads(ClaimAll(*q)), (std::vector<std::string>{"first", "third"}))
          << "flip at " << at;
    }
    int kept = 0;
    for (const auto& entry : fs::directory_iterator(Options().directory)) {
      if (entry.path().filename().string().starts_with("queue.log.corrupt")) {
        ++kept;
        EXPECT_EQ(ReadFile(entry.path()), damaged);
      }
    }
    EXPECT_EQ(kept, 1);
    // The rewritten log is clean: reopening finds nothing to repair and the same messages.
    const std::string rewritten = ReadFile(LogPath());
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    EXPECT_EQ(Payloads(ClaimAll(*q)), (std::vector<std::string>{"first", "third"}));
    q.reset();
    EXPECT_EQ(ReadFile(LogPath()), rewritten);
  }
}

// A payload may contain bytes that look like a record. When a record's body is damaged but its
// header is intact, recovery resumes after it and never parses records out of its payload.
TEST_F(EmbeddedQueueTest, RecordsInsideADamagedPayloadAreNotApplied) {
  MessageId first;
  std::uint64_t second_start = 0;
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    first = EnqueueOne(*q, "first");
    log::Record fake_ack;
    fake_ack.type = log::RecordType::kAck;
    fake_ack.ids = {first};
    std::string payload = "prefix";
    log::AppendRecord(fake_ack, payload);
    second_start = fs::file_size(LogPath());
    EnqueueOne(*q, payload);
    EnqueueOne(*q, "third");
  }
  std::string damaged = ReadFile(LogPath());
  damaged[second_start + log::kRecordHeaderSize + 6] ^= 0x01;  // inside the id, before the fake
  WriteFile(LogPath(), damaged);
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  EXPECT_EQ(Payloads(ClaimAll(*q)), (std::vector<std::string>{"first", "third"}));
}

TEST_F(EmbeddedQueueTest, CorruptLastRecordIsTreatedAsATornTail) {
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q);
    EnqueueOne(*q, "first");
    EnqueueOne(*q, "second");
  }
  std::string damaged = ReadFile(LogPath());
  damaged[damaged.size() - 2] ^= 0x01;
  WriteFile(LogPath(), damaged);
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  EXPECT_EQ(Payloads(ClaimAll(*q)), std::vector<std::string>{"first"});
}

// 8 threads x 500 concurrent EnqueueAsync with fsync on: every callback Ok, and far fewer
// fdatasync calls than enqueues because concurrent enqueues share one.
TEST_F(EmbeddedQueueTest, GroupCommitSharesFsyncs) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  constexpr int kTotal = kThreads * kPerThread;
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  const auto burst = contract::EnqueueBurst(*q, clock_, kThreads, kPerThread);
  ASSERT_TRUE(contract::EveryCallAccepted(burst, kTotal));
  const std::uint64_t syncs = q->sync_count();
  RecordProperty("sync_count", static_cast<int>(syncs));
  std::cout << "[ group commit ] " << kTotal << " enqueues, " << syncs << " fdatasync calls\n";
  EXPECT_GT(syncs, 0u);
  EXPECT_LT(syncs, static_cast<std::uint64_t>(kTotal / 4));
  q.reset();
  q = OpenQueue();
  ASSERT_TRUE(q);
  EXPECT_EQ(ClaimAll(*q).size(), static_cast<std::size_t>(kTotal));
}

TEST_F(EmbeddedQueueTest, NoFsyncModeNeverSyncs) {
  auto options = Options();
  options.fsync = false;
  auto q = OpenQueue(options);
  ASSERT_TRUE(q);
  EnqueueOne(*q, "x");
  EXPECT_EQ(q->sync_count(), 0u);
}

TEST_F(EmbeddedQueueTest, CompactionShrinksTheLogAndKeepsState) {
  auto options = Options();
  options.compact_min_bytes = 64 * 1024;
  const SystemTime t0 = clock_.Now();
  std::vector<MessageId> ids;
  const std::string payload(200, 'p');
  auto q = OpenQueue(options);
  ASSERT_TRUE(q);
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<NewMessage> messages;
    for (int i = 0; i < 100; ++i) {
      ids.push_back(MessageId::Generate(clock_.Now()));
      messages.push_back(NewMessage{ids.back(), payload + std::to_string(ids.size() - 1)});
    }
    ASSERT_TRUE(Enqueue(*q, std::move(messages)));
    clock_.Advance(milliseconds(1));
  }
  const std::uint64_t grown = fs::file_size(LogPath());
  ASSERT_GT(grown, 400'000u);
  ASSERT_EQ(ClaimAll(*q).size(), ids.size());
  // Keep 100: 60 un-acked (come back ready), 20 retried, 20 dead. Ack the rest.
  std::vector<RetryRequest> retries;
  std::vector<DeadLetterRequest> dead;
  for (int i = 60; i < 80; ++i) retries.push_back({ids[i], t0 + seconds(90), "later"});
  for (int i = 80; i < 100; ++i) dead.push_back({ids[i], "dead " + std::to_string(i)});
  ASSERT_TRUE(q->Retry(retries));
  ASSERT_TRUE(q->DeadLetter(dead));
  ASSERT_TRUE(q->Ack(std::span<const MessageId>(ids).subspan(100)));

  // Compaction runs on the writer thread right after the batch that crossed the threshold.
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (fs::file_size(LogPath()) >= grown / 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  const std::uint64_t compacted = fs::file_size(LogPath());
  EXPECT_LT(compacted, grown / 4) << "log was not compacted";

  // The queue keeps working on the new file, and a reopen sees the same state.
  const MessageId late = EnqueueOne(*q, "after compaction");
  q.reset();
  q = OpenQueue(options);
  ASSERT_TRUE(q);
  auto stats = q->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, 61u);
  EXPECT_EQ(stats->delayed, 20u);
  EXPECT_EQ(stats->dead, 20u);
  auto claimed = ClaimAll(*q);
  ASSERT_EQ(claimed.size(), 61u);
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(claimed[static_cast<std::size_t>(i)].id, ids[static_cast<std::size_t>(i)]);
    EXPECT_EQ(claimed[static_cast<std::size_t>(i)].payload, payload + std::to_string(i));
  }
  EXPECT_EQ(claimed[60].id, late);
  std::vector<MessageId> claimed_ids;
  for (const auto& m : claimed) claimed_ids.push_back(m.id);
  ASSERT_TRUE(q->Ack(claimed_ids));
  auto dead_letters = q->ListDeadLetters(0, 100);
  ASSERT_TRUE(dead_letters);
  ASSERT_EQ(dead_letters->size(), 20u);
  for (int i = 0; i < 20; ++i) {
    const auto& d = (*dead_letters)[static_cast<std::size_t>(i)];
    EXPECT_EQ(d.id, ids[static_cast<std::size_t>(80 + i)]);
    EXPECT_EQ(d.payload, payload + std::to_string(80 + i));
    EXPECT_EQ(d.reason, "dead " + std::to_string(80 + i));
    EXPECT_EQ(d.attempts, 1u);
  }
  clock_.Set(t0 + seconds(90));
  auto retried = ClaimAll(*q);
  ASSERT_EQ(retried.size(), 20u);
  EXPECT_EQ(retried[0].id, ids[60]);
  EXPECT_EQ(retried[0].last_error, "later");
  EXPECT_EQ(retried[0].attempts, 2u);
}

// Disk write errors: with RLIMIT_FSIZE at the current log size every write fails (EFBIG). The
// callers get kQueueUnavailable, nothing of theirs is applied, and once the disk is writable
// again the queue carries on; the failed records never come back.
TEST_F(EmbeddedQueueTest, WriteErrorsFailTheCallersAndLeaveTheQueueConsistent) {
  auto q = OpenQueue();
  ASSERT_TRUE(q);
  const MessageId kept = EnqueueOne(*q, "kept");
  auto claimed = ClaimAll(*q);
  ASSERT_EQ(claimed.size(), 1u);

  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = static_cast<rlim_t>(fs::file_size(LogPath()));
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);

  const Status enqueue = Enqueue(*q, {NewMessage{MessageId::Generate(clock_.Now()), "lost"}});
  const MessageId ack[] = {kept};
  const Status acked = q->Ack(ack);

  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ::signal(SIGXFSZ, old_handler);

  ASSERT_FALSE(enqueue);
  EXPECT_EQ(enqueue.error().code, ErrorCode::kQueueUnavailable);
  ASSERT_FALSE(acked);
  EXPECT_EQ(acked.error().code, ErrorCode::kQueueUnavailable);
  auto stats = q->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ready, 0u);
  EXPECT_EQ(stats->in_flight, 1u) << "a failed Ack must not remove the message";

  EnqueueOne(*q, "after");
  q.reset();
  q = OpenQueue();
  ASSERT_TRUE(q);
  EXPECT_EQ(Payloads(ClaimAll(*q)), (std::vector<std::string>{"kept", "after"}));
}

// Runs a child process that enqueues in a loop (64 calls outstanding, 0.1-4 KB payloads) and
// writes each id whose callback said Ok to a pipe; SIGKILLs it once `acks` ids have arrived.
// Returns every id the child acknowledged before it died.
std::vector<std::string> EnqueueUntilKilled(const EmbeddedQueueOptions& options, int acks) {
  std::vector<std::string> acknowledged;
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return acknowledged;
  }
  const pid_t child = ::fork();
  if (child < 0) {
    ADD_FAILURE() << "fork failed";
    return acknowledged;
  }
  if (child == 0) {
    ::close(fds[0]);
    ::alarm(120);  // never outlive a broken parent
    auto opened = EmbeddedQueue::Open(options, SystemClock::Instance());
    if (!opened) ::_exit(2);
    auto& q = **opened;
    std::atomic<int> outstanding{0};
    const int out = fds[1];
    for (int i = 0; i < 10'000'000; ++i) {
      while (outstanding.load() >= 64) std::this_thread::yield();
      ++outstanding;
      const MessageId id = MessageId::Generate(std::chrono::system_clock::now());
      const std::size_t size = 100 + static_cast<std::size_t>(i * 7919) % 4000;
      q.EnqueueAsync({NewMessage{id, std::string(size, static_cast<char>('a' + i % 26))}},
                     [line = id.str() + "\n", out, &outstanding](Status s) {
                       if (s) {
                         // One line is far below PIPE_BUF, so each write is atomic.
                         if (::write(out, line.data(), line.size()) < 0) ::_exit(3);
                       }
                       --outstanding;
                     });
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string received;
  auto lines = [&] { return std::count(received.begin(), received.end(), '\n'); };
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  char buf[4096];
  while (lines() < acks && std::chrono::steady_clock::now() < deadline) {
    struct pollfd p {
      fds[0], POLLIN, 0
    };
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    received.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child ended early, status " << status;
  for (;;) {  // what the child acknowledged before it died
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    received.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  EXPECT_GE(lines(), acks);
  std::size_t start = 0;
  for (std::size_t nl = received.find('\n'); nl != std::string::npos;
       start = nl + 1, nl = received.find('\n', start)) {
    acknowledged.push_back(received.substr(start, nl - start));
  }
  return acknowledged;
}

// kill -9 during a stream of enqueues, three times on the same directory (each child recovers
// what the previous one left, torn tail included): every id whose callback said Ok before a kill
// is in the reopened queue exactly once.
TEST_F(EmbeddedQueueTest, KillNineLosesNoAcknowledgedEnqueue) {
  const EmbeddedQueueOptions options = Options();
  std::set<std::string> acknowledged;
  for (int acks : {300, 1500, 700}) {
    for (auto& id : EnqueueUntilKilled(options, acks)) acknowledged.insert(std::move(id));
    ASSERT_FALSE(HasFailure());
  }
  auto opened = EmbeddedQueue::Open(options, SystemClock::Instance());
  ASSERT_TRUE(opened) << opened.error().message;
  auto& q = *opened;
  std::map<std::string, int> present;
  for (const auto& m : ClaimAll(*q)) ++present[m.id.str()];
  std::size_t missing = 0;
  std::size_t duplicated = 0;
  for (const auto& id : acknowledged) {
    const auto it = present.find(id);
    if (it == present.end()) {
      ++missing;
    } else if (it->second != 1) {
      ++duplicated;
    }
  }
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged";
  EXPECT_EQ(duplicated, 0u);
  EXPECT_GE(present.size(), acknowledged.size());
  std::cout << "[ kill -9 ] " << acknowledged.size() << " acknowledged, " << present.size()
            << " recovered\n";
}

}  // namespace
}  // namespace msgbroker::queue
