// The Database contract, run against every backend (see database_contract.hpp): idempotent batch
// inserts that are all or nothing, exact binary round trips, List's filters, order and pages,
// SQL-looking strings kept as data, the client registry, and versioned migrations.

#include "database_contract.hpp"

#include <gmock/gmock.h>

#include <atomic>
#include <thread>
#include <vector>

#include "msgbroker/core/time_format.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage::testing {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr int kLatestSchemaVersion = 4;

}  // namespace

void DatabaseContractTest::SetUp() {
  backend_ = GetParam().make();
  ASSERT_NE(backend_, nullptr) << "the " << GetParam().name << " test database is not available";
  db_ = Open();
  ASSERT_NE(db_, nullptr);
  store_ = db_->messages();
  registry_ = db_->clients();
}

void DatabaseContractTest::TearDown() {
  store_.reset();
  registry_.reset();
  db_.reset();
  backend_.reset();
}

DatabaseOptions DatabaseContractTest::Options() const {
  DatabaseOptions options;
  options.url = backend_->url();
  options.pool_size = 4;
  options.pool_wait = std::chrono::milliseconds(5'000);
  return options;
}

std::shared_ptr<Database> DatabaseContractTest::Open(const DatabaseOptions& options) {
  auto opened = OpenDatabase(options, clock_);
  EXPECT_TRUE(opened) << opened.error().message;
  return opened ? *opened : nullptr;
}

namespace {

std::vector<bool> InsertOk(MessageStore& store, const std::vector<StoredMessage>& batch) {
  auto inserted = store.InsertBatch(batch);
  EXPECT_TRUE(inserted) << inserted.error().message;
  return inserted ? *inserted : std::vector<bool>{};
}

MessagePage ListOk(MessageStore& store, const MessageQuery& query) {
  auto page = store.List(query);
  EXPECT_TRUE(page) << page.error().message;
  return page ? *page : MessagePage{};
}

std::vector<MessageId> Ids(const MessagePage& page) {
  std::vector<MessageId> ids;
  for (const auto& m : page.items) ids.push_back(m.id);
  return ids;
}

Client MakeClient(std::string_view id, SystemTime created_at) {
  Client client;
  client.id = MakeClientId(id);
  client.domain = std::string(id) + ".example";
  client.created_at = created_at;
  return client;
}

ClientCertificate MakeCertificate(std::string_view fingerprint, std::string_view client,
                                  SystemTime created_at) {
  ClientCertificate cert;
  cert.fingerprint_sha256 = std::string(fingerprint);
  cert.client_id = MakeClientId(client);
  cert.serial_hex = "0a1b2c";
  cert.not_before = created_at - std::chrono::hours(1);
  cert.not_after = created_at + std::chrono::hours(24 * 365);
  cert.created_at = created_at;
  return cert;
}

TEST_P(DatabaseContractTest, OpensAtTheLatestSchemaAndPings) {
  EXPECT_EQ(db_->schema_version(), kLatestSchemaVersion);
  EXPECT_TRUE(db_->Ping());
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM schema_migrations"), kLatestSchemaVersion);
}

TEST_P(DatabaseContractTest, InsertReportsNewRowsAndDuplicates) {
  std::vector<StoredMessage> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(MakeMessage(clock_.Now() + seconds(i)));
  EXPECT_EQ(InsertOk(*store_, batch), (std::vector<bool>{true, true, true}));

  // The same rows again plus a new one: only the new one is inserted, the old ones are untouched.
  StoredMessage changed = batch[1];
  changed.key_id = "k2";
  const StoredMessage fresh = MakeMessage(clock_.Now() + seconds(10));
  EXPECT_EQ(InsertOk(*store_, {batch[0], changed, fresh}), (std::vector<bool>{false, false, true}));
  auto got = store_->Get(batch[1].id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->key_id, "k1");

  // The same id twice in one batch: the first is new, the second is not.
  const StoredMessage twice = MakeMessage(clock_.Now() + seconds(20));
  EXPECT_EQ(InsertOk(*store_, {twice, twice}), (std::vector<bool>{true, false}));
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM messages"), 5);
}

TEST_P(DatabaseContractTest, EmptyBatchIsOkAndARowWithoutIdIsRefused) {
  auto empty = store_->InsertBatch({});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());

  std::vector<StoredMessage> batch = {MakeMessage(clock_.Now()), StoredMessage{}};
  auto refused = store_->InsertBatch(batch);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM messages"), 0);
}

TEST_P(DatabaseContractTest, ABatchIsAllOrNothing) {
  backend_->RejectKeyId("poison");
  StoredMessage good = MakeMessage(clock_.Now());
  StoredMessage bad = MakeMessage(clock_.Now() + seconds(1));
  bad.key_id = "poison";
  bad.content = "secret-row-content";
  auto failed = store_->InsertBatch(std::vector<StoredMessage>{good, bad});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(failed.error().message, ::testing::Not(HasSubstr("secret-row-content")));
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM messages"), 0);

  // The connection is usable afterwards and the good row goes in on its own.
  EXPECT_EQ(InsertOk(*store_, {good}), (std::vector<bool>{true}));
}

TEST_P(DatabaseContractTest, LargeBatchesSpanSeveralStatements) {
  std::vector<StoredMessage> batch;
  for (int i = 0; i < 2'500; ++i) batch.push_back(MakeMessage(clock_.Now() + seconds(i)));
  const auto first = InsertOk(*store_, batch);
  ASSERT_EQ(first.size(), batch.size());
  EXPECT_EQ(std::count(first.begin(), first.end(), true), 2'500);
  batch.push_back(MakeMessage(clock_.Now() + minutes(999)));
  const auto second = InsertOk(*store_, batch);
  ASSERT_EQ(second.size(), batch.size());
  EXPECT_EQ(std::count(second.begin(), second.end(), true), 1);
  EXPECT_TRUE(second.back());
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM messages"), 2'501);
}

TEST_P(DatabaseContractTest, RoundTripsEveryFieldAndBinaryContent) {
  StoredMessage m = MakeMessage(clock_.Now());
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
  m.content = all_bytes + std::string(3, '\0') + all_bytes;
  m.nonce = std::string("\0\0\x01\0\xff\0\0\0\0\0\0\0", 12);
  m.status = MessageStatus::kFailed;
  m.attempts = 4'000'000'000u;
  m.last_error = "upstream said \"no\"; 'quoted' \\ backslash — ünïcödé";
  m.delivered_at = std::nullopt;
  m.failed_at = clock_.Now() + seconds(9);
  StoredMessage big = MakeMessage(clock_.Now() + seconds(1));
  big.content = std::string(1 << 20, '\0');
  big.content[12345] = '\x01';
  EXPECT_EQ(InsertOk(*store_, {m, big}), (std::vector<bool>{true, true}));

  auto got = store_->Get(m.id);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(*got);
  ExpectSameMessage(**got, m);
  auto got_big = store_->Get(big.id);
  ASSERT_TRUE(got_big && *got_big);
  EXPECT_EQ((*got_big)->content, big.content);

  auto missing = store_->Get(MessageId::Generate(clock_.Now()));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST_P(DatabaseContractTest, ListFiltersOrdersAndPages) {
  const SystemTime t0 = clock_.Now();
  std::vector<StoredMessage> rows;
  for (int i = 0; i < 7; ++i) {
    StoredMessage m = MakeMessage(t0 + minutes(i), i % 2 == 0 ? "acme" : "globex");
    m.status = i == 3 ? MessageStatus::kFailed : MessageStatus::kDelivered;
    m.sender_hmac = std::string(64, i == 5 ? 'b' : 'a');
    rows.push_back(m);
  }
  InsertOk(*store_, rows);

  MessageQuery all;
  all.page_size = 3;
  MessagePage page = ListOk(*store_, all);
  EXPECT_EQ(page.total, 7u);
  EXPECT_EQ(Ids(page), (std::vector<MessageId>{rows[6].id, rows[5].id, rows[4].id}));
  all.page = 3;
  page = ListOk(*store_, all);
  EXPECT_EQ(Ids(page), (std::vector<MessageId>{rows[0].id}));
  EXPECT_EQ(page.page, 3u);
  EXPECT_EQ(page.page_size, 3u);
  all.page = 4;
  page = ListOk(*store_, all);
  EXPECT_TRUE(page.items.empty());
  EXPECT_EQ(page.total, 7u);

  MessageQuery by_client;
  by_client.client_id = MakeClientId("globex");
  page = ListOk(*store_, by_client);
  EXPECT_EQ(Ids(page), (std::vector<MessageId>{rows[5].id, rows[3].id, rows[1].id}));
  by_client.status = MessageStatus::kDelivered;
  page = ListOk(*store_, by_client);
  EXPECT_EQ(Ids(page), (std::vector<MessageId>{rows[5].id, rows[1].id}));

  MessageQuery window;
  window.from = t0 + minutes(2);
  window.to = t0 + minutes(5);
  page = ListOk(*store_, window);
  EXPECT_EQ(Ids(page), (std::vector<MessageId>{rows[4].id, rows[3].id, rows[2].id}));
  EXPECT_EQ(page.total, 3u);

  MessageQuery by_sender;
  by_sender.sender_hmac = std::string(64, 'b');
  page = ListOk(*store_, by_sender);
  EXPECT_EQ(Ids(page), (std::vector<MessageId>{rows[5].id}));

  MessageQuery failed;
  failed.status = MessageStatus::kFailed;
  EXPECT_EQ(ListOk(*store_, failed).total, 1u);
  MessageQuery queued;
  queued.status = MessageStatus::kQueued;
  EXPECT_EQ(ListOk(*store_, queued).total, 0u);
}

TEST_P(DatabaseContractTest, ListBreaksTiesByIdDescending) {
  std::vector<StoredMessage> rows;
  for (int i = 0; i < 5; ++i) rows.push_back(MakeMessage(clock_.Now()));
  InsertOk(*store_, rows);
  std::vector<MessageId> expected;
  for (const auto& m : rows) expected.push_back(m.id);
  std::sort(expected.rbegin(), expected.rend());
  EXPECT_EQ(Ids(ListOk(*store_, MessageQuery{})), expected);
}

TEST_P(DatabaseContractTest, ListRefusesBadPages) {
  MessageQuery query;
  query.page = 0;
  auto refused = store_->List(query);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidQuery);
  EXPECT_EQ(refused.error().field, "page");
  query.page = 1;
  query.page_size = 501;
  refused = store_->List(query);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "page_size");
  query.page_size = 0;
  EXPECT_FALSE(store_->List(query));
  query.page_size = 500;
  EXPECT_TRUE(store_->List(query));
}

TEST_P(DatabaseContractTest, SqlInStringsIsData) {
  const std::string injection = "x'); DROP TABLE messages; --";
  StoredMessage m = MakeMessage(clock_.Now());
  m.sender_masked = injection;
  m.last_error = "' OR '1'='1";
  m.key_id = "\"; DELETE FROM clients; --";
  EXPECT_EQ(InsertOk(*store_, {m}), (std::vector<bool>{true}));
  auto got = store_->Get(m.id);
  ASSERT_TRUE(got && *got);
  ExpectSameMessage(**got, m);

  MessageQuery query;
  query.sender_hmac = "' OR 1=1 --";
  EXPECT_EQ(ListOk(*store_, query).total, 0u);

  Client client = MakeClient("acme", clock_.Now());
  client.domain = injection;
  ASSERT_TRUE(registry_->CreateClient(client));
  auto found = registry_->FindByFingerprint("' OR '1'='1");
  ASSERT_TRUE(found);
  EXPECT_FALSE(*found);
  auto stored = registry_->GetClient(client.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->domain, injection);
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM messages"), 1);
}

TEST_P(DatabaseContractTest, ACorruptedRowIsReportedByIdOnly) {
  StoredMessage m = MakeMessage(clock_.Now());
  InsertOk(*store_, {m});
  backend_->Exec("UPDATE messages SET client_id = 'not a client id!' WHERE id = '" + m.id.str() +
                 "'");
  auto got = store_->Get(m.id);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kDataCorrupted);
  EXPECT_THAT(got.error().message, HasSubstr(m.id.str()));
  EXPECT_THAT(got.error().message, ::testing::Not(HasSubstr("not a client id!")));
}

// `msgbroker admin client issue` and `up` register a client with its first certificate: a
// refused certificate leaves no client behind, and a refused client no certificate.
TEST_P(DatabaseContractTest, ClientWithItsFirstCertificateIsAllOrNothing) {
  const SystemTime t0 = clock_.Now();
  ASSERT_TRUE(registry_->CreateClientWithCertificate(MakeClient("acme", t0),
                                                     MakeCertificate("fp-a", "acme", t0)));
  auto identity = registry_->FindByFingerprint("fp-a");
  ASSERT_TRUE(identity && *identity);
  EXPECT_EQ((*identity)->client.id.str(), "acme");

  auto certificate_taken = registry_->CreateClientWithCertificate(
      MakeClient("globex", t0), MakeCertificate("fp-a", "globex", t0));
  ASSERT_FALSE(certificate_taken);
  EXPECT_EQ(certificate_taken.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(certificate_taken.error().field, "fingerprint_sha256");
  auto globex = registry_->GetClient(MakeClientId("globex"));
  ASSERT_TRUE(globex);
  EXPECT_FALSE(*globex) << "the client of a refused certificate was kept";

  auto client_taken = registry_->CreateClientWithCertificate(MakeClient("acme", t0),
                                                             MakeCertificate("fp-b", "acme", t0));
  ASSERT_FALSE(client_taken);
  EXPECT_EQ(client_taken.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(client_taken.error().field, "id");
  auto fp_b = registry_->FindByFingerprint("fp-b");
  ASSERT_TRUE(fp_b);
  EXPECT_FALSE(*fp_b);

  // The refused transactions were rolled back: the same pool goes on working.
  ASSERT_TRUE(registry_->CreateClientWithCertificate(MakeClient("globex", t0),
                                                     MakeCertificate("fp-g", "globex", t0)));
  auto clients = registry_->ListClients();
  ASSERT_TRUE(clients);
  EXPECT_EQ(clients->size(), 2u);
  auto certs = registry_->ListCertificates(MakeClientId("acme"));
  ASSERT_TRUE(certs);
  EXPECT_EQ(certs->size(), 1u);
}

TEST_P(DatabaseContractTest, RegistryCreatesFindsAndLists) {
  const SystemTime t0 = clock_.Now();
  ASSERT_TRUE(registry_->CreateClient(MakeClient("globex", t0)));
  ASSERT_TRUE(registry_->CreateClient(MakeClient("acme", t0 + seconds(1))));
  auto taken = registry_->CreateClient(MakeClient("acme", t0));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kAlreadyExists);

  ASSERT_TRUE(registry_->AddCertificate(MakeCertificate("fp-b", "acme", t0 + seconds(5))));
  ASSERT_TRUE(registry_->AddCertificate(MakeCertificate("fp-a", "acme", t0 + seconds(6))));
  ASSERT_TRUE(registry_->AddCertificate(MakeCertificate("fp-c", "globex", t0)));
  auto duplicate = registry_->AddCertificate(MakeCertificate("fp-a", "globex", t0));
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, ErrorCode::kAlreadyExists);
  auto orphan = registry_->AddCertificate(MakeCertificate("fp-z", "nobody", t0));
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, ErrorCode::kNotFound);

  auto client = registry_->GetClient(MakeClientId("acme"));
  ASSERT_TRUE(client && *client);
  EXPECT_EQ((*client)->domain, "acme.example");
  EXPECT_EQ((*client)->status, ClientStatus::kActive);
  EXPECT_EQ((*client)->created_at, t0 + seconds(1));
  auto none = registry_->GetClient(MakeClientId("nobody"));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  auto clients = registry_->ListClients();
  ASSERT_TRUE(clients);
  ASSERT_EQ(clients->size(), 2u);
  EXPECT_EQ((*clients)[0].id.str(), "acme");
  EXPECT_EQ((*clients)[1].id.str(), "globex");

  auto certs = registry_->ListCertificates(MakeClientId("acme"));
  ASSERT_TRUE(certs);
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ((*certs)[0].fingerprint_sha256, "fp-b");
  EXPECT_EQ((*certs)[1].fingerprint_sha256, "fp-a");
  EXPECT_EQ((*certs)[0].not_after, t0 + seconds(5) + std::chrono::hours(24 * 365));

  auto identity = registry_->FindByFingerprint("fp-c");
  ASSERT_TRUE(identity && *identity);
  EXPECT_EQ((*identity)->client.id.str(), "globex");
  EXPECT_EQ((*identity)->certificate.serial_hex, "0a1b2c");
  EXPECT_EQ((*identity)->certificate.status, CertificateStatus::kActive);

  auto identities = registry_->ListIdentities();
  ASSERT_TRUE(identities);
  ASSERT_EQ(identities->size(), 3u);
  EXPECT_EQ((*identities)[0].certificate.fingerprint_sha256, "fp-b");
  EXPECT_EQ((*identities)[1].certificate.fingerprint_sha256, "fp-a");
  EXPECT_EQ((*identities)[2].certificate.fingerprint_sha256, "fp-c");
}

