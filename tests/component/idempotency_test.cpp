// Idempotency-Key on the proxy over real mutual TLS (docs/adr/0010-idempotency-keys.md).
//  * IdempotencyApiTest: the whole embedded system (SQLite key store in the data directory,
//    worker, main server): replay, 422, 400, per-client scope, batches, a lost answer.
//  * HeldQueueIdempotencyTest: the proxy alone on a queue that holds enqueues until the test lets
//    them go, and a FakeClock: 409 while in flight, a crashed claim's lease, 503, expiry.

#include "msgbroker/proxy/idempotency.hpp"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sqlite3.h>

#include <boost/asio/io_context.hpp>
#include <future>
#include <mutex>
#include <thread>

#include "msgbroker/crypto/envelope.hpp"
#include "msgbroker/net/http_server.hpp"
#include "msgbroker/proxy/client_directory.hpp"
#include "msgbroker/proxy/proxy_service.hpp"
#include "msgbroker/queue/embedded_queue.hpp"
#include "system_fixture.hpp"

namespace msgbroker::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kOtherMessage =
    R"({"sender_number":"+4915112345678","message_body":"Another body"})";
constexpr const char* kBatch =
    R"({"messages":[{"sender_number":"+4915112345678","message_body":"one"},)"
    R"({"sender_number":"not-a-number","message_body":"bad"},)"
    R"({"sender_number":"+4915112345679","message_body":"three"}]})";

