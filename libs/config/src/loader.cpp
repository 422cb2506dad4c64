#include "msgbroker/config/loader.hpp"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "msgbroker/core/utf8.hpp"

namespace msgbroker::config {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kRedacted = "***";
constexpr std::string_view kDurationHint = "a duration (500ms, 30s, 5m, 24h; a bare number is ms)";

struct Range {
  std::uint64_t min = 0;
  std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
};

// A string field restricted to a few values; log levels are matched case-insensitively.
struct Choice {
  std::string& value;
  std::initializer_list<std::string_view> allowed;
};

const std::initializer_list<std::string_view> kLogLevels = {"trace", "debug",    "info", "warn",
                                                            "error", "critical", "off"};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (auto item : items) out += (out.empty() ? "" : "|") + std::string(item);
  return out;
}

// Conversions from a scalar's text. They return the reason, without the key path.
using Converted = tl::expected<void, std::string>;

// No setting (host, URL, path, prefix, cipher list, ...) holds a control character or bytes that
// are not UTF-8; either is a typo or an injection (a '\r' in a host, say) and would not survive
// being written out again (yaml-cpp's emitter decodes an overlong "\xc0\x99" as the control
// character U+0019).
Converted NoControlCharacters(const std::string& text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return tl::unexpected(std::string("a control character in the value"));
    }
  }
  if (!Utf8Length(text)) return tl::unexpected(std::string("the value is not valid UTF-8"));
  return {};
}

Converted Convert(const std::string& text, std::string& out, Range) {
  if (auto ok = NoControlCharacters(text); !ok) return ok;
  out = text;
  return {};
}

Converted Convert(const std::string& text, fs::path& out, Range) {
  if (auto ok = NoControlCharacters(text); !ok) return ok;
  out = text;
  return {};
}

Converted Convert(const std::string& text, bool& out, Range) {
  if (text == "true" || text == "false") {
    out = text == "true";
    return {};
  }
  return tl::unexpected("expected true or false, got '" + text + "'");
}

template <typename T>
requires std::is_unsigned_v<T> &&(!std::is_same_v<T, bool>)Converted
    Convert(const std::string& text, T& out, Range range) {
  const std::uint64_t max = std::min<std::uint64_t>(range.max, std::numeric_limits<T>::max());
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || value < range.min || value > max) {
    return tl::unexpected("expected an integer between " + std::to_string(range.min) + " and " +
                          std::to_string(max) + ", got '" + text + "'");
  }
  out = static_cast<T>(value);
  return {};
}

Converted Convert(const std::string& text, std::chrono::milliseconds& out, Range) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "ms") factor = 1;
  if (unit == "s") factor = 1'000;
  if (unit == "m") factor = 60'000;
  if (unit == "h") factor = 3'600'000;
  constexpr std::uint64_t kMaxMs = std::uint64_t{1} << 50;
  if (ec != std::errc{} || ptr == text.data() || factor == 0 || value > kMaxMs / factor) {
    return tl::unexpected("expected " + std::string(kDurationHint) + ", got '" + text + "'");
  }
  out = std::chrono::milliseconds{static_cast<std::int64_t>(value * factor)};
  return {};
}

Converted Convert(const std::string& text, QueueType& out, Range) {
  if (text == "embedded" || text == "redis") {
    out = text == "redis" ? QueueType::kRedis : QueueType::kEmbedded;
    return {};
  }
  return tl::unexpected("expected embedded or redis, got '" + text + "'");
}

Converted Convert(const std::string& text, TlsVersion& out, Range) {
  if (text == "1.2" || text == "1.3") {
    out = text == "1.3" ? TlsVersion::kTls13 : TlsVersion::kTls12;
    return {};
  }
  return tl::unexpected("expected \"1.2\" or \"1.3\", got '" + text + "'");
}

Converted Convert(const std::string& text, Choice& out, Range) {
  const std::string lower = Lower(text);
  if (std::find(out.allowed.begin(), out.allowed.end(), lower) == out.allowed.end()) {
    return tl::unexpected("expected one of " + Join(out.allowed) + ", got '" + text + "'");
  }
  out.value = lower;
  return {};
}