TEST_P(DatabaseContractTest, RegistrySetsStatus) {
  ASSERT_TRUE(registry_->CreateClient(MakeClient("acme", clock_.Now())));
  ASSERT_TRUE(registry_->SetClientStatus(MakeClientId("acme"), ClientStatus::kSuspended));
  // Setting the status it already has is not "no such client".
  ASSERT_TRUE(registry_->SetClientStatus(MakeClientId("acme"), ClientStatus::kSuspended));
  auto client = registry_->GetClient(MakeClientId("acme"));
  ASSERT_TRUE(client && *client);
  EXPECT_EQ((*client)->status, ClientStatus::kSuspended);
  auto unknown = registry_->SetClientStatus(MakeClientId("nobody"), ClientStatus::kRevoked);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

// ---- per-client rate limits (schema version 3) ------------------------------------------------

TEST_P(DatabaseContractTest, RegistryClientsStartWithTheDefaultRateLimit) {
  ASSERT_TRUE(registry_->CreateClient(MakeClient("acme", clock_.Now())));
  auto client = registry_->GetClient(MakeClientId("acme"));
  ASSERT_TRUE(client && *client);
  EXPECT_FALSE((*client)->rate_limit.has_value());
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM clients WHERE rate_per_second IS NULL AND "
                               "rate_burst IS NULL"),
            1);
}

