#pragma once
// The behaviour every Database backend shares (SQLite, PostgreSQL, MySQL/MariaDB), written once as
// value-parametrised tests (database_contract_test.cpp) over a TestBackend that hands each test a
// fresh, empty database. A backend joins with a TestBackend factory and ONE line:
//
//   INSTANTIATE_TEST_SUITE_P(Mysql, DatabaseContractTest,
//                            ::testing::Values(BackendParam{"mysql", MakeMysqlBackend}),
//                            BackendParamName);
//
// (see sqlite_contract_test.cpp and pg_storage_test.cpp).

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/storage/database.hpp"

namespace msgbroker::storage::testing {

class TestBackend {
 public:
  virtual ~TestBackend() = default;
  // The URL of this test's own empty database (dropped when the backend is destroyed).
  virtual std::string url() const = 0;
  // SQL behind the adapter's back, against this test's database (gtest failure on error).
  virtual void Exec(const std::string& sql) = 0;
  virtual std::int64_t QueryInt(const std::string& sql) = 0;
  // Makes the database refuse a message row whose key_id is `key_id` (a CHECK constraint or a
  // trigger), to fail a batch halfway.
  virtual void RejectKeyId(const std::string& key_id) = 0;
};

struct BackendParam {
  std::string name;
  // Creates the backend; a null result with a gtest failure when the server is not there.
  std::function<std::unique_ptr<TestBackend>()> make;
};

// gtest prints the parameter in test names and failures.
inline void PrintTo(const BackendParam& param, std::ostream* os) { *os << param.name; }

inline std::string BackendParamName(const ::testing::TestParamInfo<BackendParam>& info) {
  return info.param.name;
}

class DatabaseContractTest : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override;
  void TearDown() override;

  DatabaseOptions Options() const;
  // Opens this test's database (gtest failure and nullptr on error).
  std::shared_ptr<Database> Open(const DatabaseOptions& options);
  std::shared_ptr<Database> Open() { return Open(Options()); }

  FakeClock clock_;
  std::unique_ptr<TestBackend> backend_;
  std::shared_ptr<Database> db_;
  std::shared_ptr<MessageStore> store_;
  std::shared_ptr<ClientRegistry> registry_;
};

}  // namespace msgbroker::storage::testing