// ${NAME} and ${NAME:-default} (default also when NAME is empty); $$ is a literal $.
Converted Expand(const std::string& text, const Environment& env, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (text[i + 1] != '{') {
      out += text[i];
      continue;
    }
    const auto close = text.find('}', i + 2);
    if (close == std::string::npos) return tl::unexpected(std::string("unterminated ${ in value"));
    const std::string inner = text.substr(i + 2, close - i - 2);
    const auto sep = inner.find(":-");
    const std::string name = inner.substr(0, sep);
    const bool valid_name = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                            std::all_of(name.begin(), name.end(), [](unsigned char c) {
                              return std::isalnum(c) != 0 || c == '_';
                            });
    if (!valid_name) return tl::unexpected("invalid variable reference ${" + inner + "}");
    const auto value = env(name);
    if (value && !value->empty()) {
      out += *value;
    } else if (sep != std::string::npos) {
      out += inner.substr(sep + 2);
    } else {
      return tl::unexpected("environment variable " + name + " is not set (write ${" + name +
                            ":-default} for a default)");
    }
    i = close;
  }
  return {};
}

std::string ScalarText(const YAML::Node& node) { return node.IsNull() ? "" : node.Scalar(); }

// Walks a YAML mapping along a struct's field list. The first error wins and stops the walk.
class Parser {
 public:
  Parser(YAML::Node node, std::string path, const Environment& env, std::optional<Error>& error)
      : node_(std::move(node)), path_(std::move(path)), env_(env), error_(error) {}

  template <typename T>
  void Field(std::string_view key, T& out, Range range = {}) {
    seen_.insert(std::string(key));
    if (error_) return;
    const YAML::Node& map = node_;
    const YAML::Node child = map[std::string(key)];
    if (!child.IsDefined()) return;
    if (!child.IsScalar() && !child.IsNull()) return Report(key, "expected a scalar value");
    std::string text;
    if (auto ok = Expand(ScalarText(child), env_, text); !ok) return Report(key, ok.error());
    if (auto ok = Convert(text, out, range); !ok) return Report(key, ok.error());
  }
  void Field(std::string_view key, Choice out) { Field<Choice>(key, out); }
  void Url(std::string_view key, std::string& out) { Field(key, out); }
  void Secret(std::string_view key, std::string&, std::string_view use_instead) {
    const YAML::Node& map = node_;
    if (!error_ && map[std::string(key)].IsDefined()) {
      Report(key, "secrets do not belong in the file; use " + std::string(use_instead));
    }
  }

  template <typename F>
  void Section(std::string_view key, F&& fields) {
    seen_.insert(std::string(key));
    if (error_) return;
    const YAML::Node& map = node_;
    YAML::Node child = map[std::string(key)];
    if (child.IsDefined() && !child.IsNull() && !child.IsMap()) {
      return Report(key, "expected a mapping");
    }
    // A missing key is an invalid node in yaml-cpp: only IsDefined may be asked of it.
    const bool present = child.IsDefined() && child.IsMap();
    Parser sub(present ? child : YAML::Node(YAML::NodeType::Map), Join(key), env_, error_);
    fields(sub);
    sub.Finish();
  }

  void Finish() {
    if (error_) return;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
      if (!seen_.contains(key)) return Report(key, "unknown key");
    }
  }

 private:
  std::string Join(std::string_view key) const { return path_ + "." + std::string(key); }
  void Report(std::string_view key, const std::string& reason) {
    if (!error_) error_ = Error{ErrorCode::kInvalidRequest, Join(key) + ": " + reason};
  }

  YAML::Node node_;
  std::string path_;
  const Environment& env_;
  std::optional<Error>& error_;
  std::set<std::string, std::less<>> seen_;
};

std::string DurationText(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

std::string Text(const std::string& v) { return v; }
std::string Text(const fs::path& v) { return v.string(); }
std::string Text(bool v) { return v ? "true" : "false"; }
std::string Text(std::chrono::milliseconds v) { return DurationText(v); }
std::string Text(QueueType v) { return v == QueueType::kRedis ? "redis" : "embedded"; }
std::string Text(TlsVersion v) { return v == TlsVersion::kTls13 ? "1.3" : "1.2"; }
std::string Text(const Choice& v) { return v.value; }
template <typename T>
requires std::is_unsigned_v<T> std::string Text(T v) { return std::to_string(v); }

// A value as the file must spell it: values are expanded when loaded, so a '$' they still hold
// is written as "$$" (otherwise "${X}" in a value would be expanded again by loading the dump).
std::string Literal(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '$') out += '$';
    out += c;
  }
  return out;
}

// Writes the same field list into a YAML tree, secrets redacted.
class Dumper {
 public:
  explicit Dumper(YAML::Node node) : node_(std::move(node)) {}

