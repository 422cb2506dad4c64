#include "msgbroker/audit/audit_log.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::audit {

namespace fs = std::filesystem;

namespace {

const std::string kGenesis(64, '0');

std::string Sha256Hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

// nlohmann::json keeps object keys sorted, so dump() is canonical.
std::string HashOf(const nlohmann::json& record_without_hash) {
  return Sha256Hex(record_without_hash.dump());
}

tl::unexpected<Error> IoError(const fs::path& path, std::string_view what) {
  return Fail(ErrorCode::kInternal, "audit log " + path.string() + ": " + std::string(what) + ": " +
                                        std::strerror(errno));
}

// An open, exclusively locked file descriptor; unlocked and closed on destruction.
class LockedFile {
 public:
  explicit LockedFile(int fd) : fd_(fd) {}
  ~LockedFile() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }
  LockedFile(const LockedFile&) = delete;
  LockedFile& operator=(const LockedFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// The last line of the file open at `fd` ("" when empty).
Result<std::string> LastLine(int fd, const fs::path& path) {
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size < 0) return IoError(path, "cannot seek");
  std::string tail;
  off_t pos = size;
  constexpr off_t kChunk = 4096;
  while (pos > 0) {
    const off_t start = pos > kChunk ? pos - kChunk : 0;
    std::string chunk(static_cast<std::size_t>(pos - start), '\0');
    if (::pread(fd, chunk.data(), chunk.size(), start) != static_cast<ssize_t>(chunk.size())) {
      return IoError(path, "cannot read");
    }
    tail = chunk + tail;
    pos = start;
    // The last line ends with '\n'; it is complete once another '\n' precedes it.
    const auto body_end = tail.size() - (tail.ends_with('\n') ? 1 : 0);
    const auto nl = tail.rfind('\n', body_end == 0 ? 0 : body_end - 1);
    if (nl != std::string::npos && nl < body_end) return tail.substr(nl + 1, body_end - nl - 1);
  }
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

}  // namespace

Result<AuditRecord> AppendAuditEvent(const fs::path& path, const AuditEvent& event,
                                     const Clock& clock) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(path, "cannot open");
  LockedFile file(fd);
  if (::flock(fd, LOCK_EX) != 0) return IoError(path, "cannot lock");

  auto last = LastLine(fd, path);
  if (!last) return tl::unexpected(last.error());
  std::uint64_t seq = 1;
  std::string prev = kGenesis;
  if (!last->empty()) {
    const auto previous = nlohmann::json::parse(*last, nullptr, false);
    if (previous.is_discarded() || !previous.contains("seq") || !previous.contains("hash")) {
      return Fail(ErrorCode::kDataCorrupted,
                  "audit log " + path.string() +
                      ": the last record is unreadable; run `msgbroker admin audit verify`");
    }
    seq = previous["seq"].get<std::uint64_t>() + 1;
    prev = previous["hash"].get<std::string>();
  }
  nlohmann::json record = {{"seq", seq},
                           {"at", FormatTimestamp(clock.Now())},
                           {"actor", event.actor},
                           {"action", event.action},
                           {"target", event.target},
                           {"source", event.source},
                           {"details", event.details},
                           {"prev", prev}};
  const std::string hash = HashOf(record);
  record["hash"] = hash;
  const std::string line = record.dump() + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return IoError(path, "cannot write");
  }
  if (::fsync(fd) != 0) return IoError(path, "cannot sync");
  return AuditRecord{seq, hash};
}

Result<AuditVerification> VerifyAuditLog(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    return Fail(ErrorCode::kNotFound, "audit log " + path.string() + " cannot be opened");
  }
  AuditVerification v;
  v.head_hash = kGenesis;
  std::string line;
  std::uint64_t line_no = 0;
  auto broken = [&](std::string problem) {
    v.ok = false;
    v.bad_line = line_no;
    v.problem = std::move(problem);
    return v;
  };
  while (std::getline(in, line)) {
    ++line_no;
    auto record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.is_object()) return broken("not a JSON record");
    if (!record.contains("hash") || !record["hash"].is_string() || !record.contains("seq") ||
        !record["seq"].is_number_unsigned() || !record.contains("prev") ||
        !record["prev"].is_string()) {
      return broken("a record without seq, prev or hash");
    }
    const std::string hash = record["hash"].get<std::string>();
    record.erase("hash");
    if (record["seq"].get<std::uint64_t>() != v.records + 1) {
      return broken("sequence number " + std::to_string(record["seq"].get<std::uint64_t>()) +
                    " where " + std::to_string(v.records + 1) +
                    " was expected (a record was removed, added or moved)");
    }
    if (record["prev"].get<std::string>() != v.head_hash) {
      return broken("does not link to the record before it (a record was removed or changed)");
    }
    if (HashOf(record) != hash) return broken("its content does not match its hash (edited)");
    ++v.records;
    v.head_hash = hash;
  }
  v.ok = true;
  return v;
}

std::string LocalOperator() {
  std::string user = "unknown";
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    user = pw->pw_name;
  }
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  return "cli:" + user + "@" + std::string(host.data());
}

}  // namespace msgbroker::audit
