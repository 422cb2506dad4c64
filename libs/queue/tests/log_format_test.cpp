#include "log_format.hpp"

#include <gtest/gtest.h>

#include "msgbroker/core/time_format.hpp"

namespace msgbroker::queue::log {
namespace {

MessageId Id(int n) { return MessageId::Generate(FromUnixMillis(1'700'000'000'000 + n)); }

Record Roundtrip(const Record& in) {
  std::string bytes;
  AppendRecord(in, bytes);
  ParseResult parsed = ParseRecord(bytes);
  EXPECT_EQ(parsed.status, ParseStatus::kOk);
  EXPECT_EQ(parsed.size, bytes.size());
  return parsed.record;
}

TEST(LogFormatTest, EnqueueRoundTrips) {
  Record r;
  r.type = RecordType::kEnqueue;
  r.enqueue.push_back(EnqueueEntry{Id(1), FromUnixMillis(1000), FromUnixMillis(2000), 3, "err",
                                   std::make_shared<const std::string>(std::string("a\0b", 3))});
  r.enqueue.push_back(EnqueueEntry{Id(2), FromUnixMillis(-5), FromUnixMillis(7), 0, "",
                                   std::make_shared<const std::string>("")});
  const Record out = Roundtrip(r);
  ASSERT_EQ(out.type, RecordType::kEnqueue);
  ASSERT_EQ(out.enqueue.size(), 2u);
  EXPECT_EQ(out.enqueue[0].id, r.enqueue[0].id);
  EXPECT_EQ(out.enqueue[0].enqueued_at, FromUnixMillis(1000));
  EXPECT_EQ(out.enqueue[0].not_before, FromUnixMillis(2000));
  EXPECT_EQ(out.enqueue[0].attempts, 3u);
  EXPECT_EQ(out.enqueue[0].last_error, "err");
  EXPECT_EQ(*out.enqueue[0].payload, std::string("a\0b", 3));
  EXPECT_EQ(out.enqueue[1].enqueued_at, FromUnixMillis(-5));
  EXPECT_EQ(*out.enqueue[1].payload, "");

  std::string one;
  Record single;
  single.type = RecordType::kEnqueue;
  single.enqueue.push_back(r.enqueue[0]);
  AppendRecord(single, one);
  EXPECT_EQ(EncodedEnqueueSize(r.enqueue[0]), one.size());
}

TEST(LogFormatTest, OtherRecordsRoundTrip) {
  Record ack;
  ack.type = RecordType::kAck;
  ack.ids = {Id(1), Id(2)};
  EXPECT_EQ(Roundtrip(ack).ids, ack.ids);

  Record retry;
  retry.type = RecordType::kRetry;
  retry.retry.push_back(RetryEntry{Id(3), FromUnixMillis(99), 4, "503"});
  const Record r2 = Roundtrip(retry);
  ASSERT_EQ(r2.retry.size(), 1u);
  EXPECT_EQ(r2.retry[0].id, retry.retry[0].id);
  EXPECT_EQ(r2.retry[0].not_before, FromUnixMillis(99));
  EXPECT_EQ(r2.retry[0].attempts, 4u);
  EXPECT_EQ(r2.retry[0].error, "503");

  Record dead;
  dead.type = RecordType::kDead;
  dead.dead.push_back(DeadEntry{Id(4), FromUnixMillis(123), 5, "bad"});
  const Record r3 = Roundtrip(dead);
  ASSERT_EQ(r3.dead.size(), 1u);
  EXPECT_EQ(r3.dead[0].id, dead.dead[0].id);
  EXPECT_EQ(r3.dead[0].dead_at, FromUnixMillis(123));
  EXPECT_EQ(r3.dead[0].attempts, 5u);
  EXPECT_EQ(r3.dead[0].reason, "bad");

  Record replay;
  replay.type = RecordType::kReplay;
  replay.ids = {Id(5)};
  replay.at = FromUnixMillis(777);
  const Record r4 = Roundtrip(replay);
  EXPECT_EQ(r4.ids, replay.ids);
  EXPECT_EQ(r4.at, FromUnixMillis(777));

  Record discard;
  discard.type = RecordType::kDiscard;
  discard.ids = {Id(6)};
  EXPECT_EQ(Roundtrip(discard).ids, discard.ids);
}

TEST(LogFormatTest, EveryTruncationIsDetected) {
  Record r;
  r.type = RecordType::kAck;
  r.ids = {Id(1), Id(2)};
  std::string bytes;
  AppendRecord(r, bytes);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(ParseRecord(std::string_view(bytes).substr(0, n)).status, ParseStatus::kTruncated)
        << n;
  }
}

TEST(LogFormatTest, EveryFlippedBitIsDetected) {
  Record r;
  r.type = RecordType::kRetry;
  r.retry.push_back(RetryEntry{Id(1), FromUnixMillis(5), 1, "x"});
  std::string bytes;
  AppendRecord(r, bytes);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      EXPECT_NE(ParseRecord(damaged).status, ParseStatus::kOk) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(LogFormatTest, ValidChecksumWithMalformedBodyIsCorrupt) {
  // A record whose checksum is right but whose body does not decode (count too large).
  std::string bytes;
  Record r;
  r.type = RecordType::kAck;
  r.ids = {Id(1)};
  AppendRecord(r, bytes);
  bytes[16] = 9;  // count 9, but only one id follows
  const std::uint32_t crc =
      Crc32(std::string_view(bytes).substr(4, 8), std::string_view(bytes).substr(16));
  for (int i = 0; i < 4; ++i)
    bytes[12 + static_cast<std::size_t>(i)] = static_cast<char>(crc >> (8 * i));
  EXPECT_EQ(ParseRecord(bytes).status, ParseStatus::kCorrupt);
}

TEST(LogFormatTest, LogTimeIsWholeMilliseconds) {
  const SystemTime t = FromUnixMillis(1234) + std::chrono::microseconds(999);
  EXPECT_EQ(ToLogTime(t), FromUnixMillis(1234));
}

}  // namespace
}  // namespace msgbroker::queue::log