// A JSON POST without an Idempotency-Key.
net::HttpRequest Plain(std::string target, std::string body) {
  net::HttpRequest req{net::http::verb::post, target, 11};
  req.set(net::http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

net::HttpRequest Keyed(std::string target, std::string body, std::string_view key_field) {
  auto req = Plain(std::move(target), std::move(body));
  req.set("Idempotency-Key", key_field);
  return req;
}

// Executes SQL on the proxy's key store file while the system runs (WAL allows it).
void ExecOn(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close_v2(db);
}

class IdempotencyApiTest : public SystemFixture {
 protected:
  net::HttpResponse Send(net::HttpsClient& client, net::HttpRequest request) {
    auto response = client.Send(std::move(request));
    EXPECT_TRUE(response) << response.error().message;
    return response ? std::move(*response) : net::HttpResponse{};
  }

  void ExpectError(const net::HttpResponse& response, unsigned status, std::string_view code) {
    EXPECT_EQ(response.result_int(), status) << response.body();
    auto json = Json(response);
    EXPECT_EQ(json["error"]["code"], code) << response.body();
    EXPECT_EQ(json["error"]["field"], "Idempotency-Key") << response.body();
    EXPECT_EQ(json["error"]["request_id"], std::string(response["X-Request-Id"]));
  }

  // A control message without a key goes through the same queue and worker (FIFO, one worker):
  // once it is stored, everything before it was delivered; then exactly `expected` are stored.
  void ExpectStoredAfterControl(std::uint64_t expected) {
    auto client = Proxy(DemoTls());
    auto ok = client.Send(Post("/api/v1/messages", kValidMessage));
    ASSERT_TRUE(ok);
    ASSERT_EQ(ok->result_int(), 202u) << ok->body();
    ASSERT_TRUE(WaitStored(expected)) << "stored: " << StoredTotal();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(StoredTotal(), expected);
  }
};

TEST_F(IdempotencyApiTest, SameKeyAndBodyReplaysTheFirstAnswerAndStoresOnce) {
  auto client = Proxy(DemoTls());
  auto first = Send(client, Keyed("/api/v1/messages", kValidMessage, R"("order-1")"));
  ASSERT_EQ(first.result_int(), 202u) << first.body();
  EXPECT_EQ(first.count("Idempotent-Replayed"), 0u);
  const auto id = Json(first)["message_id"].get<std::string>();
  EXPECT_EQ(id, proxy::DerivedMessageId(
                    *ClientId::Parse("demo"), "order-1",
                    proxy::RequestFingerprint("POST", "/api/v1/messages", kValidMessage), 0)
                    .str());

  for (int i = 0; i < 3; ++i) {
    auto again = Send(client, Keyed("/api/v1/messages", kValidMessage, R"("order-1")"));
    EXPECT_EQ(again.result_int(), 202u);
    EXPECT_EQ(again.body(), first.body()) << "the first answer, byte for byte";
    EXPECT_EQ(again["Idempotent-Replayed"], "true");
    EXPECT_EQ(again[net::http::field::content_type], "application/json");
    EXPECT_NE(again["X-Request-Id"], first["X-Request-Id"]);
  }
  // A new connection (another process of the same client) gets the same answer.
  auto other = Proxy(DemoTls());
  EXPECT_EQ(Send(other, Keyed("/api/v1/messages", kValidMessage, R"("order-1")")).body(),
            first.body());
  ASSERT_TRUE(WaitStored(1));
  ExpectStoredAfterControl(2);
}

TEST_F(IdempotencyApiTest, WithoutTheHeaderEveryRequestIsNew) {
  auto client = Proxy(DemoTls());
  auto a = Send(client, Post("/api/v1/messages", kValidMessage));
  auto b = Send(client, Post("/api/v1/messages", kValidMessage));
  ASSERT_EQ(a.result_int(), 202u);
  ASSERT_EQ(b.result_int(), 202u);
  EXPECT_NE(Json(a)["message_id"], Json(b)["message_id"]);
  EXPECT_EQ(b.count("Idempotent-Replayed"), 0u);
  ExpectStoredAfterControl(3);
}

TEST_F(IdempotencyApiTest, SameKeyWithAnotherBodyOrPathIs422AndStoresNothingMore) {
  auto client = Proxy(DemoTls());
  ASSERT_EQ(Send(client, Keyed("/api/v1/messages", kValidMessage, R"("k")")).result_int(), 202u);
  ExpectError(Send(client, Keyed("/api/v1/messages", kOtherMessage, R"("k")")), 422,
              "IDEMPOTENCY_KEY_MISMATCH");
  // Whitespace is a different body: the fingerprint is over the bytes sent.
  ExpectError(Send(client, Keyed("/api/v1/messages", std::string(kValidMessage) + " ", R"("k")")),
              422, "IDEMPOTENCY_KEY_MISMATCH");
  ExpectError(Send(client, Keyed("/api/v1/messages/batch",
                                 std::string(R"({"messages":[)") + kValidMessage + "]}", R"("k")")),
              422, "IDEMPOTENCY_KEY_MISMATCH");
  ExpectStoredAfterControl(2);
}

TEST_F(IdempotencyApiTest, MalformedKeyIs400AndStoresNothing) {
  auto client = Proxy(DemoTls());
  for (std::string_view bad : {"order-1", R"("")", R"("a";p=1)", R"("bad \x")", R"("é")"}) {
    ExpectError(Send(client, Keyed("/api/v1/messages", kValidMessage, bad)), 400,
                "INVALID_REQUEST");
  }
  const std::string too_long = "\"" + std::string(256, 'k') + "\"";
  ExpectError(Send(client, Keyed("/api/v1/messages", kValidMessage, too_long)), 400,
              "INVALID_REQUEST");
  const std::string longest = "\"" + std::string(255, 'k') + "\"";
  EXPECT_EQ(Send(client, Keyed("/api/v1/messages", kValidMessage, longest)).result_int(), 202u);

  auto twice = Keyed("/api/v1/messages", kValidMessage, R"("a")");
  twice.insert("Idempotency-Key", R"("b")");
  ExpectError(Send(client, std::move(twice)), 400, "INVALID_REQUEST");
  ExpectStoredAfterControl(2);
}

TEST_F(IdempotencyApiTest, RefusedRequestReleasesTheKeySoTheClientCanCorrectIt) {
  auto client = Proxy(DemoTls());
  auto bad = Send(client, Keyed("/api/v1/messages", R"({"sender_number":"12","message_body":"x"})",
                                R"("fix-me")"));
  EXPECT_EQ(bad.result_int(), 400u);
  EXPECT_EQ(Json(bad)["error"]["code"], "INVALID_SENDER_NUMBER");
  auto wrong_type = client.Send([] {
    auto r = Keyed("/api/v1/messages", kValidMessage, R"("fix-me")");
    r.set(net::http::field::content_type, "text/plain");
    return r;
  }());
  ASSERT_TRUE(wrong_type);
  EXPECT_EQ(wrong_type->result_int(), 415u);
  auto fixed = Send(client, Keyed("/api/v1/messages", kValidMessage, R"("fix-me")"));
  EXPECT_EQ(fixed.result_int(), 202u) << fixed.body();
  EXPECT_EQ(fixed.count("Idempotent-Replayed"), 0u);
  ExpectStoredAfterControl(2);
}

TEST_F(IdempotencyApiTest, UnidentifiedCallerGetsTheUsual401WithAKey) {
  auto client = Proxy(NoCertTls());
  auto response = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("k")"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result_int(), 401u);
  EXPECT_EQ(Json(*response)["error"]["code"], "CLIENT_CERTIFICATE_REQUIRED");
}

TEST_F(IdempotencyApiTest, KeysArePerClient) {
  auto ca = LoadCa();
  auto issued = ca.IssueClient({*ClientId::Parse("client-b"), "b.example"});
  ASSERT_TRUE(issued);
  auto db = Database();
  const auto b_id = *ClientId::Parse("client-b");
  ASSERT_TRUE(db->clients()->CreateClient(
      {b_id, "b.example", storage::ClientStatus::kActive, SystemClock::Instance().Now()}));
  ASSERT_TRUE(db->clients()->AddCertificate(
      {issued->info.fingerprint_sha256, b_id, issued->info.serial_hex, issued->info.not_before,
       issued->info.not_after, storage::CertificateStatus::kActive,
       SystemClock::Instance().Now()}));
  auto b = Proxy(WriteCert("client-b", *issued));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = b.Send(Post("/api/v1/messages", kOtherMessage));  // a 401 until the refresh
        return r && r->result_int() == 202;
      },
      10s));

  auto a = Proxy(DemoTls());
  auto from_a = Send(a, Keyed("/api/v1/messages", kValidMessage, R"("shared")"));
  ASSERT_EQ(from_a.result_int(), 202u);
  auto from_b = Send(b, Keyed("/api/v1/messages", kOtherMessage, R"("shared")"));
  ASSERT_EQ(from_b.result_int(), 202u) << "B's key is B's own: no 422";
  EXPECT_EQ(from_b.count("Idempotent-Replayed"), 0u);
  EXPECT_NE(Json(from_b)["message_id"], Json(from_a)["message_id"]);
  EXPECT_EQ(Json(from_b)["client_id"], "client-b");
  EXPECT_EQ(Send(b, Keyed("/api/v1/messages", kOtherMessage, R"("shared")")).body(), from_b.body());
  ExpectStoredAfterControl(4);
}

