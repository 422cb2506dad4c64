// SqliteMessageStore: idempotent batch inserts, exact round trips, and List's filters, order and
// pages.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>

#include "msgbroker/core/time_format.hpp"
#include "msgbroker/storage/sqlite_database.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage {
namespace {

namespace fs = std::filesystem;

using std::chrono::minutes;
using std::chrono::seconds;
using testing::ExpectSameMessage;
using ::testing::HasSubstr;
using testing::MakeClientId;
using testing::MakeMessage;
using ::testing::Not;
using testing::OpenOrFail;
using testing::OptionsFor;
using testing::RawDb;
using testing::TempDir;

class SqliteMessageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(OptionsFor(DbPath())); }
  void Open(const SqliteOptions& options) {
    store_.reset();
    db_ = OpenOrFail(options, clock_);
    ASSERT_NE(db_, nullptr);
    store_ = db_->messages();
  }
  fs::path DbPath() const { return dir_.path() / "broker.db"; }

  std::vector<bool> Insert(const std::vector<StoredMessage>& batch) {
    auto inserted = store_->InsertBatch(batch);
    EXPECT_TRUE(inserted) << inserted.error().message;
    return inserted ? *inserted : std::vector<bool>{};
  }
  std::optional<StoredMessage> Get(const MessageId& id) {
    auto got = store_->Get(id);
    EXPECT_TRUE(got) << got.error().message;
    return got ? *got : std::nullopt;
  }
  MessagePage List(const MessageQuery& query) {
    auto page = store_->List(query);
    EXPECT_TRUE(page) << page.error().message;
    return page ? *page : MessagePage{};
  }
  std::int64_t RowCount() { return RawDb(DbPath()).QueryInt("SELECT count(*) FROM messages"); }

  TempDir dir_;
  FakeClock clock_;
  std::shared_ptr<SqliteDatabase> db_;
  std::shared_ptr<MessageStore> store_;
};

TEST(MessageStatusNames, RoundTrip) {
  for (auto s : {MessageStatus::kQueued, MessageStatus::kDelivered, MessageStatus::kFailed}) {
    EXPECT_EQ(ParseStatus(StatusName(s)), s);
  }
  EXPECT_EQ(StatusName(MessageStatus::kQueued), "queued");
  EXPECT_EQ(StatusName(MessageStatus::kDelivered), "delivered");
  EXPECT_EQ(StatusName(MessageStatus::kFailed), "failed");
  EXPECT_EQ(ParseStatus("Delivered"), std::nullopt);
  EXPECT_EQ(ParseStatus(""), std::nullopt);
}

TEST_F(SqliteMessageStoreTest, InsertReportsNewRowsAndGetReturnsThem) {
  std::vector<StoredMessage> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(MakeMessage(clock_.Now() + seconds(i)));
  EXPECT_EQ(Insert(batch), (std::vector<bool>{true, true, true}));
  for (const auto& m : batch) {
    auto got = Get(m.id);
    ASSERT_TRUE(got.has_value());
    ExpectSameMessage(*got, m);
  }
}

TEST_F(SqliteMessageStoreTest, EmptyBatchIsOk) {
  auto inserted = store_->InsertBatch({});
  ASSERT_TRUE(inserted);
  EXPECT_TRUE(inserted->empty());
}

