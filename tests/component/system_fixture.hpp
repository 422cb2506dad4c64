#pragma once
// The whole embedded system in-process on 127.0.0.1 with ports picked by the kernel, in a temp
// data directory, with clients that speak real mutual TLS.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "msgbroker/cli/data_dir.hpp"
#include "msgbroker/cli/embedded_system.hpp"
#include "msgbroker/net/https_client.hpp"
#include "msgbroker/pki/certificate_authority.hpp"
#include "msgbroker/storage/sqlite_database.hpp"
#include "test_support.hpp"

namespace msgbroker::testing {

class SystemFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = cli::OpenOrCreateDataDir(tmp_.path() / "data", SystemClock::Instance());
    ASSERT_TRUE(dir) << dir.error().message;
    layout_ = dir->layout;
    cli::EmbeddedOptions options;
    options.main_server_port = 0;
    options.proxy_port = 0;
    options.portal_port = 0;
    options.worker_metrics_port = 0;
    options.registry_refresh = std::chrono::milliseconds{100};
    options.worker_backoff_base = std::chrono::milliseconds{50};
    Configure(options);
    auto system = cli::EmbeddedSystem::Start(layout_, options, SystemClock::Instance());
    ASSERT_TRUE(system) << system.error().message;
    system_ = std::move(*system);
  }
  void TearDown() override {
    if (system_) system_->Stop();
  }
  // Lets a test suite change the options before the system starts.
  virtual void Configure(cli::EmbeddedOptions&) {}

  net::TlsClientConfig DemoTls() const {
    const auto dir = layout_.client_dir(cli::kDemoClientId);
    return {layout_.ca_cert(), dir / "client.crt", dir / "client.key"};
  }
  net::TlsClientConfig ServiceTls(pki::ServiceRole role) const {
    return {layout_.ca_cert(), layout_.service_cert(role), layout_.service_key(role)};
  }
  net::TlsClientConfig NoCertTls() const { return {layout_.ca_cert(), {}, {}}; }

  net::HttpsClient Proxy(const net::TlsClientConfig& tls) const {
    return net::HttpsClient({true, "127.0.0.1", system_->ports().proxy}, tls,
                            std::chrono::seconds{10});
  }
  net::HttpsClient MainServer(const net::TlsClientConfig& tls) const {
    return net::HttpsClient({true, "127.0.0.1", system_->ports().main_server}, tls,
                            std::chrono::seconds{10});
  }

  static net::HttpRequest Post(std::string target, std::string body,
                               std::string content_type = "application/json") {
    net::HttpRequest req{net::http::verb::post, target, 11};
    req.set(net::http::field::content_type, content_type);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }

  static nlohmann::json Json(const net::HttpResponse& response) {
    return nlohmann::json::parse(response.body(), nullptr, false);
  }

  // Messages stored by the main server, read through the admin API.
  std::uint64_t StoredTotal(std::string query = "") {
    auto admin = MainServer(ServiceTls(pki::ServiceRole::kAdmin));
    auto response = admin.Get("/api/v1/messages?page_size=1" + query);
    if (!response || response->result_int() != 200) return ~0ull;
    return Json(*response)["total"].get<std::uint64_t>();
  }
  bool WaitStored(std::uint64_t n, std::chrono::milliseconds timeout = std::chrono::seconds{20}) {
    return WaitFor([&] { return StoredTotal() == n; }, timeout, std::chrono::milliseconds{25});
  }

  // Writes a certificate/key pair to files and returns a TLS config that presents it.
  net::TlsClientConfig WriteCert(const std::string& name, const pki::IssuedCertificate& issued) {
    const auto cert = tmp_.path() / (name + ".crt");
    const auto key = tmp_.path() / (name + ".key");
    const auto perms = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
    EXPECT_TRUE(pki::WriteFileAtomically(cert, issued.certificate_pem, perms));
    EXPECT_TRUE(pki::WriteFileAtomically(key, issued.private_key_pem, perms));
    return {layout_.ca_cert(), cert, key};
  }

  pki::CertificateAuthority LoadCa() const {
    auto ca = pki::CertificateAuthority::Load(layout_.ca_cert(), layout_.ca_key(),
                                              SystemClock::Instance());
    EXPECT_TRUE(ca);
    return std::move(*ca);
  }

  std::shared_ptr<storage::SqliteDatabase> Database() const {
    auto db = storage::SqliteDatabase::Open({.path = layout_.database()}, SystemClock::Instance());
    EXPECT_TRUE(db) << db.error().message;
    return *db;
  }

  TempDir tmp_;
  cli::DataDirLayout layout_;
  std::unique_ptr<cli::EmbeddedSystem> system_;
};

inline const char* kValidMessage =
    R"({"sender_number":"+4915112345678","message_body":"Hello from the test"})";

}  // namespace msgbroker::testing