TEST_F(IdempotencyApiTest, BatchIsReplayedWholeWithDerivedIdsPerItem) {
  auto client = Proxy(DemoTls());
  auto first = Send(client, Keyed("/api/v1/messages/batch", kBatch, R"("batch-1")"));
  ASSERT_EQ(first.result_int(), 207u) << first.body();
  const auto json = Json(first);
  const proxy::IdempotentRequest keyed{
      *ClientId::Parse("demo"), "batch-1",
      proxy::RequestFingerprint("POST", "/api/v1/messages/batch", kBatch)};
  EXPECT_EQ(json["results"][0]["message_id"], keyed.IdFor(0).str());
  EXPECT_EQ(json["results"][1]["status"], "rejected");
  EXPECT_EQ(json["results"][2]["message_id"], keyed.IdFor(2).str());
  auto again = Send(client, Keyed("/api/v1/messages/batch", kBatch, R"("batch-1")"));
  EXPECT_EQ(again.result_int(), 207u);
  EXPECT_EQ(again.body(), first.body());
  EXPECT_EQ(again["Idempotent-Replayed"], "true");
  ExpectStoredAfterControl(3);
}

// The proxy enqueued but its answer was never recorded (it crashed in between, and the claim's
// lease ran out; here the record is deleted instead): the retry is processed again, with the same
// derived message id, and the main server stores the message once.
TEST_F(IdempotencyApiTest, LostAnswerRetryEnqueuesTheSameIdAndIsStoredOnce) {
  auto client = Proxy(DemoTls());
  auto first = Send(client, Keyed("/api/v1/messages", kValidMessage, R"("lost")"));
  ASSERT_EQ(first.result_int(), 202u);
  ASSERT_TRUE(WaitStored(1));
  ExecOn(layout_.idempotency_db(), "DELETE FROM idempotency_keys");
  auto retry = Send(client, Keyed("/api/v1/messages", kValidMessage, R"("lost")"));
  ASSERT_EQ(retry.result_int(), 202u);
  EXPECT_EQ(retry.count("Idempotent-Replayed"), 0u) << "processed again, not replayed";
  EXPECT_EQ(Json(retry)["message_id"], Json(first)["message_id"]);
  ExpectStoredAfterControl(2);
}