  template <typename T>
  void Field(std::string_view key, T& value, Range = {}) {
    node_[std::string(key)] = Literal(Text(value));
  }
  void Field(std::string_view key, Choice value) { node_[std::string(key)] = Text(value); }
  void Url(std::string_view key, std::string& value) {
    node_[std::string(key)] = Literal(RedactUrl(value));
  }
  // Shown only when set, so a dump of a configuration without secrets is a valid file.
  void Secret(std::string_view key, std::string& value, std::string_view) {
    if (!value.empty()) node_[std::string(key)] = std::string(kRedacted);
  }
  template <typename F>
  void Section(std::string_view key, F&& fields) {
    Dumper sub{YAML::Node(YAML::NodeType::Map)};
    fields(sub);
    node_[std::string(key)] = sub.node_;
  }
  const YAML::Node& node() const { return node_; }

 private:
  YAML::Node node_;
};

// The field lists: the schema, written once for the parser and the dumper.
template <typename V>
void Fields(V& v, ListenConfig& c) {
  v.Field("host", c.host);
  v.Field("port", c.port);
  v.Field("io_threads", c.io_threads, Range{1, 64});
}

template <typename V>
void Fields(V& v, TlsConfig& c) {
  v.Field("cert_file", c.cert_file);
  v.Field("key_file", c.key_file);
  v.Field("ca_file", c.ca_file);
  v.Field("min_version", c.min_version);
  v.Field("ciphers", c.ciphers);
  v.Field("cipher_suites", c.cipher_suites);
  v.Field("groups", c.groups);
}

template <typename V>
void Fields(V& v, LimitsConfig& c) {
  v.Field("max_header_bytes", c.max_header_bytes, Range{1024, 1 << 20});
  v.Field("max_body_bytes", c.max_body_bytes, Range{1024, 1 << 30});
  v.Field("max_connections", c.max_connections, Range{1, 1'000'000});
  v.Field("handshake_timeout", c.handshake_timeout);
  v.Field("request_timeout", c.request_timeout);
  v.Field("idle_timeout", c.idle_timeout);
}

template <typename V>
void Fields(V& v, RateLimitConfig& c) {
  v.Field("messages_per_second", c.messages_per_second, Range{0, 10'000'000});
  v.Field("burst", c.burst, Range{0, 100'000'000});
}

template <typename V>
void Fields(V& v, IdempotencyConfig& c) {
  v.Field("ttl", c.ttl);
  v.Field("lease", c.lease);
}