TEST_P(DatabaseContractTest, RegistrySetsAndClearsARateLimit) {
  const auto t0 = clock_.Now();
  ASSERT_TRUE(registry_->CreateClient(MakeClient("acme", t0)));
  ASSERT_TRUE(registry_->CreateClient(MakeClient("globex", t0)));
  ASSERT_TRUE(registry_->AddCertificate(MakeCertificate("fp-a", "acme", t0)));
  ASSERT_TRUE(registry_->AddCertificate(MakeCertificate("fp-g", "globex", t0)));
  const ClientRateLimit limit{5, 20};
  ASSERT_TRUE(registry_->SetClientRateLimit(MakeClientId("acme"), limit));
  ASSERT_TRUE(registry_->SetClientRateLimit(MakeClientId("acme"), limit));  // same again: fine
  ASSERT_TRUE(registry_->SetClientRateLimit(MakeClientId("globex"), ClientRateLimit{0, 0}));

  auto client = registry_->GetClient(MakeClientId("acme"));
  ASSERT_TRUE(client && *client);
  EXPECT_EQ((*client)->rate_limit, limit);
  auto clients = registry_->ListClients();
  ASSERT_TRUE(clients);
  ASSERT_EQ(clients->size(), 2u);
  EXPECT_EQ((*clients)[0].rate_limit, limit);
  ASSERT_TRUE((*clients)[1].rate_limit.has_value());
  EXPECT_TRUE((*clients)[1].rate_limit->unlimited());
  auto identities = registry_->ListIdentities();
  ASSERT_TRUE(identities);
  ASSERT_EQ(identities->size(), 2u);
  EXPECT_EQ((*identities)[0].client.rate_limit, limit);
  EXPECT_EQ((*identities)[0].certificate.fingerprint_sha256, "fp-a");
  EXPECT_EQ((*identities)[1].client.rate_limit, (ClientRateLimit{0, 0}));
  auto found = registry_->FindByFingerprint("fp-a");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->client.rate_limit, limit);

  ASSERT_TRUE(registry_->SetClientRateLimit(MakeClientId("acme"), std::nullopt));
  client = registry_->GetClient(MakeClientId("acme"));
  ASSERT_TRUE(client && *client);
  EXPECT_FALSE((*client)->rate_limit.has_value());
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM clients WHERE rate_per_second IS NULL"), 1);
}