// ---- the proxy alone, on a queue the test holds ----------------------------------------------

// Passes everything to an EmbeddedQueue, except that while held, EnqueueAsync calls wait until
// Let() (or fail, when told to).
class HoldingQueue final : public queue::Queue {
 public:
  explicit HoldingQueue(queue::Queue& inner) : inner_(inner) {}

  void Hold() {
    std::lock_guard lock(mutex_);
    hold_ = true;
  }
  void FailNext() {
    std::lock_guard lock(mutex_);
    fail_next_ = true;
  }
  std::size_t held() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }
  void Let() {
    std::vector<std::pair<std::vector<queue::NewMessage>, EnqueueCallback>> held;
    {
      std::lock_guard lock(mutex_);
      hold_ = false;
      held.swap(held_);
    }
    for (auto& [messages, done] : held) inner_.EnqueueAsync(std::move(messages), std::move(done));
  }

  // Notes whether the caller was on the loop it named (the proxy's I/O thread), then goes on as
  // EnqueueAsync.
  void EnqueueAsyncOn(boost::asio::io_context* loop, std::vector<queue::NewMessage> messages,
                      EnqueueCallback done) override {
    {
      std::lock_guard lock(mutex_);
      on_named_loop_.push_back(loop != nullptr && loop->get_executor().running_in_this_thread());
    }
    EnqueueAsync(std::move(messages), std::move(done));
  }
  std::vector<bool> on_named_loop() {
    std::lock_guard lock(mutex_);
    return on_named_loop_;
  }

  void EnqueueAsync(std::vector<queue::NewMessage> messages, EnqueueCallback done) override {
    {
      std::lock_guard lock(mutex_);
      if (fail_next_) {
        fail_next_ = false;
        done(Fail(ErrorCode::kQueueUnavailable, "test: the queue is down"));
        return;
      }
      if (hold_) {
        held_.emplace_back(std::move(messages), std::move(done));
        return;
      }
    }
    inner_.EnqueueAsync(std::move(messages), std::move(done));
  }
  Result<std::vector<queue::ClaimedMessage>> Claim(std::string_view consumer, std::size_t max,
                                                   std::chrono::milliseconds visibility,
                                                   std::chrono::milliseconds wait) override {
    return inner_.Claim(consumer, max, visibility, wait);
  }
  Status Ack(std::span<const MessageId> ids) override { return inner_.Ack(ids); }
  Status Retry(std::span<const queue::RetryRequest> r) override { return inner_.Retry(r); }
  Status DeadLetter(std::span<const queue::DeadLetterRequest> d) override {
    return inner_.DeadLetter(d);
  }
  Result<std::vector<queue::DeadLetter>> ListDeadLetters(std::size_t offset,
                                                         std::size_t limit) override {
    return inner_.ListDeadLetters(offset, limit);
  }
  Status ReplayDeadLetter(const MessageId& id) override { return inner_.ReplayDeadLetter(id); }
  Status DiscardDeadLetter(const MessageId& id) override { return inner_.DiscardDeadLetter(id); }
  Result<queue::QueueStats> Stats() override { return inner_.Stats(); }
  void Close() override { inner_.Close(); }

 private:
  queue::Queue& inner_;
  std::mutex mutex_;
  bool hold_ = false;
  bool fail_next_ = false;
  std::vector<bool> on_named_loop_;
  std::vector<std::pair<std::vector<queue::NewMessage>, EnqueueCallback>> held_;
};

