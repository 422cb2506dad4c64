#pragma once
// Test support shared by every test binary: a fresh temporary directory, removed afterwards.

#include <filesystem>
#include <string_view>

namespace msgbroker::testing {

class TempDir {
 public:
  // mkdtemp under the system temp directory; `prefix` names the files for whoever looks.
  explicit TempDir(std::string_view prefix = "msgbroker-test");
  ~TempDir();  // removes the tree, restoring owner permissions first
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace msgbroker::testing