TEST_F(SqliteMessageStoreTest, RowWithoutIdIsRejected) {
  StoredMessage m = MakeMessage(clock_.Now());
  m.id = MessageId();
  auto inserted = store_->InsertBatch(std::vector{MakeMessage(clock_.Now()), m});
  ASSERT_FALSE(inserted);
  EXPECT_EQ(inserted.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(RowCount(), 0);
}

TEST_F(SqliteMessageStoreTest, DuplicateInLaterBatchLeavesOriginalUnchanged) {
  const StoredMessage original = MakeMessage(clock_.Now());
  ASSERT_EQ(Insert({original}), std::vector<bool>{true});

  StoredMessage again = original;
  again.content = "different";
  again.attempts = 7;
  again.status = MessageStatus::kFailed;
  const StoredMessage fresh = MakeMessage(clock_.Now() + seconds(1));
  EXPECT_EQ(Insert({again, fresh}), (std::vector<bool>{false, true}));

  auto got = Get(original.id);
  ASSERT_TRUE(got.has_value());
  ExpectSameMessage(*got, original);
  EXPECT_EQ(RowCount(), 2);
}

TEST_F(SqliteMessageStoreTest, DuplicateWithinOneBatchKeepsTheFirst) {
  const StoredMessage first = MakeMessage(clock_.Now());
  StoredMessage second = first;
  second.content = "second copy";
  EXPECT_EQ(Insert({first, second}), (std::vector<bool>{true, false}));
  auto got = Get(first.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->content, first.content);
  EXPECT_EQ(RowCount(), 1);
}

TEST_F(SqliteMessageStoreTest, LockedDatabaseFailsTheBatchAndStoresNothing) {
  auto options = OptionsFor(DbPath());
  options.busy_timeout = std::chrono::milliseconds(50);
  Open(options);

  RawDb locker(DbPath());
  locker.Exec("BEGIN EXCLUSIVE");
  const std::vector<StoredMessage> batch{MakeMessage(clock_.Now()),
                                         MakeMessage(clock_.Now() + seconds(1))};
  auto inserted = store_->InsertBatch(batch);
  ASSERT_FALSE(inserted);
  EXPECT_EQ(inserted.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(inserted.error().message, HasSubstr(DbPath().string()));
  locker.Exec("COMMIT");

  EXPECT_EQ(RowCount(), 0);
  // The writer is usable again once the lock is gone.
  EXPECT_EQ(Insert(batch), (std::vector<bool>{true, true}));
}

TEST_F(SqliteMessageStoreTest, FailureInTheMiddleOfABatchRollsBackEveryRow) {
  // A trigger that refuses one particular row, so the failure comes after rows were inserted.
  RawDb(DbPath()).Exec(
      "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages WHEN NEW.key_id = 'poison' "
      "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END");
  std::vector<StoredMessage> batch{MakeMessage(clock_.Now()),
                                   MakeMessage(clock_.Now() + seconds(1)),
                                   MakeMessage(clock_.Now() + seconds(2))};
  batch[2].key_id = "poison";
  batch[2].content = "secret-ciphertext-bytes";

  auto inserted = store_->InsertBatch(batch);
  ASSERT_FALSE(inserted);
  EXPECT_EQ(inserted.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(inserted.error().message, HasSubstr("refused by test trigger"));
  EXPECT_THAT(inserted.error().message, Not(HasSubstr("secret-ciphertext-bytes")));
  EXPECT_EQ(RowCount(), 0);
  EXPECT_FALSE(Get(batch[0].id).has_value());

  RawDb(DbPath()).Exec("DROP TRIGGER refuse_poison");
  EXPECT_EQ(Insert(batch), (std::vector<bool>{true, true, true}));
}

TEST_F(SqliteMessageStoreTest, BinaryNonceAndContentRoundTripExactly) {
  StoredMessage m = MakeMessage(clock_.Now());
  m.nonce = std::string("\0\0\xff\x00\x7f\x80\0\x01\x02\0\0\0", 12);
  m.content.clear();
  for (int i = 0; i < 512; ++i) m.content.push_back(static_cast<char>(i % 256));
  StoredMessage empty_content = MakeMessage(clock_.Now() + seconds(1));
  empty_content.content.clear();
  ASSERT_EQ(Insert({m, empty_content}), (std::vector<bool>{true, true}));

  auto got = Get(m.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->nonce, m.nonce);
  EXPECT_EQ(got->content, m.content);
  auto got_empty = Get(empty_content.id);
  ASSERT_TRUE(got_empty.has_value());
  EXPECT_EQ(got_empty->content, "");

  RawDb raw(DbPath());
  EXPECT_EQ(raw.QueryText("SELECT typeof(nonce) || ',' || typeof(content) FROM messages "
                          "WHERE id = '" +
                          m.id.str() + "'"),
            "blob,blob");
  EXPECT_EQ(raw.QueryInt("SELECT length(content) FROM messages WHERE id = '" + m.id.str() + "'"),
            512);
}

TEST_F(SqliteMessageStoreTest, OptionalTimesAndErrorsRoundTrip) {
  StoredMessage delivered = MakeMessage(clock_.Now());
  StoredMessage failed = MakeMessage(clock_.Now() + seconds(1));
  failed.status = MessageStatus::kFailed;
  failed.delivered_at.reset();
  failed.failed_at = failed.queued_at + minutes(30);
  failed.attempts = std::numeric_limits<std::uint32_t>::max();
  failed.last_error = "upstream answered 503";
  StoredMessage queued = MakeMessage(clock_.Now() + seconds(2));
  queued.status = MessageStatus::kQueued;
  queued.delivered_at.reset();
  queued.attempts = 0;
  queued.queued_at += std::chrono::milliseconds(123);  // millisecond precision is kept
  ASSERT_EQ(Insert({delivered, failed, queued}), (std::vector<bool>{true, true, true}));

  for (const auto& m : {delivered, failed, queued}) {
    auto got = Get(m.id);
    ASSERT_TRUE(got.has_value());
    ExpectSameMessage(*got, m);
  }
  RawDb raw(DbPath());
  EXPECT_EQ(raw.QueryText("SELECT typeof(delivered_at) || ',' || typeof(failed_at) FROM messages "
                          "WHERE id = '" +
                          queued.id.str() + "'"),
            "null,null");
}

TEST_F(SqliteMessageStoreTest, GetOfUnknownIdIsEmpty) {
  EXPECT_FALSE(Get(MessageId::Generate(clock_.Now())).has_value());
}

TEST_F(SqliteMessageStoreTest, PingSucceeds) { EXPECT_TRUE(store_->Ping()); }

TEST_F(SqliteMessageStoreTest, RowsSurviveReopen) {
  const StoredMessage m = MakeMessage(clock_.Now());
  ASSERT_EQ(Insert({m}), std::vector<bool>{true});
  Open(OptionsFor(DbPath()));
  auto got = Get(m.id);
  ASSERT_TRUE(got.has_value());
  ExpectSameMessage(*got, m);
}

TEST_F(SqliteMessageStoreTest, CorruptedRowIsReportedNotReturned) {
  const StoredMessage m = MakeMessage(clock_.Now());
  ASSERT_EQ(Insert({m}), std::vector<bool>{true});
  RawDb(DbPath()).Exec("UPDATE messages SET client_id = 'not a client id!' WHERE id = '" +
                       m.id.str() + "'");
  auto got = store_->Get(m.id);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kDataCorrupted);
  auto page = store_->List(MessageQuery{});
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code, ErrorCode::kDataCorrupted);
}

// ---- List ------------------------------------------------------------------------------------

class SqliteMessageListTest : public SqliteMessageStoreTest {
 protected:
  void SetUp() override {
    SqliteMessageStoreTest::SetUp();
    const char* clients[] = {"acme", "globex", "initech"};
    const MessageStatus statuses[] = {MessageStatus::kQueued, MessageStatus::kDelivered,
                                      MessageStatus::kFailed};
    for (int i = 0; i < 12; ++i) {
      StoredMessage m = MakeMessage(base_ + minutes(i), clients[i % 3]);
      m.status = statuses[(i / 3) % 3];
      m.sender_hmac = std::string(64, i % 2 == 0 ? 'a' : 'b');
      seeded_.push_back(m);
    }
    // Two rows sharing a queued_at: the id breaks the tie.
    StoredMessage twin = MakeMessage(base_ + minutes(5), "acme");
    seeded_.push_back(twin);
    ASSERT_EQ(Insert(seeded_), std::vector<bool>(seeded_.size(), true));
  }

  // The ids a query should return, newest first, computed without SQL.
  std::vector<MessageId> Expected(const std::function<bool(const StoredMessage&)>& match) const {
    std::vector<StoredMessage> rows;
    for (const auto& m : seeded_) {
      if (match(m)) rows.push_back(m);
    }
    std::sort(rows.begin(), rows.end(), [](const StoredMessage& a, const StoredMessage& b) {
      return a.queued_at != b.queued_at ? a.queued_at > b.queued_at : a.id > b.id;
    });
    std::vector<MessageId> ids;
    for (const auto& m : rows) ids.push_back(m.id);
    return ids;
  }

  static std::vector<MessageId> Ids(const MessagePage& page) {
    std::vector<MessageId> ids;
    for (const auto& m : page.items) ids.push_back(m.id);
    return ids;
  }

  void ExpectListed(const MessageQuery& query,
                    const std::function<bool(const StoredMessage&)>& match) {
    const MessagePage page = List(query);
    const auto expected = Expected(match);
    EXPECT_EQ(Ids(page), expected);
    EXPECT_EQ(page.total, expected.size());
  }

  SystemTime base_ = SystemTime{std::chrono::seconds{1'700'000'000}};
  std::vector<StoredMessage> seeded_;
};

TEST_F(SqliteMessageListTest, NoFilterListsEverythingNewestFirst) {
  const MessagePage page = List(MessageQuery{});
  EXPECT_EQ(page.total, seeded_.size());
  EXPECT_EQ(page.page, 1u);
  EXPECT_EQ(page.page_size, 50u);
  EXPECT_EQ(Ids(page), Expected([](const StoredMessage&) { return true; }));
  ExpectSameMessage(page.items.front(), seeded_[11]);
}

TEST_F(SqliteMessageListTest, EqualQueuedAtIsOrderedByIdDescending) {
  const auto page = List(MessageQuery{.from = base_ + minutes(5), .to = base_ + minutes(6)});
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_GT(page.items[0].id, page.items[1].id);
}

TEST_F(SqliteMessageListTest, FilterByStatus) {
  for (auto s : {MessageStatus::kQueued, MessageStatus::kDelivered, MessageStatus::kFailed}) {
    ExpectListed(MessageQuery{.status = s}, [s](const StoredMessage& m) { return m.status == s; });
  }
}

TEST_F(SqliteMessageListTest, FilterByClient) {
  ExpectListed(MessageQuery{.client_id = MakeClientId("globex")},
               [](const StoredMessage& m) { return m.client_id.str() == "globex"; });
  ExpectListed(MessageQuery{.client_id = MakeClientId("nobody")},
               [](const StoredMessage&) { return false; });
}

TEST_F(SqliteMessageListTest, FilterBySender) {
  const std::string b(64, 'b');
  ExpectListed(MessageQuery{.sender_hmac = b},
               [&b](const StoredMessage& m) { return m.sender_hmac == b; });
}

TEST_F(SqliteMessageListTest, FromIsInclusiveAndToIsExclusive) {
  const SystemTime from = base_ + minutes(3);
  const SystemTime to = base_ + minutes(7);
  ExpectListed(MessageQuery{.from = from},
               [&](const StoredMessage& m) { return m.queued_at >= from; });
  ExpectListed(MessageQuery{.to = to}, [&](const StoredMessage& m) { return m.queued_at < to; });
  ExpectListed(MessageQuery{.from = from, .to = to},
               [&](const StoredMessage& m) { return m.queued_at >= from && m.queued_at < to; });
  const auto page = List(MessageQuery{.from = from, .to = to});
  EXPECT_EQ(page.items.back().queued_at, from);
  EXPECT_EQ(page.items.front().queued_at, base_ + minutes(6));
}

TEST_F(SqliteMessageListTest, FiltersCombine) {
  const std::string a(64, 'a');
  ExpectListed(
      MessageQuery{.client_id = MakeClientId("acme"), .sender_hmac = a},
      [&](const StoredMessage& m) { return m.client_id.str() == "acme" && m.sender_hmac == a; });
  EXPECT_EQ(List(MessageQuery{.client_id = MakeClientId("acme"), .sender_hmac = a}).total, 3u);
  ExpectListed(MessageQuery{.status = MessageStatus::kQueued,
                            .client_id = MakeClientId("acme"),
                            .from = base_,
                            .to = base_ + minutes(12),
                            .sender_hmac = a},
               [&](const StoredMessage& m) {
                 return m.status == MessageStatus::kQueued && m.client_id.str() == "acme" &&
                        m.sender_hmac == a;
               });
  EXPECT_EQ(List(MessageQuery{.status = MessageStatus::kQueued,
                              .client_id = MakeClientId("acme"),
                              .from = base_,
                              .to = base_ + minutes(12),
                              .sender_hmac = a})
                .total,
            1u);
  ExpectListed(
      MessageQuery{.status = MessageStatus::kDelivered, .client_id = MakeClientId("initech")},
      [](const StoredMessage& m) {
        return m.status == MessageStatus::kDelivered && m.client_id.str() == "initech";
      });
}

TEST_F(SqliteMessageListTest, PagesSplitTheOrderedResult) {
  const auto all = Expected([](const StoredMessage&) { return true; });
  std::vector<MessageId> joined;
  for (std::size_t page = 1; page <= 3; ++page) {
    const MessagePage got = List(MessageQuery{.page = page, .page_size = 5});
    EXPECT_EQ(got.total, all.size());
    EXPECT_EQ(got.page, page);
    EXPECT_EQ(got.page_size, 5u);
    EXPECT_EQ(got.items.size(), page < 3 ? 5u : 3u);
    for (const auto& m : got.items) joined.push_back(m.id);
  }
  EXPECT_EQ(joined, all);
}

TEST_F(SqliteMessageListTest, PageBeyondTheEndIsEmptyWithTotal) {
  for (std::size_t page :
       {std::size_t{4}, std::size_t{1'000'000}, std::numeric_limits<std::size_t>::max()}) {
    const MessagePage got = List(MessageQuery{.page = page, .page_size = 5});
    EXPECT_TRUE(got.items.empty()) << page;
    EXPECT_EQ(got.total, seeded_.size()) << page;
  }
}

TEST_F(SqliteMessageListTest, PageAndPageSizeAreValidated) {
  for (auto [page, page_size, field] :
       {std::tuple{std::size_t{0}, std::size_t{50}, "page"},
        std::tuple{std::size_t{1}, std::size_t{0}, "page_size"},
        std::tuple{std::size_t{1}, std::size_t{501}, "page_size"}}) {
    auto got = store_->List(MessageQuery{.page = page, .page_size = page_size});
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, ErrorCode::kInvalidQuery);
    EXPECT_EQ(got.error().field, field);
  }
  EXPECT_EQ(List(MessageQuery{.page_size = 500}).items.size(), seeded_.size());
  EXPECT_EQ(List(MessageQuery{.page_size = 1}).items.size(), 1u);
}

TEST_F(SqliteMessageListTest, InjectionInFilterValuesIsJustAValue) {
  const std::string injection = "' OR 1=1 --";
  const MessagePage none = List(MessageQuery{.sender_hmac = injection});
  EXPECT_EQ(none.total, 0u);
  EXPECT_TRUE(none.items.empty());

  const std::string drop = "x'; DROP TABLE messages; --";
  EXPECT_EQ(List(MessageQuery{.sender_hmac = drop}).total, 0u);
  EXPECT_EQ(RowCount(), static_cast<std::int64_t>(seeded_.size()));

  StoredMessage odd = MakeMessage(base_ + minutes(30));
  odd.sender_hmac = injection;
  ASSERT_EQ(Insert({odd}), std::vector<bool>{true});
  const MessagePage exact = List(MessageQuery{.sender_hmac = injection});
  ASSERT_EQ(exact.items.size(), 1u);
  EXPECT_EQ(exact.items[0].id, odd.id);
}

}  // namespace
}  // namespace msgbroker::storage
