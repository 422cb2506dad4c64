#pragma once
// A fresh temporary directory per test, removed afterwards; and small file helpers.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "msgbroker/testing/temp_dir.hpp"

namespace msgbroker::crypto::testing {

using TestDir = msgbroker::testing::TempDir;

inline void WriteFile(const std::filesystem::path& path, std::string_view contents,
                      mode_t mode = 0600) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
  ::chmod(path.c_str(), mode);
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline mode_t FileMode(const std::filesystem::path& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

}  // namespace msgbroker::crypto::testing