TEST_P(DatabaseContractTest, RegistryRefusesInvalidRateLimitsAndUnknownClients) {
  Client client = MakeClient("acme", clock_.Now());
  ASSERT_TRUE(registry_->CreateClient(client));
  ASSERT_TRUE(registry_->SetClientRateLimit(client.id, ClientRateLimit{3, 9}));
  struct Case {
    ClientRateLimit limit;
    const char* field;
  };
  for (const Case& c : {Case{{0, 5}, "per_second"}, Case{{-1, 5}, "per_second"},
                        Case{{kMaxClientRatePerSecond + 1, 5}, "per_second"}, Case{{5, 0}, "burst"},
                        Case{{5, -3}, "burst"}, Case{{5, kMaxClientRateBurst + 1}, "burst"}}) {
    auto refused = registry_->SetClientRateLimit(client.id, c.limit);
    ASSERT_FALSE(refused) << c.limit.per_second << "/" << c.limit.burst;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(refused.error().field, c.field);
  }
  // Nothing was written by the refused calls.
  auto stored = registry_->GetClient(client.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->rate_limit, (ClientRateLimit{3, 9}));

  auto unknown = registry_->SetClientRateLimit(MakeClientId("nobody"), ClientRateLimit{1, 1});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  auto unknown_clear = registry_->SetClientRateLimit(MakeClientId("nobody"), std::nullopt);
  ASSERT_FALSE(unknown_clear);
  EXPECT_EQ(unknown_clear.error().code, ErrorCode::kNotFound);

  Client bad = MakeClient("globex", clock_.Now());
  bad.rate_limit = ClientRateLimit{2, 0};
  auto not_created = registry_->CreateClient(bad);
  ASSERT_FALSE(not_created);
  EXPECT_EQ(not_created.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM clients"), 1);
}

TEST_P(DatabaseContractTest, RegistryCreatesAClientWithItsOwnRateLimit) {
  Client client = MakeClient("acme", clock_.Now());
  client.rate_limit = ClientRateLimit{7, 70};
  ASSERT_TRUE(registry_->CreateClient(client));
  auto stored = registry_->GetClient(client.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->rate_limit, (ClientRateLimit{7, 70}));
}

TEST_P(DatabaseContractTest, RegistryReportsAHalfSetRateLimitAsCorrupted) {
  ASSERT_TRUE(registry_->CreateClient(MakeClient("acme", clock_.Now())));
  backend_->Exec("UPDATE clients SET rate_per_second = 5 WHERE id = 'acme'");
  auto client = registry_->GetClient(MakeClientId("acme"));
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, ErrorCode::kDataCorrupted);
  auto identities = registry_->ListClients();
  ASSERT_FALSE(identities);
  EXPECT_EQ(identities.error().code, ErrorCode::kDataCorrupted);
}

