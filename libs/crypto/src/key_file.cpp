#include "key_file.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "primitives.hpp"

namespace msgbroker::crypto::internal {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports whether close succeeded.
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

std::string Name(const std::filesystem::path& path, std::string_view what) {
  return std::string(what) + " " + path.string();
}

std::string ErrnoText(int err) { return std::strerror(err); }

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string HexSuffix(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kHex[b >> 4];
    out += kHex[b & 0x0f];
  }
  return out;
}

}  // namespace

Result<std::string> ReadKeyFile(const std::filesystem::path& path, std::string_view what,
                                Access access) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) return Fail(ErrorCode::kNotFound, Name(path, what) + ": does not exist");
    return Fail(ErrorCode::kInternal, Name(path, what) + ": cannot open: " + ErrnoText(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Fail(ErrorCode::kInternal, Name(path, what) + ": cannot stat: " + ErrnoText(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInternal, Name(path, what) + ": is not a regular file");
  }
  if (access == Access::kPrivate && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Fail(ErrorCode::kForbidden, Name(path, what) + ": group or others may access it (mode " +
                                           OctalMode(st.st_mode) +
                                           "); refusing to use it, run chmod 600 on it");
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxKeyFileBytes) {
    return Fail(ErrorCode::kDataCorrupted, Name(path, what) + ": is too large for a key file");
  }
  std::string data(kMaxKeyFileBytes + 1, '\0');
  std::size_t size = 0;
  while (size < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + size, data.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      OPENSSL_cleanse(data.data(), data.size());
      return Fail(ErrorCode::kInternal, Name(path, what) + ": cannot read: " + ErrnoText(err));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  if (size > kMaxKeyFileBytes) {
    OPENSSL_cleanse(data.data(), data.size());
    return Fail(ErrorCode::kDataCorrupted, Name(path, what) + ": is too large for a key file");
  }
  std::string contents(data.data(), size);
  OPENSSL_cleanse(data.data(), data.size());
  return contents;
}

Status RequireAbsent(const std::filesystem::path& path, std::string_view what) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    return Fail(ErrorCode::kAlreadyExists,
                Name(path, what) + ": already exists; refusing to overwrite it");
  }
  if (errno != ENOENT) {
    return Fail(ErrorCode::kInternal, Name(path, what) + ": cannot stat: " + ErrnoText(errno));
  }
  return Ok();
}

Status WriteNewKeyFile(const std::filesystem::path& path, std::string_view what,
                       std::string_view contents, mode_t mode) {
  if (auto absent = RequireAbsent(path, what); !absent) return absent;
  auto suffix = RandomBytes(8);
  if (!suffix) return tl::unexpected(suffix.error());
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + HexSuffix(*suffix);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.get() < 0) {
    return Fail(ErrorCode::kInternal,
                Name(path, what) + ": cannot create " + tmp.string() + ": " + ErrnoText(errno));
  }
  const auto fail = [&](std::string step) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kInternal,
                Name(path, what) + ": cannot " + step + ": " + ErrnoText(err));
  };
  // The umask may have narrowed `mode` (for a public file); set it exactly.
  if (::fchmod(fd.get(), mode) != 0) return fail("set its mode");
  if (!WriteAll(fd.get(), contents)) return fail("write it");
  if (::fsync(fd.get()) != 0) return fail("sync it");
  if (!fd.Close()) return fail("close it");
  // Never replaces a file created meanwhile: rename without replacing, or where the file system
  // lacks that, link() (which refuses an existing name) and drop the temporary name.
  int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
    rc = ::link(tmp.c_str(), path.c_str());
    if (rc == 0) ::unlink(tmp.c_str());
  }
  if (rc != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) {
      return Fail(ErrorCode::kAlreadyExists,
                  Name(path, what) + ": already exists; refusing to overwrite it");
    }
    return Fail(ErrorCode::kInternal, Name(path, what) + ": cannot create: " + ErrnoText(err));
  }
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) {
    return Fail(ErrorCode::kInternal,
                Name(path, what) + ": cannot sync its directory: " + ErrnoText(errno));
  }
  return Ok();
}

std::string_view TrimWhitespace(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

}  // namespace msgbroker::crypto::internal