constexpr auto kTtl = std::chrono::hours{1};
constexpr auto kLease = std::chrono::seconds{30};

class HeldQueueIdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = cli::OpenOrCreateDataDir(tmp_.path() / "data", SystemClock::Instance());
    ASSERT_TRUE(dir) << dir.error().message;
    layout_ = dir->layout;
    auto db = storage::SqliteDatabase::Open({.path = layout_.database()}, clock_);
    ASSERT_TRUE(db) << db.error().message;
    database_ = *db;
    auto clients = database_->clients();
    directory_ = std::make_unique<proxy::ClientDirectory>(
        [clients] { return clients->ListIdentities(); }, std::chrono::hours{1});
    ASSERT_TRUE(directory_->Refresh());
    auto sealer = crypto::EnvelopeSealer::LoadPublicKeyFile(layout_.envelope_public_key());
    ASSERT_TRUE(sealer);
    sealer_ = std::move(*sealer);
    auto queue =
        queue::EmbeddedQueue::Open({.directory = tmp_.path() / "queue", .fsync = false}, clock_);
    ASSERT_TRUE(queue) << queue.error().message;
    inner_ = std::move(*queue);
    holding_ = std::make_unique<HoldingQueue>(*inner_);
    auto store =
        proxy::OpenSqliteIdempotencyStore(tmp_.path() / "idempotency.db", {kTtl, kLease}, clock_);
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    service_ = std::make_unique<proxy::ProxyService>(proxy::ProxyOptions{}, *holding_, *directory_,
                                                     *sealer_, clock_, *registry_);
    service_->UseIdempotency(*store_, *registry_);
    net::Router router;
    service_->RegisterRoutes(router);
    net::HttpServerOptions options;
    options.service = "proxy";
    options.tls = net::TlsServerConfig{};
    options.tls->cert_file = layout_.service_cert(pki::ServiceRole::kProxy);
    options.tls->key_file = layout_.service_key(pki::ServiceRole::kProxy);
    options.tls->ca_file = layout_.ca_cert();
    server_ = std::make_unique<net::HttpServer>(std::move(options), std::move(router), *registry_);
    ASSERT_TRUE(server_->Start());
  }
  void TearDown() override {
    if (holding_) holding_->Let();
    if (server_) server_->Stop(1s);
    if (store_) store_->Close();
    if (inner_) inner_->Close();
  }

  net::HttpsClient Client() const {
    const auto dir = layout_.client_dir(cli::kDemoClientId);
    net::TlsClientConfig tls{layout_.ca_cert(), dir / "client.crt", dir / "client.key"};
    return net::HttpsClient({true, "127.0.0.1", server_->port()}, tls, std::chrono::seconds{10});
  }
  // Sends on a thread of its own (the answer waits for the held queue).
  std::future<Result<net::HttpResponse>> SendLater(net::HttpRequest request) {
    return std::async(std::launch::async, [this, request = std::move(request)]() mutable {
      auto client = Client();
      return client.Send(std::move(request));
    });
  }
  std::uint64_t Queued() {
    auto stats = inner_->Stats();
    return stats ? stats->ready : ~0ull;
  }
  static nlohmann::json Json(const net::HttpResponse& r) {
    return nlohmann::json::parse(r.body(), nullptr, false);
  }

  TempDir tmp_;
  cli::DataDirLayout layout_;
  FakeClock clock_{SystemClock::Instance().Now()};
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::shared_ptr<storage::SqliteDatabase> database_;
  std::unique_ptr<proxy::ClientDirectory> directory_;
  std::unique_ptr<crypto::EnvelopeSealer> sealer_;
  std::unique_ptr<queue::EmbeddedQueue> inner_;
  std::unique_ptr<HoldingQueue> holding_;
  std::unique_ptr<proxy::IdempotencyStore> store_;
  std::unique_ptr<proxy::ProxyService> service_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(HeldQueueIdempotencyTest, InFlightKeyIs409AndAnotherBodyIs422UntilTheFirstIsAnswered) {
  holding_->Hold();
  auto first = SendLater(Keyed("/api/v1/messages", kValidMessage, R"("slow")"));
  ASSERT_TRUE(WaitFor([&] { return holding_->held() == 1; }, 10s));

  auto client = Client();
  auto busy = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("slow")"));
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->result_int(), 409u) << busy->body();
  EXPECT_EQ(Json(*busy)["error"]["code"], "IDEMPOTENCY_KEY_IN_USE");
  EXPECT_EQ((*busy)[net::http::field::retry_after], "1");
  auto other = client.Send(Keyed("/api/v1/messages", kOtherMessage, R"("slow")"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->result_int(), 422u);
  EXPECT_EQ(Json(*other)["error"]["code"], "IDEMPOTENCY_KEY_MISMATCH");
  EXPECT_EQ(holding_->held(), 1u) << "neither reached the queue";

  holding_->Let();
  auto answered = first.get();
  ASSERT_TRUE(answered) << answered.error().message;
  ASSERT_EQ(answered->result_int(), 202u) << answered->body();
  auto replay = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("slow")"));
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->body(), answered->body());
  EXPECT_EQ((*replay)["Idempotent-Replayed"], "true");
  EXPECT_EQ(Queued(), 1u);

  const auto metrics = prometheus::TextSerializer().Serialize(registry_->Collect());
  for (const char* line : {R"(proxy_idempotency_requests_total{outcome="claimed"} 1)",
                           R"(proxy_idempotency_requests_total{outcome="in_flight"} 1)",
                           R"(proxy_idempotency_requests_total{outcome="mismatch"} 1)",
                           R"(proxy_idempotency_requests_total{outcome="replayed"} 1)"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << "\n" << metrics;
  }
}

