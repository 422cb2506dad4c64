#include "msgbroker/queue/embedded_queue.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "log_format.hpp"
#include "msgbroker/core/time_format.hpp"

namespace msgbroker::queue {
namespace {

namespace fs = std::filesystem;

constexpr char kLogName[] = "queue.log";
constexpr char kCompactName[] = "queue.log.compact";
constexpr char kLockName[] = "LOCK";
// Compaction writes ENQUEUE records of about this size, and flushes its buffer at kFlushBytes.
constexpr std::size_t kCompactRecordBytes = 1u << 20;
constexpr std::size_t kCompactDeadPerRecord = 4096;
constexpr std::size_t kFlushBytes = 4u << 20;
// A blocked Claim re-reads the injected clock at least this often (a FakeClock moves silently).
constexpr std::chrono::milliseconds kMaxWaitSlice{50};

std::string ErrnoText(int err) { return std::system_category().message(err); }

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  void Reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

Status WriteAll(int fd, std::string_view data, std::uint64_t offset, const fs::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(ErrorCode::kQueueUnavailable,
                  "queue log " + path.string() + ": write failed: " + ErrnoText(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return Ok();
}

Status SyncDirectory(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) {
    return Fail(ErrorCode::kQueueUnavailable,
                "queue directory " + dir.string() + ": fsync failed: " + ErrnoText(errno));
  }
  return Ok();
}

enum class State : std::uint8_t { kReady, kDelayed, kInFlight, kDead };

struct Message {
  MessageId id;
  std::shared_ptr<const std::string> payload;
  std::uint64_t seq = 0;  // log order; ties in every index are broken by it
  SystemTime enqueued_at{};
  SystemTime not_before{};
  std::uint32_t attempts = 0;
  std::string last_error;
  State state = State::kReady;
  SystemTime lease_deadline{};        // kInFlight
  std::string reason;                 // kDead
  SystemTime dead_at{};               // kDead
  std::uint64_t compacted_bytes = 0;  // what compaction would write for it
};

using Key = std::pair<SystemTime, std::uint64_t>;  // (time, seq)

std::uint64_t DeadRecordBytes(const Message& m) {
  return log::kRecordHeaderSize + 4 + 2 + m.id.str().size() + 8 + 4 + 4 + m.reason.size();
}

log::EnqueueEntry EntryOf(const Message& m) {
  return log::EnqueueEntry{m.id, m.enqueued_at, m.not_before, m.attempts, m.last_error, m.payload};
}

}  // namespace

struct EmbeddedQueue::Impl {
  struct Op {
    log::Record record;
    std::function<void(Status)> done;
    std::size_t reserved = 0;  // messages counted against max_messages until applied
  };

  Impl(EmbeddedQueueOptions opts, const Clock& c) : options(std::move(opts)), clock(c) {
    log_path = options.directory / kLogName;
  }
  ~Impl() { Close(); }

  // ---- open and recovery ------------------------------------------------------------------

  Status OpenFiles();
  Status Recover();
  Status CreateEmptyLog();

  // ---- the writer thread ------------------------------------------------------------------

  void WriterLoop();
  Status AppendToLog(std::string_view bytes);
  bool ShouldCompact() const {
    return log_size > options.compact_min_bytes && live_bytes * 4 < log_size &&
           log_size >= compact_retry_size;
  }
  Status Compact();

  // ---- state (all with `mu` held) ---------------------------------------------------------

  Status Apply(const log::Record& record, SystemTime now);
  void Detach(Message& m);
  void MakeWaiting(Message& m, SystemTime now);
  void Housekeep(SystemTime now);
  bool IsLive(const Message& m) const { return m.state != State::kDead; }
  Message* Find(const MessageId& id) {
    auto it = messages.find(id);
    return it == messages.end() ? nullptr : &it->second;
  }
  // The message `id` if it is a dead letter; kNotFound otherwise.
  Result<Message*> FindDead(const MessageId& id) {
    Message* m = Find(id);
    if (m == nullptr || m->state != State::kDead) {
      return Fail(ErrorCode::kNotFound, "no dead letter " + id.str());
    }
    return m;
  }
  Status Unavailable() const {
    if (closed) return tl::unexpected(QueueClosedError());
    return Fail(ErrorCode::kQueueUnavailable,
                "queue log " + log_path.string() + " is unusable after a write error; reopen it");
  }