// ---- certificate lifecycle (schema version 2) --------------------------------------------------

CertificateRecord MakeServiceRecord(std::string_view fingerprint, std::string_view role,
                                    SystemTime not_after) {
  CertificateRecord record;
  record.kind = CertificateKind::kService;
  record.fingerprint_sha256 = std::string(fingerprint);
  record.serial_hex = "5e" + std::string(fingerprint);
  record.owner = std::string(role);
  record.domain = "localhost,proxy.internal";
  record.not_before = not_after - std::chrono::hours(24 * 825);
  record.not_after = not_after;
  record.created_at = record.not_before;
  return record;
}

class CertificateContract {
 public:
  // Three clients in two domains, certificates expiring at t0 + 10, 20, 30, 40 days.
  static void Seed(ClientRegistry& registry, SystemTime t0) {
    const auto day = std::chrono::hours(24);
    ASSERT_TRUE(registry.CreateClient(MakeClient("acme", t0)));
    ASSERT_TRUE(registry.CreateClient(MakeClient("globex", t0)));
    Client other = MakeClient("initech", t0);
    other.domain = "acme.example";
    ASSERT_TRUE(registry.CreateClient(other));
    int n = 0;
    for (const auto& [fp, client] : {std::pair{"fp-1", "acme"}, std::pair{"fp-2", "globex"},
                                     std::pair{"fp-3", "initech"}, std::pair{"fp-4", "acme"}}) {
      ClientCertificate cert = MakeCertificate(fp, client, t0);
      cert.serial_hex = std::string("5e") + fp;
      cert.not_after = t0 + day * (10 * ++n);
      ASSERT_TRUE(registry.AddCertificate(cert));
    }
  }
};