// A proxy that claimed the key and died leaves a claim; once its lease runs out the retry is
// processed, with the same message id, and the queue keeps one copy.
TEST_F(HeldQueueIdempotencyTest, AbandonedClaimEndsWithItsLeaseAndTheRetryEnqueuesTheSameId) {
  holding_->Hold();
  auto stuck = SendLater(Keyed("/api/v1/messages", kValidMessage, R"("crash")"));
  ASSERT_TRUE(WaitFor([&] { return holding_->held() == 1; }, 10s));
  auto client = Client();
  clock_.Advance(kLease - 1ms);
  auto busy = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("crash")"));
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->result_int(), 409u);

  clock_.Advance(1ms);
  auto retry = SendLater(Keyed("/api/v1/messages", kValidMessage, R"("crash")"));
  ASSERT_TRUE(WaitFor([&] { return holding_->held() == 2; }, 10s)) << "the retry holds the key";
  holding_->Let();
  auto a = stuck.get();
  auto b = retry.get();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->result_int(), 202u);
  ASSERT_EQ(b->result_int(), 202u);
  EXPECT_EQ(Json(*a)["message_id"], Json(*b)["message_id"]);
  EXPECT_EQ(Queued(), 1u) << "the same id is queued once";
  // The retry's answer is the one remembered (the first lost its claim).
  auto replay = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("crash")"));
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->body(), b->body());
}