  // Queues `record` for the writer (with `mu` held via `lock`, which is released) and waits
  // until it is durable and applied.
  Status SubmitAndWait(log::Record record, std::unique_lock<std::mutex>& lock);
  // ReplayDeadLetter and DiscardDeadLetter: a kReplay or kDiscard record for one dead letter.
  Status SubmitForDeadLetter(const MessageId& id, log::RecordType type);

  void Close();

  EmbeddedQueueOptions options;
  const Clock& clock;
  fs::path log_path;
  UniqueFd lock_fd;
  UniqueFd log_fd;             // the writer thread's after Open
  std::uint64_t log_size = 0;  // bytes of good records in the log; writer thread after Open
  std::uint64_t compact_retry_size = 0;  // after a failed compaction, wait for the log to grow
  std::atomic<std::uint64_t> syncs{0};
  std::atomic<bool> broken{false};  // a failed write could not be rolled back

  std::mutex mu;
  std::condition_variable writer_cv;
  std::condition_variable claim_cv;
  bool closed = false;
  std::string pending_bytes;
  std::vector<Op> pending_ops;
  std::size_t pending_messages = 0;

  std::unordered_map<MessageId, Message> messages;  // every known message, dead ones included
  std::map<Key, Message*> ready;                    // (not_before, seq)
  std::map<Key, Message*> delayed;                  // (not_before, seq)
  std::map<Key, Message*> leases;                   // (lease_deadline, seq)
  std::map<Key, Message*> dead;                     // (dead_at, seq)
  std::set<Key> ready_by_age;                       // (enqueued_at, seq) of ready messages
  std::uint64_t next_seq = 0;
  std::size_t live_count = 0;    // ready + delayed + in flight
  std::uint64_t live_bytes = 0;  // what a compacted log would hold