template <typename V>
void Fields(V& v, QueueConfig& c) {
  v.Field("type", c.type);
  v.Field("max_messages", c.max_messages, Range{1, 1'000'000'000});
  v.Section("embedded", [&](V& s) {
    s.Field("directory", c.embedded.directory);
    s.Field("fsync", c.embedded.fsync);
  });
  v.Section("redis", [&](V& s) {
    s.Field("host", c.redis.host);
    s.Field("port", c.redis.port, Range{1, 65535});
    s.Field("password_file", c.redis.password_file);
    s.Secret("password", c.redis.password, "password_file (or REDIS_PASSWORD)");
    s.Field("db", c.redis.db, Range{0, 15});
    s.Field("key_prefix", c.redis.key_prefix);
  });
}

template <typename V>
void Fields(V& v, DatabaseConfig& c) {
  v.Url("url", c.url);
  v.Field("url_file", c.url_file);
  v.Field("pool_size", c.pool_size, Range{1, 256});
  v.Field("migrate", c.migrate);
}

template <typename V>
void Fields(V& v, WorkerSettings& c) {
  v.Field("concurrency", c.concurrency, Range{1, 64});
  v.Field("batch_size", c.batch_size, Range{1, 1000});
  v.Field("max_attempts", c.max_attempts, Range{1, 1000});
  v.Field("max_age", c.max_age);
  v.Field("backoff_base", c.backoff_base);
  v.Field("backoff_max", c.backoff_max);
  v.Field("visibility_timeout", c.visibility_timeout);
}

template <typename V>
void Fields(V& v, SecretsConfig& c) {
  v.Field("key_ring_file", c.key_ring_file);
  v.Field("sender_hmac_key_file", c.sender_hmac_key_file);
  v.Field("envelope_public_key_file", c.envelope_public_key_file);
  v.Field("envelope_secret_key_file", c.envelope_secret_key_file);
  v.Field("ca_cert_file", c.ca_cert_file);
  v.Field("ca_key_file", c.ca_key_file);
}

template <typename V, typename T>
void Sub(V& v, std::string_view key, T& part) {
  v.Section(key, [&](V& s) { Fields(s, part); });
}

template <typename V>
void Fields(V& v, ApiKeysConfig& c) {
  v.Field("enabled", c.enabled);
}

template <typename V>
void Fields(V& v, ProxyConfig& c) {
  Sub(v, "listen", c.listen);
  Sub(v, "tls", c.tls);
  Sub(v, "limits", c.limits);
  Sub(v, "queue", c.queue);
  Sub(v, "database", c.database);
  Sub(v, "secrets", c.secrets);
  v.Field("registry_refresh_interval", c.registry_refresh_interval);
  Sub(v, "rate_limit", c.rate_limit);
  Sub(v, "idempotency", c.idempotency);
  v.Field("log_level", Choice{c.log_level, kLogLevels});
  Sub(v, "api_keys", c.api_keys);
}

template <typename V>
void Fields(V& v, MainServerConfig& c) {
  Sub(v, "listen", c.listen);
  Sub(v, "tls", c.tls);
  Sub(v, "limits", c.limits);
  Sub(v, "database", c.database);
  Sub(v, "secrets", c.secrets);
  v.Field("log_level", Choice{c.log_level, kLogLevels});
  v.Field("audit_log_file", c.audit_log_file);
}

template <typename V>
void Fields(V& v, WorkerConfig& c) {
  Sub(v, "metrics", c.metrics);
  Sub(v, "tls", c.tls);
  Sub(v, "queue", c.queue);
  v.Field("main_server_url", c.main_server_url);
  Sub(v, "worker", c.worker);
  v.Field("log_level", Choice{c.log_level, kLogLevels});
}

template <typename V>
void Fields(V& v, PortalConfig& c) {
  Sub(v, "listen", c.listen);
  Sub(v, "tls", c.tls);
  Sub(v, "limits", c.limits);
  v.Field("main_server_url", c.main_server_url);
  v.Field("proxy_url", c.proxy_url);
  v.Field("worker_metrics_url", c.worker_metrics_url);
  v.Field("log_level", Choice{c.log_level, kLogLevels});
}

// Environment variables that override the file (the names the original system's operators use).
class Overrides {
 public:
  Overrides(const Environment& env, std::optional<Error>& error) : env_(env), error_(error) {}

  template <typename T>
  void Apply(std::string_view name, T& out, Range range = {}) {
    if (error_) return;
    const auto value = env_(name);
    if (!value) return;
    if (auto ok = Convert(*value, out, range); !ok) {
      error_ = Error{ErrorCode::kInvalidRequest, "env " + std::string(name) + ": " + ok.error()};
    }
  }
  void Apply(std::string_view name, Choice out) { Apply<Choice>(name, out); }
  bool Has(std::string_view name) const { return env_(name).has_value(); }

 private:
  const Environment& env_;
  std::optional<Error>& error_;
};

void ApplyRedis(Overrides& o, RedisConfig& c) {
  o.Apply("REDIS_HOST", c.host);
  o.Apply("REDIS_PORT", c.port, Range{1, 65535});
  o.Apply("REDIS_DB", c.db, Range{0, 15});
  o.Apply("REDIS_PASSWORD", c.password);
  o.Apply("REDIS_PASSWORD_FILE", c.password_file);
}

void ApplyDatabase(Overrides& o, DatabaseConfig& c) {
  if (!o.Has("DATABASE_URL")) return;
  o.Apply("DATABASE_URL", c.url);
  c.url_file.clear();  // the variable wins over the file named in the config
}

void ApplyOverrides(Overrides& o, ProxyConfig& c) {
  o.Apply("PROXY_HOST", c.listen.host);
  o.Apply("PROXY_PORT", c.listen.port);
  ApplyRedis(o, c.queue.redis);
  ApplyDatabase(o, c.database);
  o.Apply("LOG_LEVEL", Choice{c.log_level, kLogLevels});
}

void ApplyOverrides(Overrides& o, MainServerConfig& c) {
  o.Apply("MAIN_SERVER_HOST", c.listen.host);
  o.Apply("MAIN_SERVER_PORT", c.listen.port);
  ApplyDatabase(o, c.database);
  o.Apply("LOG_LEVEL", Choice{c.log_level, kLogLevels});
}

void ApplyOverrides(Overrides& o, WorkerConfig& c) {
  o.Apply("METRICS_PORT", c.metrics.port);
  ApplyRedis(o, c.queue.redis);
  o.Apply("MAIN_SERVER_URL", c.main_server_url);
  o.Apply("WORKER_CONCURRENCY", c.worker.concurrency, Range{1, 64});
  o.Apply("WORKER_BATCH_SIZE", c.worker.batch_size, Range{1, 1000});
  o.Apply("WORKER_MAX_ATTEMPTS", c.worker.max_attempts, Range{1, 1000});
  o.Apply("LOG_LEVEL", Choice{c.log_level, kLogLevels});
}

void ApplyOverrides(Overrides& o, PortalConfig& c) {
  o.Apply("PORTAL_HOST", c.listen.host);
  o.Apply("PORTAL_PORT", c.listen.port);
  o.Apply("MAIN_SERVER_URL", c.main_server_url);
  o.Apply("LOG_LEVEL", Choice{c.log_level, kLogLevels});
}

tl::unexpected<Error> ConfigError(std::string message) {
  return Fail(ErrorCode::kInvalidRequest, std::move(message));
}

std::string Path(std::string_view section, std::string_view key) {
  return std::string(section) + "." + std::string(key);
}

Status Required(const fs::path& file, const std::string& key_path) {
  if (file.empty()) return ConfigError(key_path + ": required");
  return Ok();
}

// A public file (certificate, CA, public key): it must exist.
Status CheckPublicFile(const fs::path& file, const std::string& key_path) {
  if (auto ok = Required(file, key_path); !ok) return ok;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    return ConfigError(key_path + ": " + file.string() + " does not exist or is not a file");
  }
  return Ok();
}

// A secret file: it must exist and be readable by its owner only.
Status CheckSecretFile(const fs::path& file, const std::string& key_path) {
  if (auto ok = Required(file, key_path); !ok) return ok;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return ConfigError(key_path + ": " + file.string() + " does not exist or is not a file");
  }
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return ConfigError(key_path + ": " + file.string() + " is readable by group or others (mode " +
                       mode + "); run chmod 600 on it");
  }
  return Ok();
}

