#pragma once
// The on-disk format of the embedded queue's log (docs/adr/0005-embedded-queue.md).
//
//   file   := file_header record*
//   file_header (16 bytes) := "MBQUEUE\0" u32 version(=1) u32 reserved(=0)
//   record := header(16 bytes) body
//   header := u32 magic(kRecordMagic) u8 type u8 flags(=0) u16 reserved(=0) u32 body_length
//             u32 crc32(header bytes 4..11 followed by the body)
//
// All integers are little-endian; strings are a length prefix followed by raw bytes; times are
// signed milliseconds since the Unix epoch. One record is one API call (an EnqueueAsync batch, an
// Ack of several ids...), so a torn write can never keep half of a call.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/ids.hpp"

namespace msgbroker::queue::log {

inline constexpr std::string_view kFileMagic{"MBQUEUE\0", 8};
inline constexpr std::uint32_t kFileVersion = 1;
inline constexpr std::size_t kFileHeaderSize = 16;
inline constexpr std::uint32_t kRecordMagic = 0x51524d42;  // "BMRQ" on disk
inline constexpr std::size_t kRecordHeaderSize = 16;
inline constexpr std::uint32_t kMaxBodyBytes = 1u << 30;  // anything longer is corruption

enum class RecordType : std::uint8_t {
  kEnqueue = 1,
  kAck = 2,
  kRetry = 3,
  kDead = 4,
  kReplay = 5,
  kDiscard = 6,
};

// One message as an ENQUEUE record holds it. Fresh messages have not_before == enqueued_at,
// attempts 0 and no error; compaction writes the current values.
struct EnqueueEntry {
  MessageId id;
  SystemTime enqueued_at{};
  SystemTime not_before{};
  std::uint32_t attempts = 0;
  std::string last_error;
  std::shared_ptr<const std::string> payload;
};

struct RetryEntry {
  MessageId id;
  SystemTime not_before{};
  std::uint32_t attempts = 0;
  std::string error;
};

struct DeadEntry {
  MessageId id;
  SystemTime dead_at{};
  std::uint32_t attempts = 0;
  std::string reason;
};

// A decoded record. Only the fields of `type` are meaningful.
struct Record {
  RecordType type = RecordType::kEnqueue;
  std::vector<EnqueueEntry> enqueue;  // kEnqueue
  std::vector<MessageId> ids;         // kAck (several), kReplay and kDiscard (one)
  std::vector<RetryEntry> retry;      // kRetry
  std::vector<DeadEntry> dead;        // kDead
  SystemTime at{};                    // kReplay: when (informational)
};

// Truncates to whole milliseconds, the resolution the log stores.
SystemTime ToLogTime(SystemTime t) noexcept;

std::string EncodeFileHeader();
// Appends the encoded record (header and body) to `out`.
void AppendRecord(const Record& record, std::string& out);
// Size AppendRecord would add for a one-entry ENQUEUE record of `entry` (compaction estimate).
std::size_t EncodedEnqueueSize(const EnqueueEntry& entry) noexcept;

enum class ParseStatus {
  kOk,         // `record` and `size` are set
  kTruncated,  // not enough bytes for the header or the body it announces
  kCorrupt,    // bad magic, flags, checksum, type or body
};

struct ParseResult {
  ParseStatus status = ParseStatus::kCorrupt;
  std::size_t size = 0;  // bytes the record occupies, on kOk
  Record record;
};

// Parses the record at the start of `data`.
ParseResult ParseRecord(std::string_view data);

// The size the record at the start of `data` claims (header plus body length) when its magic is
// intact, whether or not the rest checks out; nullopt otherwise.
std::optional<std::size_t> ClaimedRecordSize(std::string_view data) noexcept;

std::uint32_t Crc32(std::string_view a, std::string_view b = {}) noexcept;

}  // namespace msgbroker::queue::log
