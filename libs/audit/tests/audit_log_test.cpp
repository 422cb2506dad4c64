#include "msgbroker/audit/audit_log.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <array>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>
#include <vector>

#include "msgbroker/testing/temp_dir.hpp"

namespace msgbroker::audit {
namespace {

namespace fs = std::filesystem;

class AuditLogTest : public ::testing::Test {
 protected:
  AuditEvent Event(int i) {
    return {"cli:alice@host",
            "client.create",
            "client:c" + std::to_string(i),
            "local",
            {{"domain", "c" + std::to_string(i) + ".example"}}};
  }
  void AppendN(int n) {
    for (int i = 1; i <= n; ++i) ASSERT_TRUE(AppendAuditEvent(path_, Event(i), clock_));
  }
  std::vector<std::string> Lines() {
    std::ifstream in(path_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  void Write(const std::vector<std::string>& lines) {
    std::ofstream out(path_, std::ios::trunc);
    for (const auto& line : lines) out << line << "\n";
  }
  AuditVerification Verify() {
    auto v = VerifyAuditLog(path_);
    EXPECT_TRUE(v) << v.error().message;
    return v ? *v : AuditVerification{};
  }

  testing::TempDir dir_{"msgbroker-audit"};
  fs::path path_ = dir_.path() / "audit.log";
  FakeClock clock_;
};

TEST_F(AuditLogTest, RecordsChainAndVerify) {
  auto first = AppendAuditEvent(path_, Event(1), clock_);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->seq, 1u);
  AppendN(2);
  const auto v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 3u);
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 3u);
  const auto last = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(v.head_hash, last["hash"]);
  EXPECT_EQ(last["actor"], "cli:alice@host");
  EXPECT_EQ(last["action"], "client.create");
  EXPECT_EQ(last["target"], "client:c2");
  EXPECT_EQ(last["source"], "local");
  EXPECT_EQ(last["at"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(last["prev"], nlohmann::json::parse(lines[1])["hash"]);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["prev"], std::string(64, '0'));
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditLogTest, AnEditedRecordIsNamed) {
  AppendN(4);
  auto lines = Lines();
  auto record = nlohmann::json::parse(lines[2]);
  record["target"] = "client:someone-else";
  lines[2] = record.dump();
  Write(lines);
  const auto v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_line, 3u);
  EXPECT_NE(v.problem.find("edited"), std::string::npos) << v.problem;
  EXPECT_EQ(v.records, 2u);
}

TEST_F(AuditLogTest, AnEditWithARecomputedHashBreaksTheNextLink) {
  AppendN(4);
  auto lines = Lines();
  // An attacker who recomputes the edited record's hash still breaks the link of the next one.
  auto record = nlohmann::json::parse(lines[1]);
  record["details"]["domain"] = "evil.example";
  record.erase("hash");
  std::array<unsigned char, 32> digest{};
  unsigned int n = 0;
  const std::string text = record.dump();
  ASSERT_EQ(EVP_Digest(text.data(), text.size(), digest.data(), &n, EVP_sha256(), nullptr), 1);
  std::ostringstream hex;
  for (unsigned char b : digest) hex << std::hex << std::setw(2) << std::setfill('0') << int(b);
  record["hash"] = hex.str();
  lines[1] = record.dump();
  Write(lines);
  const auto v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_line, 3u);
  EXPECT_NE(v.problem.find("link"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, RemovedOrReorderedRecordsAreNamed) {
  AppendN(5);
  auto lines = Lines();
  auto removed = lines;
  removed.erase(removed.begin() + 1);
  Write(removed);
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_line, 2u);
  EXPECT_NE(v.problem.find("sequence number 3"), std::string::npos) << v.problem;

  auto swapped = lines;
  std::swap(swapped[3], swapped[4]);
  Write(swapped);
  v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_line, 4u);

  Write({lines[0], "not json", lines[1]});
  v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_line, 2u);
}

// A truncated tail is a valid shorter chain: only the head printed earlier shows it.
TEST_F(AuditLogTest, TruncationChangesTheHead) {
  AppendN(3);
  const auto before = Verify();
  auto lines = Lines();
  lines.pop_back();
  Write(lines);
  const auto after = Verify();
  EXPECT_TRUE(after.ok);
  EXPECT_EQ(after.records, 2u);
  EXPECT_NE(after.head_hash, before.head_hash);
}

// Several writers (threads here, processes in production) share the file through its lock.
TEST_F(AuditLogTest, ConcurrentAppendsKeepOneChain) {
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) EXPECT_TRUE(AppendAuditEvent(path_, Event(t * 100 + i), clock_));
    });
  }
  for (auto& w : writers) w.join();
  const auto v = Verify();
  EXPECT_TRUE(v.ok) << v.problem << " at line " << v.bad_line;
  EXPECT_EQ(v.records, 100u);
}

TEST_F(AuditLogTest, AMissingLogIsAnError) {
  auto v = VerifyAuditLog(dir_.path() / "nowhere.log");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kNotFound);
}

TEST(AuditOperatorTest, NamesUserAndHost) {
  const std::string who = LocalOperator();
  EXPECT_EQ(who.rfind("cli:", 0), 0u) << who;
  EXPECT_NE(who.find('@'), std::string::npos) << who;
}

}  // namespace
}  // namespace msgbroker::audit
