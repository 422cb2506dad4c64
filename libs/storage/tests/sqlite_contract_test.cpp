// The Database contract (database_contract_test.cpp) on SQLite, opened through OpenDatabase with
// a sqlite:/// URL: one temporary file per test.

#include <memory>

#include "database_contract.hpp"
#include "storage_test_support.hpp"

namespace msgbroker::storage::testing {
namespace {

class SqliteBackend final : public TestBackend {
 public:
  std::string url() const override { return "sqlite://" + Path().string(); }
  void Exec(const std::string& sql) override { RawDb(Path()).Exec(sql); }
  std::int64_t QueryInt(const std::string& sql) override { return RawDb(Path()).QueryInt(sql); }
  void RejectKeyId(const std::string& key_id) override {
    Exec("CREATE TRIGGER reject_key_id BEFORE INSERT ON messages WHEN NEW.key_id = '" + key_id +
         "' BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END");
  }

 private:
  fs::path Path() const { return dir_.path() / "broker.db"; }
  TempDir dir_;
};

std::unique_ptr<TestBackend> MakeSqliteBackend() { return std::make_unique<SqliteBackend>(); }

INSTANTIATE_TEST_SUITE_P(Sqlite, DatabaseContractTest,
                         ::testing::Values(BackendParam{"sqlite", MakeSqliteBackend}),
                         BackendParamName);

}  // namespace
}  // namespace msgbroker::storage::testing