  std::mutex close_mu;
  std::thread writer;
};

// ---- state ------------------------------------------------------------------------------------

void EmbeddedQueue::Impl::Detach(Message& m) {
  switch (m.state) {
    case State::kReady:
      ready.erase(Key{m.not_before, m.seq});
      ready_by_age.erase(Key{m.enqueued_at, m.seq});
      break;
    case State::kDelayed:
      delayed.erase(Key{m.not_before, m.seq});
      break;
    case State::kInFlight:
      leases.erase(Key{m.lease_deadline, m.seq});
      break;
    case State::kDead:
      dead.erase(Key{m.dead_at, m.seq});
      break;
  }
}

// A message is due when its not_before has passed. One whose not_before is no later than its
// enqueue time (fresh or replayed, i.e. not waiting for a Retry) is due whatever the clock says,
// so a wall clock that steps backwards (at boot, by NTP) never stalls the queue.
void EmbeddedQueue::Impl::MakeWaiting(Message& m, SystemTime now) {
  if (m.not_before <= now || m.not_before <= m.enqueued_at) {
    m.state = State::kReady;
    ready.emplace(Key{m.not_before, m.seq}, &m);
    ready_by_age.emplace(m.enqueued_at, m.seq);
  } else {
    m.state = State::kDelayed;
    delayed.emplace(Key{m.not_before, m.seq}, &m);
  }
}

void EmbeddedQueue::Impl::Housekeep(SystemTime now) {
  while (!leases.empty() && leases.begin()->first.first <= now) {
    Message* m = leases.begin()->second;
    leases.erase(leases.begin());
    MakeWaiting(*m, now);
  }
  while (!delayed.empty() && delayed.begin()->first.first <= now) {
    Message* m = delayed.begin()->second;
    delayed.erase(delayed.begin());
    MakeWaiting(*m, now);
  }
}

// Applies one durable record. Live operation and recovery both go through here, in log order, so
// the state after a restart is the state before it (minus leases, which are not logged).
Status EmbeddedQueue::Impl::Apply(const log::Record& r, SystemTime now) {
  switch (r.type) {
    case log::RecordType::kEnqueue:
      for (const auto& e : r.enqueue) {
        auto [it, inserted] = messages.try_emplace(e.id);
        if (!inserted) continue;  // duplicate id: the first copy wins
        Message& m = it->second;
        m.id = e.id;
        m.payload = e.payload;
        m.seq = next_seq++;
        m.enqueued_at = e.enqueued_at;
        m.not_before = e.not_before;
        m.attempts = e.attempts;
        m.last_error = e.last_error;
        m.compacted_bytes = log::EncodedEnqueueSize(e);
        MakeWaiting(m, now);
        ++live_count;
        live_bytes += m.compacted_bytes;
      }
      return Ok();
    case log::RecordType::kAck:
      for (const auto& id : r.ids) {
        Message* m = Find(id);
        if (m == nullptr || !IsLive(*m)) continue;
        Detach(*m);
        --live_count;
        live_bytes -= m->compacted_bytes;
        messages.erase(id);
      }
      return Ok();
    case log::RecordType::kRetry:
      for (const auto& e : r.retry) {
        Message* m = Find(e.id);
        if (m == nullptr || !IsLive(*m)) continue;
        Detach(*m);
        live_bytes -= m->compacted_bytes;
        m->not_before = e.not_before;
        m->attempts = e.attempts;
        m->last_error = e.error;
        m->compacted_bytes = log::EncodedEnqueueSize(EntryOf(*m));
        live_bytes += m->compacted_bytes;
        MakeWaiting(*m, now);
      }
      return Ok();
    case log::RecordType::kDead:
      for (const auto& e : r.dead) {
        Message* m = Find(e.id);
        if (m == nullptr || !IsLive(*m)) continue;
        Detach(*m);
        --live_count;
        m->state = State::kDead;
        m->attempts = e.attempts;
        m->reason = e.reason;
        m->dead_at = e.dead_at;
        dead.emplace(Key{m->dead_at, m->seq}, m);
        const std::uint64_t extra = DeadRecordBytes(*m);
        m->compacted_bytes += extra;
        live_bytes += extra;
      }
      return Ok();
    case log::RecordType::kReplay: {
      auto found = FindDead(r.ids.at(0));
      if (!found) return tl::unexpected(std::move(found.error()));
      Message* m = *found;
      Detach(*m);
      live_bytes -= m->compacted_bytes;
      m->attempts = 0;
      m->last_error.clear();
      m->reason.clear();
      m->not_before = m->enqueued_at;  // due at once, back in its original place
      m->compacted_bytes = log::EncodedEnqueueSize(EntryOf(*m));
      live_bytes += m->compacted_bytes;
      ++live_count;
      MakeWaiting(*m, now);
      return Ok();
    }
    case log::RecordType::kDiscard: {
      auto found = FindDead(r.ids.at(0));
      if (!found) return tl::unexpected(std::move(found.error()));
      Message* m = *found;
      Detach(*m);
      live_bytes -= m->compacted_bytes;
      messages.erase(r.ids.at(0));
      return Ok();
    }
  }
  return Fail(ErrorCode::kInternal, "unknown queue log record type");
}

// ---- open and recovery ------------------------------------------------------------------------

Status EmbeddedQueue::Impl::OpenFiles() {
  const fs::path& dir = options.directory;
  if (dir.empty()) return Fail(ErrorCode::kInvalidRequest, "queue directory is not set");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Fail(ErrorCode::kQueueUnavailable,
                "queue directory " + dir.string() + ": cannot create: " + ec.message());
  }
  const fs::path lock_path = dir / kLockName;
  lock_fd = UniqueFd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock_fd.valid()) {
    return Fail(ErrorCode::kQueueUnavailable, "queue directory " + dir.string() + ": cannot open " +
                                                  lock_path.string() + ": " + ErrnoText(errno));
  }
  if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      return Fail(ErrorCode::kQueueUnavailable,
                  "queue directory " + dir.string() +
                      " is already in use by another queue (lock held on " + lock_path.string() +
                      ")");
    }
    return Fail(ErrorCode::kQueueUnavailable,
                "queue directory " + dir.string() + ": cannot lock: " + ErrnoText(err));
  }
  fs::remove(dir / kCompactName, ec);  // an interrupted compaction; the old log is intact
  if (!fs::exists(log_path, ec)) {
    if (auto s = CreateEmptyLog(); !s) return s;
  }
  log_fd = UniqueFd(::open(log_path.c_str(), O_RDWR | O_CLOEXEC));
  if (!log_fd.valid()) {
    return Fail(ErrorCode::kQueueUnavailable,
                "queue log " + log_path.string() + ": cannot open: " + ErrnoText(errno));
  }
  return Ok();
}

Status EmbeddedQueue::Impl::CreateEmptyLog() {
  const fs::path tmp = options.directory / kCompactName;
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return Fail(ErrorCode::kQueueUnavailable,
                "queue log " + tmp.string() + ": cannot create: " + ErrnoText(errno));
  }
  if (auto s = WriteAll(fd.get(), log::EncodeFileHeader(), 0, tmp); !s) return s;
  if (::fdatasync(fd.get()) != 0 || ::rename(tmp.c_str(), log_path.c_str()) != 0) {
    return Fail(ErrorCode::kQueueUnavailable,
                "queue log " + log_path.string() + ": cannot create: " + ErrnoText(errno));
  }
  return SyncDirectory(options.directory);
}

