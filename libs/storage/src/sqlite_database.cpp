#include "msgbroker/storage/sqlite_database.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "certificate_store_impl.hpp"
#include "sqlite_api_key_store.hpp"
#include "sqlite_client_registry.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_connection_pool.hpp"
#include "sqlite_message_store.hpp"
#include "sqlite_migrations.hpp"

namespace msgbroker::storage {

struct SqliteDatabase::Impl {
  std::shared_ptr<sqlite::ConnectionPool> pool;
  int schema_version = 0;
};

namespace {

Error Unavailable(const std::filesystem::path& path, std::string_view what, int error_number) {
  return Error(ErrorCode::kDatabaseUnavailable, std::string(what) + " " + path.string() + ": " +
                                                    std::generic_category().message(error_number));
}

// Creates the file readable and writable by its owner only, whatever the umask; SQLite gives its
// -wal and -shm files the same permissions. An existing file is left as it is.
Status CreateFileIfMissing(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) {
    if (errno == EEXIST) return Ok();
    return tl::unexpected(Unavailable(path, "cannot create database file", errno));
  }
  const bool restricted = ::fchmod(fd, S_IRUSR | S_IWUSR) == 0;
  const int chmod_error = errno;
  ::close(fd);
  if (!restricted)
    return tl::unexpected(Unavailable(path, "cannot restrict database file", chmod_error));
  return Ok();
}

Status SetWalMode(sqlite::Connection& writer, const std::filesystem::path& path) {
  auto stmt = writer.Prepare("PRAGMA journal_mode = WAL");
  if (!stmt) return tl::unexpected(std::move(stmt.error()));
  auto row = stmt->Step();
  if (!row) return tl::unexpected(std::move(row.error()));
  if (!*row || stmt->Text(0) != "wal") {
    return Fail(ErrorCode::kDatabaseUnavailable,
                "database " + path.string() + ": cannot switch to WAL journal mode");
  }
  return Ok();
}

}  // namespace

Result<std::shared_ptr<SqliteDatabase>> SqliteDatabase::Open(const SqliteOptions& options,
                                                             const Clock& clock) {
  const std::filesystem::path& path = options.path;
  if (path.empty() || path == ":memory:") {
    return Fail(ErrorCode::kDatabaseUnavailable,
                "the SQLite database needs a file path (\"" + path.string() + "\" given)");
  }
  if (auto created = CreateFileIfMissing(path); !created) {
    return tl::unexpected(std::move(created.error()));
  }
  auto writer = sqlite::Connection::Open(
      path, sqlite::ConnectionOptions{.writer = true, .busy_timeout = options.busy_timeout});
  if (!writer) return tl::unexpected(std::move(writer.error()));

  auto version = sqlite::ReadSchemaVersion(**writer);
  if (!version) return tl::unexpected(std::move(version.error()));
  const int latest = LatestSchemaVersion();
  if (*version > latest) {
    return Fail(ErrorCode::kDataCorrupted,
                path.string() + ": database schema version " + std::to_string(*version) +
                    " is newer than this program supports (" + std::to_string(latest) + ")");
  }
  if (*version < latest && !options.migrate) {
    return Fail(ErrorCode::kDatabaseUnavailable,
                path.string() + ": database schema version " + std::to_string(*version) +
                    " needs migrations up to " + std::to_string(latest) +
                    ", and migrations are disabled");
  }
  if (auto wal = SetWalMode(**writer, path); !wal) return tl::unexpected(std::move(wal.error()));
  if (*version < latest) {
    version = sqlite::ApplyMigrations(**writer, clock);
    if (!version) return tl::unexpected(std::move(version.error()));
  }

  std::vector<std::unique_ptr<sqlite::Connection>> readers;
  const std::size_t reader_count = std::max<std::size_t>(options.reader_connections, 1);
  readers.reserve(reader_count);
  for (std::size_t i = 0; i < reader_count; ++i) {
    auto reader = sqlite::Connection::Open(
        path, sqlite::ConnectionOptions{.writer = false, .busy_timeout = options.busy_timeout});
    if (!reader) return tl::unexpected(std::move(reader.error()));
    readers.push_back(std::move(*reader));
  }

  auto impl = std::make_shared<Impl>();
  impl->pool = std::make_shared<sqlite::ConnectionPool>(std::move(*writer), std::move(readers));
  impl->schema_version = *version;
  return std::shared_ptr<SqliteDatabase>(new SqliteDatabase(std::move(impl)));
}

SqliteDatabase::SqliteDatabase(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

SqliteDatabase::~SqliteDatabase() = default;

int SqliteDatabase::schema_version() const { return impl_->schema_version; }

int SqliteDatabase::LatestSchemaVersion() { return sqlite::LatestMigrationVersion(); }

std::shared_ptr<MessageStore> SqliteDatabase::messages() {
  return std::make_shared<sqlite::SqliteMessageStore>(impl_->pool);
}

std::shared_ptr<ClientRegistry> SqliteDatabase::clients() {
  return std::make_shared<sqlite::SqliteClientRegistry>(impl_->pool);
}

std::shared_ptr<ApiKeyStore> SqliteDatabase::api_keys() {
  return std::make_shared<sqlite::SqliteApiKeyStore>(impl_->pool);
}

std::shared_ptr<CertificateStore> SqliteDatabase::certificates() {
  return MakeSqliteCertificateStore(impl_->pool);
}

}  // namespace msgbroker::storage
