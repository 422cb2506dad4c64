// OpenDatabase: the URL decides the backend.

#include "msgbroker/storage/database.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "msgbroker/storage/sqlite_database.hpp"
#include "mysql_database.hpp"
#include "pg_database.hpp"

namespace msgbroker::storage {
namespace {

tl::unexpected<Error> Invalid(std::string_view scheme, std::string_view reason) {
  std::string message = "invalid database URL";
  if (!scheme.empty()) message += " (" + std::string(scheme) + ")";
  message += ": ";
  message += reason;
  return Fail(ErrorCode::kInvalidRequest, std::move(message), "url");
}

int HexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; nullopt when one is malformed.
std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = HexValue(text[i + 1]);
    const int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

Result<std::string> Decode(std::string_view scheme, std::string_view text, std::string_view what) {
  auto decoded = PercentDecode(text);
  if (!decoded) return Invalid(scheme, "the " + std::string(what) + " has a malformed %-escape");
  return std::move(*decoded);
}

Status ParseParams(std::string_view scheme, std::string_view query, DatabaseUrl& url) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto key = Decode(scheme, pair.substr(0, eq), "parameter name");
    if (!key) return tl::unexpected(std::move(key.error()));
    if (key->empty()) return Invalid(scheme, "a query parameter has no name");
    auto value = Decode(scheme, eq == std::string_view::npos ? "" : pair.substr(eq + 1),
                        "value of parameter " + *key);
    if (!value) return tl::unexpected(std::move(value.error()));
    url.params[*key] = std::move(*value);
  }
  return Ok();
}

Status ParseHostPort(std::string_view scheme, std::string_view hostport, DatabaseUrl& url) {
  std::string_view port;
  bool has_port = false;
  if (hostport.starts_with('[')) {
    const std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) return Invalid(scheme, "unterminated [IPv6] host");
    url.host = std::string(hostport.substr(1, close - 1));
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Invalid(scheme, "unexpected text after the [IPv6] host");
      port = after.substr(1);
      has_port = true;
    }
  } else {
    const std::size_t colon = hostport.rfind(':');
    auto host = Decode(scheme, hostport.substr(0, colon), "host");
    if (!host) return tl::unexpected(std::move(host.error()));
    url.host = std::move(*host);
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      has_port = true;
    }
  }
  if (has_port) {
    unsigned value = 0;
    const char* end = port.data() + port.size();
    auto [ptr, ec] = std::from_chars(port.data(), end, value);
    if (ec != std::errc() || ptr != end || value == 0 || value > 65535) {
      return Invalid(scheme, "the port must be a number from 1 to 65535");
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  return Ok();
}

}  // namespace

Result<DatabaseUrl> ParseDatabaseUrl(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Invalid("",
                   "expected scheme:..., e.g. sqlite:///path/to/broker.db or "
                   "postgresql://user@host/db");
  }
  std::string scheme(text.substr(0, colon));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  DatabaseUrl url;
  std::string_view rest = text.substr(colon + 1);
  std::string_view query;
  if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }

  if (scheme == "sqlite") {
    url.scheme = "sqlite";
    if (rest.starts_with("//")) {
      rest.remove_prefix(2);
      if (!rest.starts_with('/')) {
        return Invalid(url.scheme,
                       "use sqlite:///absolute/path (three slashes) or sqlite:relative/path");
      }
    }
    auto path = Decode(url.scheme, rest, "path");
    if (!path) return tl::unexpected(std::move(path.error()));
    if (path->empty()) return Invalid(url.scheme, "the database file path is empty");
    url.database = std::move(*path);
    if (auto params = ParseParams(url.scheme, query, url); !params) {
      return tl::unexpected(std::move(params.error()));
    }
    return url;
  }

  if (scheme == "postgresql" || scheme == "postgres") {
    url.scheme = "postgresql";
  } else if (scheme == "mysql" || scheme == "mariadb" || scheme == "mysql+pymysql") {
    // mysql+pymysql:// is what the original Python system's operators have in DATABASE_URL.
    url.scheme = "mysql";
  } else {
    return Invalid("", "unsupported scheme '" + scheme +
                           "' (expected sqlite, postgresql, postgres, mysql or mariadb)");
  }
  if (!rest.starts_with("//"))
    return Invalid(url.scheme, "expected " + scheme + "://host/database");
  rest.remove_prefix(2);
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);

  std::string_view hostport = authority;
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    hostport = authority.substr(at + 1);
    const std::size_t sep = userinfo.find(':');
    auto user = Decode(url.scheme, userinfo.substr(0, sep), "user name");
    if (!user) return tl::unexpected(std::move(user.error()));
    url.user = std::move(*user);
    if (sep != std::string_view::npos) {
      auto password = Decode(url.scheme, userinfo.substr(sep + 1), "password");
      if (!password) return tl::unexpected(std::move(password.error()));
      url.password = std::move(*password);
    }
  }
  if (auto parsed = ParseHostPort(url.scheme, hostport, url); !parsed) {
    return tl::unexpected(std::move(parsed.error()));
  }
  if (path.find('/') != std::string_view::npos) {
    return Invalid(url.scheme, "the database name must not contain '/'");
  }
  auto database = Decode(url.scheme, path, "database name");
  if (!database) return tl::unexpected(std::move(database.error()));
  url.database = std::move(*database);
  if (auto params = ParseParams(url.scheme, query, url); !params) {
    return tl::unexpected(std::move(params.error()));
  }
  return url;
}

std::string DescribeDatabaseUrl(const DatabaseUrl& url) {
  if (url.scheme == "sqlite") return "sqlite:" + url.database;
  std::string out = url.scheme + "://";
  if (!url.user.empty()) out += url.user + "@";
  if (url.host.find(':') != std::string::npos) {
    out += "[" + url.host + "]";
  } else {
    out += url.host;
  }
  if (url.port != 0) out += ":" + std::to_string(url.port);
  out += "/" + url.database;
  return out;
}

Result<std::shared_ptr<Database>> OpenDatabase(const DatabaseOptions& options, const Clock& clock) {
  auto url = ParseDatabaseUrl(options.url);
  if (!url) return tl::unexpected(std::move(url.error()));
  if (url->scheme == "sqlite") {
    SqliteOptions sqlite;
    sqlite.path = url->database;
    sqlite.reader_connections = options.pool_size;
    sqlite.busy_timeout = options.connect_timeout;
    sqlite.migrate = options.migrate;
    auto opened = SqliteDatabase::Open(sqlite, clock);
    if (!opened) return tl::unexpected(std::move(opened.error()));
    return std::shared_ptr<Database>(std::move(*opened));
  }
  if (url->scheme == "postgresql") return sql::OpenPostgresDatabase(*url, options, clock);
  return sql::OpenMysqlDatabase(options, clock);
}

}  // namespace msgbroker::storage