TEST_F(HeldQueueIdempotencyTest, QueueFailureIs503AndReleasesTheKey) {
  holding_->FailNext();
  auto client = Client();
  auto failed = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("retry-me")"));
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->result_int(), 503u);
  EXPECT_EQ(Json(*failed)["error"]["code"], "QUEUE_UNAVAILABLE");
  auto retry = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("retry-me")"));
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->result_int(), 202u) << retry->body();
  EXPECT_EQ(retry->count("Idempotent-Replayed"), 0u);
  EXPECT_EQ(Queued(), 1u);
}

TEST_F(HeldQueueIdempotencyTest, StoreUnavailableIs503WithRetryAfterAndNothingQueued) {
  store_->Close();
  auto client = Client();
  auto response = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("k")"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result_int(), 503u);
  EXPECT_EQ(Json(*response)["error"]["code"], "SERVICE_UNAVAILABLE");
  EXPECT_FALSE((*response)[net::http::field::retry_after].empty());
  auto unkeyed = client.Send(Plain("/api/v1/messages", kValidMessage));
  ASSERT_TRUE(unkeyed);
  EXPECT_EQ(unkeyed->result_int(), 202u) << "requests without a key do not need the store";
  EXPECT_EQ(Queued(), 1u);
}

// A request without a key is enqueued from the connection's own I/O thread, naming its event
// loop, so a RedisQueue can send it from there (Queue::EnqueueAsyncOn). A keyed request resumes
// on the key store's thread, so it names no loop.
TEST_F(HeldQueueIdempotencyTest, PlainRequestsEnqueueOnTheirIoLoopAndKeyedOnesNameNone) {
  auto client = Client();
  auto unkeyed = client.Send(Plain("/api/v1/messages", kValidMessage));
  ASSERT_TRUE(unkeyed);
  EXPECT_EQ(unkeyed->result_int(), 202u) << unkeyed->body();
  auto keyed = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("k")"));
  ASSERT_TRUE(keyed);
  EXPECT_EQ(keyed->result_int(), 202u) << keyed->body();
  EXPECT_EQ(holding_->on_named_loop(), (std::vector<bool>{true, false}));
  EXPECT_EQ(Queued(), 2u);
}

TEST_F(HeldQueueIdempotencyTest, AnswersExpireAfterTheTtl) {
  auto client = Client();
  auto first = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("old")"));
  ASSERT_TRUE(first);
  ASSERT_EQ(first->result_int(), 202u);
  clock_.Advance(kTtl - 1ms);
  auto mismatch = client.Send(Keyed("/api/v1/messages", kOtherMessage, R"("old")"));
  ASSERT_TRUE(mismatch);
  EXPECT_EQ(mismatch->result_int(), 422u);
  clock_.Advance(1ms);
  // Expired: the same request is processed again (same derived id: the queue keeps one copy)...
  auto same = client.Send(Keyed("/api/v1/messages", kValidMessage, R"("old")"));
  ASSERT_TRUE(same);
  EXPECT_EQ(same->result_int(), 202u);
  EXPECT_EQ(same->count("Idempotent-Replayed"), 0u) << "an expired key is new again";
  EXPECT_EQ(Json(*same)["message_id"], Json(*first)["message_id"]);
  EXPECT_EQ(Queued(), 1u);
  // ...and once that has expired too, another request with the key gets ids of its own.
  clock_.Advance(kTtl);
  auto other = client.Send(Keyed("/api/v1/messages", kOtherMessage, R"("old")"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->result_int(), 202u);
  EXPECT_NE(Json(*other)["message_id"], Json(*first)["message_id"]);
  EXPECT_EQ(Queued(), 2u);
}

}  // namespace
}  // namespace msgbroker::testing