Status EmbeddedQueue::Impl::Recover() {
  struct stat st {};
  if (::fstat(log_fd.get(), &st) != 0) {
    return Fail(ErrorCode::kQueueUnavailable,
                "queue log " + log_path.string() + ": cannot stat: " + ErrnoText(errno));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::string header = log::EncodeFileHeader();
  if (size < header.size()) {
    // Empty, or a partial header (the log is created complete and renamed into place, so only a
    // filesystem that lost data leaves this): start over if what is there is a header prefix.
    std::string head(size, '\0');
    if (size > 0 && ::pread(log_fd.get(), head.data(), size, 0) != static_cast<ssize_t>(size)) {
      return Fail(ErrorCode::kQueueUnavailable,
                  "queue log " + log_path.string() + ": cannot read: " + ErrnoText(errno));
    }
    if (header.compare(0, size, head) != 0) {
      return Fail(ErrorCode::kDataCorrupted,
                  "queue log " + log_path.string() + " is not a msgbroker queue log");
    }
    if (::ftruncate(log_fd.get(), 0) != 0) {
      return Fail(ErrorCode::kQueueUnavailable,
                  "queue log " + log_path.string() + ": cannot truncate: " + ErrnoText(errno));
    }
    if (auto s = WriteAll(log_fd.get(), header, 0, log_path); !s) return s;
    if (::fdatasync(log_fd.get()) != 0) {
      return Fail(ErrorCode::kQueueUnavailable,
                  "queue log " + log_path.string() + ": fdatasync failed: " + ErrnoText(errno));
    }
    log_size = header.size();
    return Ok();
  }

  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, log_fd.get(), 0);
  if (map == MAP_FAILED) {
    return Fail(ErrorCode::kQueueUnavailable,
                "queue log " + log_path.string() + ": cannot map: " + ErrnoText(errno));
  }
  const std::string_view data(static_cast<const char*>(map), size);
  struct Unmap {
    void* p;
    std::size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{map, size};

  if (data.substr(0, log::kFileMagic.size()) != log::kFileMagic) {
    return Fail(ErrorCode::kDataCorrupted,
                "queue log " + log_path.string() + " is not a msgbroker queue log (bad header)");
  }
  if (data.substr(0, header.size()) != header) {
    return Fail(ErrorCode::kDataCorrupted,
                "queue log " + log_path.string() + " has an unsupported format version");
  }

  const std::string magic = [] {
    std::string m;
    for (int i = 0; i < 4; ++i)
      m.push_back(static_cast<char>((log::kRecordMagic >> (8 * i)) & 0xFF));
    return m;
  }();
  // The offset of the next record after `from` that parses, or npos.
  auto find_next = [&](std::size_t from) {
    for (std::size_t at = data.find(magic, from); at != std::string_view::npos;
         at = data.find(magic, at + 1)) {
      if (log::ParseRecord(data.substr(at)).status == log::ParseStatus::kOk) return at;
    }
    return std::string_view::npos;
  };

  const SystemTime now = clock.Now();
  std::size_t pos = header.size();
  std::size_t good_end = pos;
  std::uint64_t skipped = 0;
  while (pos < size) {
    log::ParseResult parsed = log::ParseRecord(data.substr(pos));
    if (parsed.status == log::ParseStatus::kOk) {
      static_cast<void>(Apply(parsed.record, now));
      pos += parsed.size;
      good_end = pos;
      continue;
    }
    // If the header is intact and a good record starts right where it says this one ends, only
    // its body is damaged: resume there instead of searching inside the damaged body.
    std::size_t next = std::string_view::npos;
    const auto claimed = log::ClaimedRecordSize(data.substr(pos));
    if (claimed && *claimed < size - pos &&
        log::ParseRecord(data.substr(pos + *claimed)).status == log::ParseStatus::kOk) {
      next = pos + *claimed;
    } else {
      next = find_next(pos + 1);
    }
    if (next == std::string_view::npos) break;  // a torn or corrupt tail: cut below
    spdlog::warn("event=queue_log_corrupt_record path={} offset={} skipped_bytes={}",
                 log_path.string(), pos, next - pos);
    skipped += next - pos;
    pos = next;
  }

  if (skipped > 0) {
    // Corruption inside the log: keep the damaged file for inspection and rewrite the log from
    // what was recovered (Compact replaces queue.log atomically).
    const fs::path keep = options.directory / (std::string(kLogName) + ".corrupt-" +
                                               std::to_string(ToUnixMillis(clock.Now())));
    if (::link(log_path.c_str(), keep.c_str()) != 0) {
      return Fail(
          ErrorCode::kQueueUnavailable,
          "queue log " + log_path.string() + ": cannot keep corrupt copy: " + ErrnoText(errno));
    }
    spdlog::error("event=queue_log_corrupt path={} skipped_bytes={} kept_copy={}",
                  log_path.string(), skipped, keep.string());
    return Compact();
  }
  if (good_end < size) {
    spdlog::warn("event=queue_log_torn_tail path={} offset={} cut_bytes={}", log_path.string(),
                 good_end, size - good_end);
    if (::ftruncate(log_fd.get(), static_cast<off_t>(good_end)) != 0 ||
        ::fdatasync(log_fd.get()) != 0) {
      return Fail(ErrorCode::kQueueUnavailable,
                  "queue log " + log_path.string() + ": cannot cut torn tail: " + ErrnoText(errno));
    }
  }
  log_size = good_end;
  return Ok();
}

// ---- the writer thread ------------------------------------------------------------------------

Status EmbeddedQueue::Impl::AppendToLog(std::string_view bytes) {
  if (broken) return Unavailable();
  Status s = WriteAll(log_fd.get(), bytes, log_size, log_path);
  if (s && options.fsync) {
    if (::fdatasync(log_fd.get()) != 0) {
      s = Fail(ErrorCode::kQueueUnavailable,
               "queue log " + log_path.string() + ": fdatasync failed: " + ErrnoText(errno));
    }
    syncs.fetch_add(1, std::memory_order_relaxed);
  }
  if (s) {
    log_size += bytes.size();
    return s;
  }
  // Roll the file back to the last durable record so nothing of the failed batch can come back
  // at the next open. If even that fails the log is in an unknown state: refuse further writes.
  spdlog::error("event=queue_log_write_failed path={} error=\"{}\"", log_path.string(),
                s.error().message);
  if (::ftruncate(log_fd.get(), static_cast<off_t>(log_size)) != 0 ||
      (options.fsync && ::fdatasync(log_fd.get()) != 0)) {
    spdlog::error("event=queue_log_rollback_failed path={} error=\"{}\"", log_path.string(),
                  ErrnoText(errno));
    broken = true;
  }
  return s;
}

void EmbeddedQueue::Impl::WriterLoop() {
  std::string bytes;
  std::vector<Op> ops;
  std::vector<Status> results;
  std::unique_lock lock(mu);
  for (;;) {
    writer_cv.wait(lock, [&] { return !pending_ops.empty() || closed; });
    if (pending_ops.empty()) return;  // closed and drained
    bytes.swap(pending_bytes);
    ops.swap(pending_ops);
    lock.unlock();

    const Status written = AppendToLog(bytes);

    lock.lock();
    const SystemTime now = clock.Now();
    results.clear();
    for (auto& op : ops) {
      results.push_back(written ? Apply(op.record, now) : written);
      pending_messages -= op.reserved;
    }
    claim_cv.notify_all();
    const bool compact = written && ShouldCompact();
    lock.unlock();

    for (std::size_t i = 0; i < ops.size(); ++i) {
      try {
        ops[i].done(std::move(results[i]));
      } catch (const std::exception& e) {
        spdlog::error("event=queue_callback_threw error=\"{}\"", e.what());
      } catch (...) {
        spdlog::error("event=queue_callback_threw");
      }
    }
    ops.clear();
    bytes.clear();
    if (compact) {
      if (auto s = Compact(); !s) {
        spdlog::error("event=queue_compaction_failed error=\"{}\"", s.error().message);
        compact_retry_size = log_size * 2;
      }
    }
    lock.lock();
    if (pending_bytes.empty()) pending_bytes.swap(bytes);  // reuse the buffer's capacity
  }
}

// Rewrites the live state into a new file and atomically replaces the log with it. Runs on the
// writer thread (or in Open before it starts), so no record is appended meanwhile; producers keep
// filling the pending buffer.
Status EmbeddedQueue::Impl::Compact() {
  struct Snap {
    std::uint64_t seq;
    log::EnqueueEntry entry;
    std::optional<log::DeadEntry> dead;
  };
  std::vector<Snap> snap;
  {
    std::lock_guard lock(mu);
    snap.reserve(messages.size());
    for (const auto& [id, m] : messages) {
      Snap s{m.seq, EntryOf(m), std::nullopt};
      if (m.state == State::kDead) s.dead = log::DeadEntry{m.id, m.dead_at, m.attempts, m.reason};
      snap.push_back(std::move(s));
    }
  }
  std::sort(snap.begin(), snap.end(), [](const Snap& a, const Snap& b) { return a.seq < b.seq; });

  const fs::path tmp = options.directory / kCompactName;
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return Fail(ErrorCode::kQueueUnavailable,
                "queue log " + tmp.string() + ": cannot create: " + ErrnoText(errno));
  }
  std::string buf = log::EncodeFileHeader();
  std::uint64_t written = 0;
  Status status = Ok();
  auto flush = [&](bool force) {
    if (status && (force || buf.size() >= kFlushBytes)) {
      status = WriteAll(fd.get(), buf, written, tmp);
      written += buf.size();
      buf.clear();
    }
  };
  log::Record record;
  record.type = log::RecordType::kEnqueue;
  std::size_t record_bytes = 0;
  for (const Snap& s : snap) {
    record_bytes += log::EncodedEnqueueSize(s.entry);
    record.enqueue.push_back(s.entry);
    if (record_bytes >= kCompactRecordBytes) {
      log::AppendRecord(record, buf);
      record.enqueue.clear();
      record_bytes = 0;
      flush(false);
    }
  }
  if (!record.enqueue.empty()) log::AppendRecord(record, buf);
  record = log::Record{};
  record.type = log::RecordType::kDead;
  for (const Snap& s : snap) {
    if (!s.dead) continue;
    record.dead.push_back(*s.dead);
    if (record.dead.size() >= kCompactDeadPerRecord) {
      log::AppendRecord(record, buf);
      record.dead.clear();
      flush(false);
    }
  }
  if (!record.dead.empty()) log::AppendRecord(record, buf);
  flush(true);
  if (status && options.fsync) {
    if (::fdatasync(fd.get()) != 0) {
      status = Fail(ErrorCode::kQueueUnavailable,
                    "queue log " + tmp.string() + ": fdatasync failed: " + ErrnoText(errno));
    }
    syncs.fetch_add(1, std::memory_order_relaxed);
  }
  if (status && ::rename(tmp.c_str(), log_path.c_str()) != 0) {
    status = Fail(ErrorCode::kQueueUnavailable,
                  "queue log " + log_path.string() + ": cannot replace: " + ErrnoText(errno));
  }
  if (!status) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return status;
  }
  const std::uint64_t before = log_size;
  log_fd = std::move(fd);
  log_size = written;
  spdlog::info("event=queue_log_compacted path={} bytes_before={} bytes_after={} messages={}",
               log_path.string(), before, written, snap.size());
  if (options.fsync) return SyncDirectory(options.directory);
  return Ok();
}

