#pragma once
// The CertificateStore, written once over a small runner interface with `?` placeholders, and
// its two runners: SQLite (sqlite::ConnectionPool) and the server backends (SqlConnectionPool).

#include <memory>

#include "msgbroker/storage/certificate_store.hpp"
#include "sql/sql_connection_pool.hpp"
#include "sqlite_connection_pool.hpp"

namespace msgbroker::storage {

std::shared_ptr<CertificateStore> MakeSqliteCertificateStore(
    std::shared_ptr<sqlite::ConnectionPool> pool);
std::shared_ptr<CertificateStore> MakeSqlCertificateStore(
    std::shared_ptr<sql::SqlConnectionPool> pool);

}  // namespace msgbroker::storage
