#include "msgbroker/testing/test_servers.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace msgbroker::testing {

Result<std::map<std::string, std::string>> TestServerEnv(std::string_view server) {
  const char* root = std::getenv("MSGBROKER_TEST_SERVERS");
  if (root == nullptr || *root == '\0') {
    return Fail(
        ErrorCode::kNotFound,
        "MSGBROKER_TEST_SERVERS is not set: run this test through CTest, which starts the '" +
            std::string(server) + "' server fixture");
  }
  const auto file = std::filesystem::path(root) / std::string(server) / "server.env";
  std::ifstream in(file);
  if (!in) {
    return Fail(ErrorCode::kNotFound,
                "no " + file.string() + ": the '" + std::string(server) + "' server did not start");
  }
  std::map<std::string, std::string> settings;
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (line.empty() || line.front() == '#' || eq == std::string::npos) continue;
    settings[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return settings;
}

Result<std::string> TestServerSetting(std::string_view server, std::string_view key) {
  auto env = TestServerEnv(server);
  if (!env) return tl::unexpected(env.error());
  const auto it = env->find(std::string(key));
  if (it == env->end()) {
    return Fail(ErrorCode::kNotFound,
                "the '" + std::string(server) + "' server did not report " + std::string(key));
  }
  return it->second;
}

}  // namespace msgbroker::testing
