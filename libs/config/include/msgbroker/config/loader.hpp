#pragma once
// Reading a service's configuration: YAML file → typed struct → environment overrides → secrets.
//
//   auto config = LoadConfig<MainServerConfig>(path, ProcessEnvironment());
//   if (config) status = ResolveSecrets(*config);
//
// Errors (ErrorCode::kInvalidRequest) name the full key path: "proxy.listen.prot: unknown key",
// "worker.worker.batch_size: expected an integer, got 'many'", "env PROXY_PORT: …".

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "msgbroker/config/config.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::config {

// Looks up one environment variable. Injected so that parsing never reads global state.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv); for the program's edge only.
Environment ProcessEnvironment();
// A fixed environment (tests, tools).
Environment MapEnvironment(std::map<std::string, std::string, std::less<>> variables);

// Parses YAML text whose top-level key is C::kSection, expands ${VAR} and ${VAR:-default} in
// scalar values, then applies the environment overrides (docs/CONFIGURATION.md). Reads no files.
// C is one of ProxyConfig, MainServerConfig, WorkerConfig, PortalConfig.
template <typename C>
Result<C> ParseConfig(std::string_view yaml_text, const Environment& env);

// ParseConfig on a file's content; errors are prefixed with the file name.
template <typename C>
Result<C> LoadConfig(const std::filesystem::path& file, const Environment& env);

// Reads the secrets the configuration names: database.url_file → database.url,
// queue.redis.password_file → queue.redis.password; and checks that every secret file (TLS key,
// key ring, sender HMAC key, envelope secret key, the two files above) exists and is not readable
// by group or others. Errors name the key path and the file.
Status ResolveSecrets(ProxyConfig& config);
Status ResolveSecrets(MainServerConfig& config);
Status ResolveSecrets(WorkerConfig& config);
Status ResolveSecrets(PortalConfig& config);
// Only the database part (database.url_file), for tools that need nothing else; `section` is the
// file's top-level key, for error messages.
Status ResolveSecrets(DatabaseConfig& database, std::string_view section);

// The effective configuration as YAML, secrets shown as "***" (passwords, and the password inside
// a database URL).
template <typename C>
std::string DumpConfig(const C& config);

// Content of a secret file without trailing whitespace. Errors: missing, not a regular file,
// readable by group or others, empty. `key_path` prefixes the message.
Result<std::string> ReadSecretFile(const std::filesystem::path& file, std::string_view key_path);

// "postgresql://user:***@host/db" for "postgresql://user:secret@host/db".
std::string RedactUrl(std::string_view url);

}  // namespace msgbroker::config