Status CheckTls(const TlsConfig& tls, std::string_view section) {
  const std::string base = Path(section, "tls.");
  if (auto ok = CheckPublicFile(tls.cert_file, base + "cert_file"); !ok) return ok;
  if (auto ok = CheckSecretFile(tls.key_file, base + "key_file"); !ok) return ok;
  return CheckPublicFile(tls.ca_file, base + "ca_file");
}

Status ResolveQueue(QueueConfig& queue, std::string_view section) {
  if (queue.type != QueueType::kRedis || queue.redis.password_file.empty()) return Ok();
  auto password =
      ReadSecretFile(queue.redis.password_file, Path(section, "queue.redis.password_file"));
  if (!password) return tl::unexpected(password.error());
  queue.redis.password = std::move(*password);
  return Ok();
}

}  // namespace

Environment ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Environment MapEnvironment(std::map<std::string, std::string, std::less<>> variables) {
  return [vars = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

template <typename C>
Result<C> ParseConfig(std::string_view yaml_text, const Environment& env) {
  const std::string section(C::kSection);
  C config;
  std::optional<Error> error;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsMap()) return ConfigError("expected a mapping with the key '" + section + "'");
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
      if (key != section) {
        return ConfigError(key + ": unknown key (this file configures '" + section + "')");
      }
    }
    const YAML::Node body = root[section];
    if (!body.IsDefined() || (!body.IsMap() && !body.IsNull())) {
      return ConfigError(section + ": expected a mapping");
    }
    Parser parser(body.IsMap() ? body : YAML::Node(YAML::NodeType::Map), section, env, error);
    Fields(parser, config);
    parser.Finish();
  } catch (const YAML::Exception& e) {
    return ConfigError("invalid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                       std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (error) return tl::unexpected(*error);
  Overrides overrides(env, error);
  ApplyOverrides(overrides, config);
  if (error) return tl::unexpected(*error);
  return config;
}

template <typename C>
Result<C> LoadConfig(const fs::path& file, const Environment& env) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return ConfigError(file.string() + ": cannot read the configuration file");
  std::ostringstream text;
  text << in.rdbuf();
  auto config = ParseConfig<C>(text.str(), env);
  if (!config) return ConfigError(file.string() + ": " + config.error().message);
  return config;
}

