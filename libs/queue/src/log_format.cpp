#include "log_format.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::queue::log {
namespace {

void PutU8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }

void PutU16(std::string& out, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutTime(std::string& out, SystemTime t) {
  PutU64(out, static_cast<std::uint64_t>(ToUnixMillis(t)));
}

void PutId(std::string& out, const MessageId& id) {
  PutU16(out, static_cast<std::uint16_t>(id.str().size()));
  out.append(id.str());
}

void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

void SetU32(std::string& out, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    out[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  }
}

std::uint32_t LoadU32(const char* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Bounds-checked little-endian reader over a record body. Any overrun sets `ok` to false.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  bool ok() const noexcept { return ok_; }
  bool done() const noexcept { return pos_ == data_.size(); }

  std::uint64_t Uint(int bytes) {
    if (!Need(static_cast<std::size_t>(bytes))) return 0;
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) {
      v = (v << 8) | static_cast<unsigned char>(data_[pos_ + static_cast<std::size_t>(i)]);
    }
    pos_ += static_cast<std::size_t>(bytes);
    return v;
  }
  std::uint32_t U32() { return static_cast<std::uint32_t>(Uint(4)); }
  SystemTime Time() { return FromUnixMillis(static_cast<std::int64_t>(Uint(8))); }

  std::string_view Bytes(std::size_t n) {
    if (!Need(n)) return {};
    std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string String() { return std::string(Bytes(U32())); }

  MessageId Id() {
    const std::string_view text = Bytes(static_cast<std::size_t>(Uint(2)));
    if (!ok_) return {};
    auto id = MessageId::Parse(text);
    if (!id) {
      ok_ = false;
      return {};
    }
    return *id;
  }

  // A count of entries, each at least `min_entry_bytes` long, that must fit in what is left.
  std::uint32_t Count(std::size_t min_entry_bytes) {
    const std::uint32_t n = U32();
    if (ok_ && static_cast<std::uint64_t>(n) * min_entry_bytes > data_.size() - pos_) ok_ = false;
    return ok_ ? n : 0;
  }

 private:
  bool Need(std::size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::string_view data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

void EncodeBody(const Record& r, std::string& out) {
  switch (r.type) {
    case RecordType::kEnqueue:
      PutU32(out, static_cast<std::uint32_t>(r.enqueue.size()));
      for (const auto& e : r.enqueue) {
        PutId(out, e.id);
        PutTime(out, e.enqueued_at);
        PutTime(out, e.not_before);
        PutU32(out, e.attempts);
        PutString(out, e.last_error);
        PutString(out, e.payload ? std::string_view(*e.payload) : std::string_view());
      }
      break;
    case RecordType::kAck:
      PutU32(out, static_cast<std::uint32_t>(r.ids.size()));
      for (const auto& id : r.ids) PutId(out, id);
      break;
    case RecordType::kRetry:
      PutU32(out, static_cast<std::uint32_t>(r.retry.size()));
      for (const auto& e : r.retry) {
        PutId(out, e.id);
        PutTime(out, e.not_before);
        PutU32(out, e.attempts);
        PutString(out, e.error);
      }
      break;
    case RecordType::kDead:
      PutU32(out, static_cast<std::uint32_t>(r.dead.size()));
      for (const auto& e : r.dead) {
        PutId(out, e.id);
        PutTime(out, e.dead_at);
        PutU32(out, e.attempts);
        PutString(out, e.reason);
      }
      break;
    case RecordType::kReplay:
      PutId(out, r.ids.at(0));
      PutTime(out, r.at);
      break;
    case RecordType::kDiscard:
      PutId(out, r.ids.at(0));
      break;
  }
}

bool DecodeBody(RecordType type, std::string_view body, Record& r) {
  Reader in(body);
  r.type = type;
  switch (type) {
    case RecordType::kEnqueue: {
      const std::uint32_t n = in.Count(2 + 8 + 8 + 4 + 4 + 4);
      r.enqueue.reserve(n);
      for (std::uint32_t i = 0; i < n && in.ok(); ++i) {
        EnqueueEntry e;
        e.id = in.Id();
        e.enqueued_at = in.Time();
        e.not_before = in.Time();
        e.attempts = in.U32();
        e.last_error = in.String();
        e.payload = std::make_shared<const std::string>(in.String());
        r.enqueue.push_back(std::move(e));
      }
      break;
    }
    case RecordType::kAck: {
      const std::uint32_t n = in.Count(2);
      r.ids.reserve(n);
      for (std::uint32_t i = 0; i < n && in.ok(); ++i) r.ids.push_back(in.Id());
      break;
    }
    case RecordType::kRetry: {
      const std::uint32_t n = in.Count(2 + 8 + 4 + 4);
      r.retry.reserve(n);
      for (std::uint32_t i = 0; i < n && in.ok(); ++i) {
        RetryEntry e;
        e.id = in.Id();
        e.not_before = in.Time();
        e.attempts = in.U32();
        e.error = in.String();
        r.retry.push_back(std::move(e));
      }
      break;
    }
    case RecordType::kDead: {
      const std::uint32_t n = in.Count(2 + 8 + 4 + 4);
      r.dead.reserve(n);
      for (std::uint32_t i = 0; i < n && in.ok(); ++i) {
        DeadEntry e;
        e.id = in.Id();
        e.dead_at = in.Time();
        e.attempts = in.U32();
        e.reason = in.String();
        r.dead.push_back(std::move(e));
      }
      break;
    }
    case RecordType::kReplay:
      r.ids.push_back(in.Id());
      r.at = in.Time();
      break;
    case RecordType::kDiscard:
      r.ids.push_back(in.Id());
      break;
    default:
      return false;
  }
  return in.ok() && in.done();
}

}  // namespace

SystemTime ToLogTime(SystemTime t) noexcept { return FromUnixMillis(ToUnixMillis(t)); }

std::uint32_t Crc32(std::string_view a, std::string_view b) noexcept {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed in chunks so bodies above 4 GiB would still be right.
  for (std::string_view part : {a, b}) {
    while (!part.empty()) {
      const std::size_t n = std::min<std::size_t>(part.size(), 1u << 30);
      crc = crc32(crc, reinterpret_cast<const Bytef*>(part.data()), static_cast<uInt>(n));
      part.remove_prefix(n);
    }
  }
  return static_cast<std::uint32_t>(crc);
}

std::string EncodeFileHeader() {
  std::string out(kFileMagic);
  PutU32(out, kFileVersion);
  PutU32(out, 0);
  return out;
}

void AppendRecord(const Record& record, std::string& out) {
  const std::size_t start = out.size();
  PutU32(out, kRecordMagic);
  PutU8(out, static_cast<std::uint8_t>(record.type));
  PutU8(out, 0);
  PutU16(out, 0);
  PutU32(out, 0);  // body length, patched below
  PutU32(out, 0);  // crc, patched below
  EncodeBody(record, out);
  const std::size_t body_length = out.size() - start - kRecordHeaderSize;
  SetU32(out, start + 8, static_cast<std::uint32_t>(body_length));
  const std::string_view view(out);
  const std::uint32_t crc =
      Crc32(view.substr(start + 4, 8), view.substr(start + kRecordHeaderSize));
  SetU32(out, start + 12, crc);
}

std::size_t EncodedEnqueueSize(const EnqueueEntry& entry) noexcept {
  return kRecordHeaderSize + 4 + 2 + entry.id.str().size() + 8 + 8 + 4 + 4 +
         entry.last_error.size() + 4 + (entry.payload ? entry.payload->size() : 0);
}

std::optional<std::size_t> ClaimedRecordSize(std::string_view data) noexcept {
  if (data.size() < kRecordHeaderSize || LoadU32(data.data()) != kRecordMagic) return std::nullopt;
  return kRecordHeaderSize + LoadU32(data.data() + 8);
}

ParseResult ParseRecord(std::string_view data) {
  ParseResult result;
  if (data.size() < kRecordHeaderSize) {
    result.status = ParseStatus::kTruncated;
    return result;
  }
  const char* p = data.data();
  if (LoadU32(p) != kRecordMagic || p[5] != 0 || p[6] != 0 || p[7] != 0) {
    result.status = ParseStatus::kCorrupt;
    return result;
  }
  const std::uint32_t body_length = LoadU32(p + 8);
  if (body_length > kMaxBodyBytes) {
    result.status = ParseStatus::kCorrupt;
    return result;
  }
  if (data.size() - kRecordHeaderSize < body_length) {
    result.status = ParseStatus::kTruncated;
    return result;
  }
  const std::string_view body = data.substr(kRecordHeaderSize, body_length);
  if (Crc32(data.substr(4, 8), body) != LoadU32(p + 12)) {
    result.status = ParseStatus::kCorrupt;
    return result;
  }
  const auto type = static_cast<RecordType>(static_cast<unsigned char>(p[4]));
  if (!DecodeBody(type, body, result.record)) {
    result.status = ParseStatus::kCorrupt;
    result.record = Record{};
    return result;
  }
  result.status = ParseStatus::kOk;
  result.size = kRecordHeaderSize + body_length;
  return result;
}

}  // namespace msgbroker::queue::log