std::vector<std::string> Fingerprints(const CertificatePage& page) {
  std::vector<std::string> out;
  for (const auto& item : page.items) out.push_back(item.fingerprint_sha256);
  return out;
}

TEST_P(DatabaseContractTest, CertificatesListWithFiltersAndPages) {
  const SystemTime t0 = clock_.Now();
  CertificateContract::Seed(*registry_, t0);
  auto certificates = db_->certificates();
  const auto list = [&](CertificateQuery query) {
    auto page = certificates->List(query);
    EXPECT_TRUE(page) << page.error().message;
    return page ? *page : CertificatePage{};
  };
  auto all = list({});
  EXPECT_EQ(all.total, 4u);
  EXPECT_THAT(Fingerprints(all), ::testing::ElementsAre("fp-1", "fp-2", "fp-3", "fp-4"));
  const CertificateRecord& first = all.items.at(0);
  EXPECT_EQ(first.kind, CertificateKind::kClient);
  EXPECT_EQ(first.owner, "acme");
  EXPECT_EQ(first.domain, "acme.example");
  EXPECT_EQ(first.serial_hex, "5efp-1");
  EXPECT_EQ(first.not_after, t0 + std::chrono::hours(24 * 10));
  EXPECT_EQ(first.status, CertificateStatus::kActive);
  EXPECT_FALSE(first.revoked_at.has_value());
  EXPECT_EQ(first.revocation_reason, "");

  auto by_domain = list({.domain = "acme.example"});
  EXPECT_EQ(by_domain.total, 3u);
  EXPECT_THAT(Fingerprints(by_domain), ::testing::ElementsAre("fp-1", "fp-3", "fp-4"));
  // Expiring within 25 days of t0 + 5 days: not_after in [t0+5d, t0+30d).
  auto expiring = list({.not_after_from = t0 + std::chrono::hours(24 * 5),
                        .not_after_to = t0 + std::chrono::hours(24 * 30)});
  EXPECT_THAT(Fingerprints(expiring), ::testing::ElementsAre("fp-1", "fp-2"));
  auto second_page = list({.page = 2, .page_size = 3});
  EXPECT_EQ(second_page.total, 4u);
  EXPECT_EQ(second_page.page, 2u);
  EXPECT_THAT(Fingerprints(second_page), ::testing::ElementsAre("fp-4"));
  auto past_the_end = list({.page = 3, .page_size = 3});
  EXPECT_EQ(past_the_end.total, 4u);
  EXPECT_TRUE(past_the_end.items.empty());

  ASSERT_TRUE(certificates->Revoke(CertificateKind::kClient, "fp-2", "key-compromise", t0));
  auto revoked = list({.status = CertificateStatus::kRevoked});
  EXPECT_THAT(Fingerprints(revoked), ::testing::ElementsAre("fp-2"));
  auto active_acme = list({.status = CertificateStatus::kActive, .domain = "globex.example"});
  EXPECT_EQ(active_acme.total, 0u);

  for (const CertificateQuery& bad :
       {CertificateQuery{.page = 0}, CertificateQuery{.page_size = 0},
        CertificateQuery{.page_size = 501},
        CertificateQuery{.kind = CertificateKind::kService, .domain = "x"}}) {
    auto refused = certificates->List(bad);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidQuery);
  }
  // A filter value that looks like SQL is only a value.
  EXPECT_EQ(list({.domain = "x' OR '1'='1"}).total, 0u);
}