Status EmbeddedQueue::Impl::SubmitAndWait(log::Record record, std::unique_lock<std::mutex>& lock) {
  std::string bytes;
  log::AppendRecord(record, bytes);
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> result = promise->get_future();
  const bool was_idle = pending_ops.empty();
  pending_bytes += bytes;
  pending_ops.push_back(
      Op{std::move(record), [promise](Status s) { promise->set_value(std::move(s)); }, 0});
  lock.unlock();
  if (was_idle) writer_cv.notify_one();
  return result.get();
}

void EmbeddedQueue::Impl::Close() {
  std::lock_guard close_lock(close_mu);
  {
    std::lock_guard lock(mu);
    closed = true;
  }
  writer_cv.notify_all();
  claim_cv.notify_all();
  // From a completion callback (on the writer thread) the writer cannot be joined; it stops on
  // its own once it has drained, and the destructor joins it.
  if (writer.joinable() && writer.get_id() != std::this_thread::get_id()) writer.join();
}

// ---- EmbeddedQueue ----------------------------------------------------------------------------

Result<std::unique_ptr<EmbeddedQueue>> EmbeddedQueue::Open(EmbeddedQueueOptions options,
                                                           const Clock& clock) {
  auto impl = std::make_unique<Impl>(std::move(options), clock);
  if (auto s = impl->OpenFiles(); !s) return tl::unexpected(s.error());
  if (auto s = impl->Recover(); !s) return tl::unexpected(s.error());
  try {
    impl->writer = std::thread([p = impl.get()] { p->WriterLoop(); });
  } catch (const std::system_error& e) {
    return Fail(ErrorCode::kQueueUnavailable, "queue directory " +
                                                  impl->options.directory.string() +
                                                  ": cannot start writer thread: " + e.what());
  }
  spdlog::info("event=queue_opened path={} messages={} log_bytes={}", impl->log_path.string(),
               impl->messages.size(), impl->log_size);
  return std::unique_ptr<EmbeddedQueue>(new EmbeddedQueue(std::move(impl)));
}

