#include <gtest/gtest.h>

#include <fstream>

#include "msgbroker/pki/certificate_authority.hpp"
#include "pki_test_support.hpp"

namespace msgbroker::pki {
namespace {

using std::filesystem::perms;
using testing::PermissionsOf;
using testing::TempDir;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(WriteFileAtomicallyTest, WritesContentsWithExactPermissions) {
  const TempDir dir;
  const auto file = dir.path() / "secret.key";
  const std::string contents("line one\nbinary \0 byte\n", 23);
  ASSERT_TRUE(WriteFileAtomically(file, contents, perms::owner_read | perms::owner_write));
  EXPECT_EQ(ReadFile(file), contents);
  EXPECT_EQ(PermissionsOf(file), perms::owner_read | perms::owner_write);

  // Permissions wider than a typical umask are applied exactly too.
  const auto shared = dir.path() / "shared.txt";
  const perms group_writable = perms::owner_read | perms::owner_write | perms::group_read |
                               perms::group_write | perms::others_read;
  ASSERT_TRUE(WriteFileAtomically(shared, "x", group_writable));
  EXPECT_EQ(PermissionsOf(shared), group_writable);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 2)
      << "no temporary files are left behind";
}

TEST(WriteFileAtomicallyTest, ReplacesAnExistingFile) {
  const TempDir dir;
  const auto file = dir.path() / "config.json";
  ASSERT_TRUE(WriteFileAtomically(file, "old contents that are longer",
                                  perms::owner_read | perms::owner_write));
  ASSERT_TRUE(WriteFileAtomically(file, "new", perms::owner_read));
  EXPECT_EQ(ReadFile(file), "new");
  EXPECT_EQ(PermissionsOf(file), perms::owner_read);
}

TEST(WriteFileAtomicallyTest, MissingDirectoryIsAnErrorNamingThePath) {
  const TempDir dir;
  const auto file = dir.path() / "does-not-exist" / "file.txt";
  const Status status = WriteFileAtomically(file, "data", perms::owner_read | perms::owner_write);
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message.find(file.string()), std::string::npos)
      << status.error().message;
  EXPECT_FALSE(std::filesystem::exists(file));
}

}  // namespace
}  // namespace msgbroker::pki