TEST_P(DatabaseContractTest, RevokingOneCertificateKeepsTheFirstReasonAndFeedsTheProxy) {
  const SystemTime t0 = clock_.Now();
  CertificateContract::Seed(*registry_, t0);
  auto certificates = db_->certificates();
  ASSERT_TRUE(
      certificates->Revoke(CertificateKind::kClient, "fp-1", "key-compromise", t0 + seconds(7)));
  auto again = certificates->Revoke(CertificateKind::kClient, "fp-1", "unspecified", t0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  auto missing = certificates->Revoke(CertificateKind::kClient, "fp-none", "unspecified", t0);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  // A client certificate is not a service certificate.
  auto wrong_kind = certificates->Revoke(CertificateKind::kService, "fp-2", "unspecified", t0);
  ASSERT_FALSE(wrong_kind);
  EXPECT_EQ(wrong_kind.error().code, ErrorCode::kNotFound);
  auto no_reason = certificates->Revoke(CertificateKind::kClient, "fp-2", "", t0);
  ASSERT_FALSE(no_reason);
  EXPECT_EQ(no_reason.error().code, ErrorCode::kInvalidRequest);

  auto found = certificates->FindBySerial("5efp-1");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->fingerprint_sha256, "fp-1");
  EXPECT_EQ((*found)->status, CertificateStatus::kRevoked);
  EXPECT_EQ((*found)->revoked_at, t0 + seconds(7));
  EXPECT_EQ((*found)->revocation_reason, "key-compromise");
  // The registry (what proxies snapshot) sees the revocation; the client itself stays active.
  auto identity = registry_->FindByFingerprint("fp-1");
  ASSERT_TRUE(identity && *identity);
  EXPECT_EQ((*identity)->certificate.status, CertificateStatus::kRevoked);
  EXPECT_EQ((*identity)->client.status, ClientStatus::kActive);
  auto unknown = certificates->FindBySerial("nope");
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(*unknown);
}

TEST_P(DatabaseContractTest, ServiceCertificatesAreRecordedListedAndRevoked) {
  const SystemTime t0 = clock_.Now();
  auto certificates = db_->certificates();
  ASSERT_TRUE(certificates->AddServiceCertificate(
      MakeServiceRecord("sfp-2", "proxy", t0 + std::chrono::hours(48))));
  ASSERT_TRUE(certificates->AddServiceCertificate(
      MakeServiceRecord("sfp-1", "main-server", t0 + std::chrono::hours(24))));
  auto duplicate = certificates->AddServiceCertificate(
      MakeServiceRecord("sfp-1", "worker", t0 + std::chrono::hours(24)));
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, ErrorCode::kAlreadyExists);
  CertificateRecord client_kind = MakeServiceRecord("sfp-3", "proxy", t0);
  client_kind.kind = CertificateKind::kClient;
  EXPECT_FALSE(certificates->AddServiceCertificate(client_kind));

  auto page = certificates->List({.kind = CertificateKind::kService});
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->total, 2u);
  EXPECT_THAT(Fingerprints(*page), ::testing::ElementsAre("sfp-1", "sfp-2"));
  EXPECT_EQ(page->items.at(0).kind, CertificateKind::kService);
  EXPECT_EQ(page->items.at(0).owner, "main-server");
  EXPECT_EQ(page->items.at(0).domain, "localhost,proxy.internal");
  // Client listings do not show service certificates.
  auto clients = certificates->List({});
  ASSERT_TRUE(clients);
  EXPECT_EQ(clients->total, 0u);

  ASSERT_TRUE(certificates->Revoke(CertificateKind::kService, "sfp-2", "cessation-of-operation",
                                   t0 + seconds(3)));
  auto found = certificates->FindByFingerprint("sfp-2");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->kind, CertificateKind::kService);
  EXPECT_EQ((*found)->status, CertificateStatus::kRevoked);
  EXPECT_EQ((*found)->revocation_reason, "cessation-of-operation");
}