EmbeddedQueue::EmbeddedQueue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EmbeddedQueue::~EmbeddedQueue() = default;

void EmbeddedQueue::EnqueueAsync(std::vector<NewMessage> messages, EnqueueCallback done) {
  Impl& q = *impl_;
  if (auto ok = ValidateNewMessages(messages, q.options.max_payload_bytes); !ok) {
    done(std::move(ok));
    return;
  }
  const SystemTime now = log::ToLogTime(q.clock.Now());
  log::Record record;
  record.type = log::RecordType::kEnqueue;
  record.enqueue.reserve(messages.size());
  for (auto& m : messages) {
    record.enqueue.push_back(log::EnqueueEntry{
        m.id, now, now, 0, {}, std::make_shared<const std::string>(std::move(m.payload))});
  }
  std::string bytes;
  log::AppendRecord(record, bytes);
  if (bytes.size() - log::kRecordHeaderSize > log::kMaxBodyBytes) {
    done(Fail(ErrorCode::kPayloadTooLarge, "enqueue batch is too large for one log record"));
    return;
  }
  const std::size_t n = messages.size();

  std::unique_lock lock(q.mu);
  if (q.closed || q.broken) {
    Status error = q.Unavailable();
    lock.unlock();
    done(std::move(error));
    return;
  }
  if (n == 0) {
    lock.unlock();
    done(Ok());
    return;
  }
  if (q.live_count + q.pending_messages + n > q.options.max_messages) {
    lock.unlock();
    done(Fail(ErrorCode::kQueueUnavailable,
              "queue is full (max_messages " + std::to_string(q.options.max_messages) + ")"));
    return;
  }
  const bool was_idle = q.pending_ops.empty();
  q.pending_messages += n;
  q.pending_bytes += bytes;
  q.pending_ops.push_back(Impl::Op{std::move(record), std::move(done), n});
  lock.unlock();
  if (was_idle) q.writer_cv.notify_one();
}

