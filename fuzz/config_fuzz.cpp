// Fuzz target: a service's YAML configuration file, parsed by config::ParseConfig (what
// LoadConfig does with a file's content: yaml-cpp, the schema walk, ${VAR} expansion, the
// environment overrides) as the configurations of the services it names, under a fixed
// environment.
//
// Property beyond "no crash": a configuration that parses dumps (config::DumpConfig) to a file that
// parses again to the same configuration, since the dump is documented as a valid file.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "msgbroker/config/loader.hpp"

namespace {

using namespace msgbroker;

const config::Environment& FuzzEnvironment() {
  // A variable to expand, an empty one (defaults apply) and one override per kind of field.
  static const config::Environment env = config::MapEnvironment({
      {"HOME", "/home/fuzz"},
      {"EMPTY", ""},
      {"PORTAL_PORT", "8443"},
      {"LOG_LEVEL", "Debug"},
  });
  return env;
}

template <typename C>
void Fuzz(std::string_view text) {
  const auto parsed = config::ParseConfig<C>(text, FuzzEnvironment());
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code == ErrorCode::kInvalidRequest);
    return;
  }
  const std::string dump = config::DumpConfig(*parsed);
  const auto reparsed = config::ParseConfig<C>(dump, FuzzEnvironment());
  if (!reparsed) {
    std::fprintf(stderr, "the dump does not parse: %s\n%s", reparsed.error().message.c_str(),
                 dump.c_str());
  }
  FUZZ_CHECK(reparsed.has_value());
  FUZZ_CHECK(config::DumpConfig(*reparsed) == dump);
}

// yaml-cpp's parse dominates the time, and a file whose top-level key is not C::kSection fails
// right after it in the same way for every C. So each input is parsed as the configurations
// whose section name it mentions, and as a proxy's when it mentions none.
template <typename C>
bool FuzzIfMentioned(std::string_view text) {
  if (text.find(C::kSection) == std::string_view::npos) return false;
  Fuzz<C>(text);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  bool mentioned = FuzzIfMentioned<config::ProxyConfig>(text);
  mentioned |= FuzzIfMentioned<config::MainServerConfig>(text);
  mentioned |= FuzzIfMentioned<config::WorkerConfig>(text);
  mentioned |= FuzzIfMentioned<config::PortalConfig>(text);
  if (!mentioned) Fuzz<config::ProxyConfig>(text);
  return 0;
}