template <typename C>
std::string DumpConfig(const C& config) {
  C copy = config;
  Dumper dumper{YAML::Node(YAML::NodeType::Map)};
  Fields(dumper, copy);
  YAML::Node root(YAML::NodeType::Map);
  root[std::string(C::kSection)] = dumper.node();
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

#define MSGBROKER_CONFIG_INSTANTIATE(C)                                    \
  template Result<C> ParseConfig<C>(std::string_view, const Environment&); \
  template Result<C> LoadConfig<C>(const fs::path&, const Environment&);   \
  template std::string DumpConfig<C>(const C&);
MSGBROKER_CONFIG_INSTANTIATE(ProxyConfig)
MSGBROKER_CONFIG_INSTANTIATE(MainServerConfig)
MSGBROKER_CONFIG_INSTANTIATE(WorkerConfig)
MSGBROKER_CONFIG_INSTANTIATE(PortalConfig)
#undef MSGBROKER_CONFIG_INSTANTIATE

Status ResolveSecrets(ProxyConfig& c) {
  const auto s = ProxyConfig::kSection;
  if (auto ok = CheckTls(c.tls, s); !ok) return ok;
  if (auto ok = CheckPublicFile(c.secrets.envelope_public_key_file,
                                Path(s, "secrets.envelope_public_key_file"));
      !ok) {
    return ok;
  }
  if (auto ok = ResolveQueue(c.queue, s); !ok) return ok;
  return ResolveSecrets(c.database, s);
}

Status ResolveSecrets(MainServerConfig& c) {
  const auto s = MainServerConfig::kSection;
  if (auto ok = CheckTls(c.tls, s); !ok) return ok;
  const auto& k = c.secrets;
  if (auto ok = CheckSecretFile(k.key_ring_file, Path(s, "secrets.key_ring_file")); !ok) return ok;
  if (auto ok = CheckSecretFile(k.sender_hmac_key_file, Path(s, "secrets.sender_hmac_key_file"));
      !ok) {
    return ok;
  }
  if (auto ok =
          CheckPublicFile(k.envelope_public_key_file, Path(s, "secrets.envelope_public_key_file"));
      !ok) {
    return ok;
  }
  if (auto ok =
          CheckSecretFile(k.envelope_secret_key_file, Path(s, "secrets.envelope_secret_key_file"));
      !ok) {
    return ok;
  }
  if (!k.ca_cert_file.empty() || !k.ca_key_file.empty()) {  // the CRL signer: both or neither
    if (auto ok = CheckPublicFile(k.ca_cert_file, Path(s, "secrets.ca_cert_file")); !ok) return ok;
    if (auto ok = CheckSecretFile(k.ca_key_file, Path(s, "secrets.ca_key_file")); !ok) return ok;
  }
  return ResolveSecrets(c.database, s);
}

Status ResolveSecrets(WorkerConfig& c) {
  if (auto ok = CheckTls(c.tls, WorkerConfig::kSection); !ok) return ok;
  return ResolveQueue(c.queue, WorkerConfig::kSection);
}

Status ResolveSecrets(PortalConfig& c) { return CheckTls(c.tls, PortalConfig::kSection); }

Status ResolveSecrets(DatabaseConfig& db, std::string_view section) {
  if (db.url_file.empty()) return Ok();
  auto url = ReadSecretFile(db.url_file, Path(section, "database.url_file"));
  if (!url) return tl::unexpected(url.error());
  db.url = std::move(*url);
  return Ok();
}

Result<std::string> ReadSecretFile(const fs::path& file, std::string_view key_path) {
  if (auto ok = CheckSecretFile(file, std::string(key_path)); !ok)
    return tl::unexpected(ok.error());
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  std::string content = text.str();
  while (!content.empty() && std::isspace(static_cast<unsigned char>(content.back()))) {
    content.pop_back();
  }
  if (!in || content.empty()) {
    return ConfigError(std::string(key_path) + ": " + file.string() + " is empty or unreadable");
  }
  return content;
}

std::string RedactUrl(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const auto authority_begin = scheme_end + 3;
  const auto authority_end = url.find_first_of("/?#", authority_begin);
  const auto at = url.rfind('@', authority_end);
  if (at == std::string_view::npos || at < authority_begin) return std::string(url);
  const auto colon = url.find(':', authority_begin);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + std::string(kRedacted) +
         std::string(url.substr(at));
}

}  // namespace msgbroker::config