Result<std::vector<ClaimedMessage>> EmbeddedQueue::Claim(
    std::string_view consumer, std::size_t max, std::chrono::milliseconds visibility_timeout,
    std::chrono::milliseconds wait) {
  static_cast<void>(consumer);  // leases are anonymous here; the id names the message
  Impl& q = *impl_;
  const auto real_deadline = std::chrono::steady_clock::now() + wait;
  std::unique_lock lock(q.mu);
  SystemTime now;
  for (;;) {
    if (q.closed) return tl::unexpected(QueueClosedError());
    now = q.clock.Now();
    q.Housekeep(now);
    if (!q.ready.empty() || max == 0) break;
    const auto real_now = std::chrono::steady_clock::now();
    if (real_now >= real_deadline) return std::vector<ClaimedMessage>{};
    // Sleep until the deadline, the next retry time or lease expiry (by the injected clock), or
    // a notification; never longer than kMaxWaitSlice, so a FakeClock is re-read.
    auto slice =
        std::min<std::chrono::steady_clock::duration>(real_deadline - real_now, kMaxWaitSlice);
    for (const auto* index : {&q.delayed, &q.leases}) {
      if (!index->empty()) {
        const auto until = index->begin()->first.first - now;
        slice = std::min<std::chrono::steady_clock::duration>(
            slice, std::chrono::duration_cast<std::chrono::steady_clock::duration>(until));
      }
    }
    q.claim_cv.wait_for(lock, slice);
  }
  std::vector<ClaimedMessage> out;
  out.reserve(std::min(max, q.ready.size()));
  while (out.size() < max && !q.ready.empty()) {
    Message* m = q.ready.begin()->second;
    q.Detach(*m);
    m->state = State::kInFlight;
    ++m->attempts;
    m->lease_deadline = now + visibility_timeout;
    q.leases.emplace(Key{m->lease_deadline, m->seq}, m);
    out.push_back(ClaimedMessage{m->id, *m->payload, m->attempts, m->enqueued_at, m->last_error});
  }
  return out;
}