TEST_P(DatabaseContractTest, ARenewedCertificateIsRevokedAsSupersededWhenItsOverlapEnds) {
  const SystemTime t0 = clock_.Now();
  CertificateContract::Seed(*registry_, t0);
  auto certificates = db_->certificates();
  ASSERT_TRUE(certificates->ScheduleRevocation("fp-1", t0 + std::chrono::hours(24)));
  auto missing = certificates->ScheduleRevocation("fp-none", t0);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  auto early = certificates->RevokeDue(t0 + std::chrono::hours(23));
  ASSERT_TRUE(early) << early.error().message;
  EXPECT_EQ(*early, 0u);
  auto pending = certificates->FindByFingerprint("fp-1");
  ASSERT_TRUE(pending && *pending);
  EXPECT_EQ((*pending)->status, CertificateStatus::kActive);
  EXPECT_EQ((*pending)->revoke_after, t0 + std::chrono::hours(24));

  auto due = certificates->RevokeDue(t0 + std::chrono::hours(25));
  ASSERT_TRUE(due) << due.error().message;
  EXPECT_EQ(*due, 1u);
  auto revoked = certificates->FindByFingerprint("fp-1");
  ASSERT_TRUE(revoked && *revoked);
  EXPECT_EQ((*revoked)->status, CertificateStatus::kRevoked);
  EXPECT_EQ((*revoked)->revoked_at, t0 + std::chrono::hours(24));
  EXPECT_EQ((*revoked)->revocation_reason, "superseded");
  auto done = certificates->ScheduleRevocation("fp-1", t0);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::kAlreadyExists);

  ASSERT_TRUE(certificates->AddServiceCertificate(
      MakeServiceRecord("sfp-1", "proxy", t0 + std::chrono::hours(48))));
  ASSERT_TRUE(certificates->Revoke(CertificateKind::kService, "sfp-1", "key-compromise",
                                   t0 + std::chrono::hours(1)));
  auto all_revoked = certificates->ListRevoked();
  ASSERT_TRUE(all_revoked) << all_revoked.error().message;
  ASSERT_EQ(all_revoked->size(), 2u);
  EXPECT_EQ((*all_revoked)[0].fingerprint_sha256, "sfp-1");  // revoked first
  EXPECT_EQ((*all_revoked)[1].fingerprint_sha256, "fp-1");
}

TEST_P(DatabaseContractTest, ReopeningIsANoOpAndKeepsTheData) {
  const StoredMessage m = MakeMessage(clock_.Now());
  InsertOk(*store_, {m});
  store_.reset();
  registry_.reset();
  db_.reset();
  clock_.Advance(std::chrono::hours(1));
  auto again = Open();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->schema_version(), kLatestSchemaVersion);
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM schema_migrations"), kLatestSchemaVersion);
  auto got = again->messages()->Get(m.id);
  ASSERT_TRUE(got && *got);
  ExpectSameMessage(**got, m);
}

TEST_P(DatabaseContractTest, ANewerSchemaIsRefused) {
  store_.reset();
  registry_.reset();
  db_.reset();
  backend_->Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)");
  auto refused = OpenDatabase(Options(), clock_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDataCorrupted);
  EXPECT_THAT(refused.error().message,
              HasSubstr("schema version 99 is newer than this program supports (" +
                        std::to_string(kLatestSchemaVersion) + ")"));
  EXPECT_EQ(backend_->QueryInt("SELECT max(version) FROM schema_migrations"), 99);
}

// A fresh database for each thread's test: the fixture's own database is already migrated.
TEST_P(DatabaseContractTest, MigrationsDisabledLeaveAFreshDatabaseAlone) {
  auto fresh = GetParam().make();
  ASSERT_NE(fresh, nullptr);
  DatabaseOptions options = Options();
  options.url = fresh->url();
  options.migrate = false;
  auto refused = OpenDatabase(options, clock_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_THAT(refused.error().message, HasSubstr("migrations are disabled"));
  options.migrate = true;
  auto opened = OpenDatabase(options, clock_);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ((*opened)->schema_version(), kLatestSchemaVersion);
}

TEST_P(DatabaseContractTest, ConcurrentOpensApplyEachMigrationOnce) {
  auto fresh = GetParam().make();
  ASSERT_NE(fresh, nullptr);
  DatabaseOptions options = Options();
  options.url = fresh->url();
  std::atomic<int> opened{0};
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto db = OpenDatabase(options, clock_);
      if (!db) {
        errors[static_cast<std::size_t>(i)] = db.error().message;
        return;
      }
      if ((*db)->schema_version() == kLatestSchemaVersion && (*db)->Ping()) ++opened;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(opened.load(), 4);
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM schema_migrations"), kLatestSchemaVersion);
}

TEST_P(DatabaseContractTest, StoresOutliveTheDatabaseObject) {
  db_.reset();
  const StoredMessage m = MakeMessage(clock_.Now());
  EXPECT_EQ(InsertOk(*store_, {m}), (std::vector<bool>{true}));
  EXPECT_TRUE(registry_->CreateClient(MakeClient("acme", clock_.Now())));
  EXPECT_TRUE(store_->Ping());
}

TEST_P(DatabaseContractTest, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 6;
  constexpr int kBatches = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<StoredMessage> batch;
        for (int i = 0; i < 20; ++i) {
          batch.push_back(MakeMessage(clock_.Now() + seconds(t * 1000 + b * 20 + i)));
        }
        auto inserted = store_->InsertBatch(batch);
        if (!inserted || std::count(inserted->begin(), inserted->end(), true) != 20) ++failures;
        if (!store_->List(MessageQuery{})) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ListOk(*store_, MessageQuery{}).total, std::uint64_t{kThreads * kBatches * 20});
}

}  // namespace
}  // namespace msgbroker::storage::testing