Status EmbeddedQueue::Ack(std::span<const MessageId> ids) {
  Impl& q = *impl_;
  std::unique_lock lock(q.mu);
  if (q.closed || q.broken) return q.Unavailable();
  log::Record record;
  record.type = log::RecordType::kAck;
  std::unordered_set<MessageId> seen;
  for (const auto& id : ids) {
    const Message* m = q.Find(id);
    if (m != nullptr && q.IsLive(*m) && seen.insert(id).second) record.ids.push_back(id);
  }
  if (record.ids.empty()) return Ok();  // unknown or already acknowledged: nothing to do
  return q.SubmitAndWait(std::move(record), lock);
}

Status EmbeddedQueue::Retry(std::span<const RetryRequest> retries) {
  Impl& q = *impl_;
  std::unique_lock lock(q.mu);
  if (q.closed || q.broken) return q.Unavailable();
  log::Record record;
  record.type = log::RecordType::kRetry;
  std::unordered_set<MessageId> seen;
  for (const auto& r : retries) {
    const Message* m = q.Find(r.id);
    if (m == nullptr || !q.IsLive(*m) || !seen.insert(r.id).second) continue;
    const std::uint32_t attempts =
        r.refund_attempt && m->attempts > 0 ? m->attempts - 1 : m->attempts;
    record.retry.push_back(log::RetryEntry{r.id, log::ToLogTime(r.not_before), attempts, r.error});
  }
  if (record.retry.empty()) return Ok();
  return q.SubmitAndWait(std::move(record), lock);
}

Status EmbeddedQueue::DeadLetter(std::span<const DeadLetterRequest> dead) {
  Impl& q = *impl_;
  std::unique_lock lock(q.mu);
  if (q.closed || q.broken) return q.Unavailable();
  const SystemTime now = log::ToLogTime(q.clock.Now());
  log::Record record;
  record.type = log::RecordType::kDead;
  std::unordered_set<MessageId> seen;
  for (const auto& d : dead) {
    const Message* m = q.Find(d.id);
    if (m == nullptr || !q.IsLive(*m) || !seen.insert(d.id).second) continue;
    record.dead.push_back(log::DeadEntry{d.id, now, m->attempts, d.reason});
  }
  if (record.dead.empty()) return Ok();
  return q.SubmitAndWait(std::move(record), lock);
}

Result<std::vector<queue::DeadLetter>> EmbeddedQueue::ListDeadLetters(std::size_t offset,
                                                                      std::size_t limit) {
  Impl& q = *impl_;
  std::lock_guard lock(q.mu);
  std::vector<queue::DeadLetter> out;
  if (offset >= q.dead.size()) return out;
  auto it = std::next(q.dead.begin(), static_cast<std::ptrdiff_t>(offset));
  for (; it != q.dead.end() && out.size() < limit; ++it) {
    const Message& m = *it->second;
    out.push_back(
        queue::DeadLetter{m.id, *m.payload, m.reason, m.attempts, m.enqueued_at, m.dead_at});
  }
  return out;
}

Status EmbeddedQueue::Impl::SubmitForDeadLetter(const MessageId& id, log::RecordType type) {
  std::unique_lock lock(mu);
  if (closed || broken) return Unavailable();
  if (auto found = FindDead(id); !found) return tl::unexpected(std::move(found.error()));
  log::Record record;
  record.type = type;
  record.ids.push_back(id);
  record.at = log::ToLogTime(clock.Now());  // written for kReplay only
  return SubmitAndWait(std::move(record), lock);
}

Status EmbeddedQueue::ReplayDeadLetter(const MessageId& id) {
  return impl_->SubmitForDeadLetter(id, log::RecordType::kReplay);
}

Status EmbeddedQueue::DiscardDeadLetter(const MessageId& id) {
  return impl_->SubmitForDeadLetter(id, log::RecordType::kDiscard);
}

Result<QueueStats> EmbeddedQueue::Stats() {
  Impl& q = *impl_;
  std::lock_guard lock(q.mu);
  q.Housekeep(q.clock.Now());
  QueueStats stats;
  stats.ready = q.ready.size();
  stats.delayed = q.delayed.size();
  stats.in_flight = q.leases.size();
  stats.dead = q.dead.size();
  if (!q.ready_by_age.empty()) stats.oldest_ready_enqueued_at = q.ready_by_age.begin()->first;
  return stats;
}

void EmbeddedQueue::Close() { impl_->Close(); }

std::uint64_t EmbeddedQueue::sync_count() const noexcept {
  return impl_->syncs.load(std::memory_order_relaxed);
}

}  // namespace msgbroker::queue
