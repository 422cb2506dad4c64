// Mutual TLS: who the server sees, who gets rejected, and the protocol policy.

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <nlohmann/json.hpp>

#include "msgbroker/pki/certificate_info.hpp"
#include "net_test_support.hpp"

namespace msgbroker::net {
namespace {

using testing::ClientTls;
using testing::Pki;
using testing::ServerTls;
using testing::TestServer;

// GET /whoami -> {"client_id": ..., "role": ...} from the verified peer certificate, or nulls.
Router WhoAmIRouter() {
  Router router;
  router.Add(http::verb::get, "/whoami",
             [](HttpRequest&&, const RequestContext& context, Responder respond) {
               nlohmann::json body = {{"client_id", nullptr}, {"role", nullptr}};
               if (context.peer) {
                 if (context.peer->client_id) body["client_id"] = *context.peer->client_id;
                 if (context.peer->role) body["role"] = pki::RoleName(*context.peer->role);
               }
               respond(MakeJsonResponse(http::status::ok, body));
             });
  return router;
}

nlohmann::json WhoAmI(HttpsClient& client) {
  auto response = client.Get("/whoami");
  if (!response) return {{"error", response.error().message}};
  return nlohmann::json::parse(response->body());
}

double HandshakeFailures(TestServer& server) {
  return testing::MetricValue(*server.registry, "tls_handshake_failures_total",
                              {{"service", "test"}});
}

TEST(MutualTlsTest, ClientCertificateFromOurCaIdentifiesThePeer) {
  TestServer server(WhoAmIRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client(ClientTls());
  EXPECT_EQ(WhoAmI(client), (nlohmann::json{{"client_id", "acme"}, {"role", nullptr}}));
}

TEST(MutualTlsTest, ServiceCertificateCarriesItsRole) {
  TestServer server(WhoAmIRouter(), ServerTls(true));
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto tls = ClientTls(false);
  tls.cert_file = Pki().worker_cert;
  tls.key_file = Pki().worker_key;
  auto client = server.Client(tls);
  EXPECT_EQ(WhoAmI(client), (nlohmann::json{{"client_id", nullptr}, {"role", "worker"}}));
}

TEST(MutualTlsTest, NoClientCertificateLeavesPeerEmptyWhenOptional) {
  TestServer server(WhoAmIRouter(), ServerTls(false));
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client(ClientTls(false));
  EXPECT_EQ(WhoAmI(client), (nlohmann::json{{"client_id", nullptr}, {"role", nullptr}}));
}

TEST(MutualTlsTest, NoClientCertificateFailsTheHandshakeWhenRequired) {
  TestServer server(WhoAmIRouter(), ServerTls(true));
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto client = server.Client(ClientTls(false));
  const auto response = client.Get("/whoami");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_NE(response.error().message.find("certificate required"), std::string::npos)
      << response.error().message;
  EXPECT_TRUE(
      testing::WaitFor([&] { return HandshakeFailures(server) == 1; }, std::chrono::seconds{5}));
}

TEST(MutualTlsTest, CertificateFromAnotherCaFailsTheHandshake) {
  TestServer server(WhoAmIRouter(), ServerTls(false));
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto tls = ClientTls(false);
  tls.cert_file = Pki().other_client_cert;
  tls.key_file = Pki().other_client_key;
  auto client = server.Client(tls);
  const auto response = client.Get("/whoami");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kServiceUnavailable) << response.error().message;
  EXPECT_TRUE(
      testing::WaitFor([&] { return HandshakeFailures(server) == 1; }, std::chrono::seconds{5}));
}

TEST(MutualTlsTest, ClientThatDoesNotTrustTheServersCaFails) {
  TestServer server(WhoAmIRouter(), ServerTls(false));
  ASSERT_TRUE(server.started) << server.started.error().message;
  auto tls = ClientTls();
  tls.ca_file = Pki().other_ca_cert;
  auto client = server.Client(tls);
  const auto response = client.Get("/whoami");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_NE(response.error().message.find("certificate verify failed"), std::string::npos)
      << response.error().message;
  // OpenSSL's verify result follows; its wording depends on whether the server sends its CA.
  const auto& message = response.error().message;
  EXPECT_TRUE(message.find("unable to get local issuer certificate") != std::string::npos ||
              message.find("self-signed certificate in certificate chain") != std::string::npos)
      << message;
}

TEST(MutualTlsTest, HostVerificationRejectsACertificateForAnotherAddress) {
  auto config = ServerTls();
  config.cert_file = Pki().mismatched_server_cert;
  config.key_file = Pki().mismatched_server_key;
  TestServer server(WhoAmIRouter(), config);
  ASSERT_TRUE(server.started) << server.started.error().message;

  auto strict = server.Client(ClientTls());
  const auto rejected = strict.Get("/whoami");
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_NE(rejected.error().message.find("IP address mismatch"), std::string::npos)
      << rejected.error().message;

  auto lax_tls = ClientTls();
  lax_tls.verify_host = false;
  auto lax = server.Client(lax_tls);
  EXPECT_EQ(WhoAmI(lax)["client_id"], "acme");
}

TEST(MutualTlsTest, HostVerificationAcceptsTheDnsName) {
  TestServer server(WhoAmIRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  HttpsClient by_name({true, "localhost", server.server->port()}, ClientTls(),
                      std::chrono::seconds{5});
  EXPECT_EQ(WhoAmI(by_name)["client_id"], "acme");

  auto config = ServerTls();
  config.cert_file = Pki().mismatched_server_cert;
  config.key_file = Pki().mismatched_server_key;
  TestServer mismatched(WhoAmIRouter(), config);
  ASSERT_TRUE(mismatched.started) << mismatched.started.error().message;
  HttpsClient wrong_name({true, "localhost", mismatched.server->port()}, ClientTls(),
                         std::chrono::seconds{5});
  const auto response = wrong_name.Get("/whoami");
  ASSERT_FALSE(response);
  EXPECT_NE(response.error().message.find("hostname mismatch"), std::string::npos)
      << response.error().message;
}

TEST(TlsContextTest, ErrorsNameTheFileThatFailed) {
  auto config = ServerTls();
  config.cert_file = Pki().dir / "missing.crt";
  auto context = MakeServerContext(config);
  ASSERT_FALSE(context);
  EXPECT_NE(context.error().message.find("missing.crt"), std::string::npos);

  config = ServerTls();
  config.key_file = Pki().client_key;  // a valid key, but not the certificate's
  context = MakeServerContext(config);
  ASSERT_FALSE(context);
  EXPECT_NE(context.error().message.find(Pki().client_key.string()), std::string::npos);
  EXPECT_NE(context.error().message.find("does not match"), std::string::npos);

  config = ServerTls();
  config.ca_file = Pki().server_key;  // not a certificate
  context = MakeServerContext(config);
  ASSERT_FALSE(context);
  EXPECT_NE(context.error().message.find(Pki().server_key.string()), std::string::npos)
      << context.error().message;

  auto client_config = ClientTls();
  client_config.key_file.clear();
  const auto client_context = MakeClientContext(client_config);
  ASSERT_FALSE(client_context);
  EXPECT_NE(client_context.error().message.find("private key"), std::string::npos);
}

TEST(TlsContextTest, StartReportsTlsSetUpErrors) {
  auto config = ServerTls();
  config.ca_file = Pki().dir / "nowhere" / "ca.crt";
  TestServer server(WhoAmIRouter(), config);
  ASSERT_FALSE(server.started);
  EXPECT_NE(server.started.error().message.find("nowhere/ca.crt"), std::string::npos);
}

TEST(TlsPolicyTest, Tls13IsNegotiatedByDefault) {
  TestServer server(WhoAmIRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  const auto result = testing::RawTlsHandshake(server.server->port(), TLS1_VERSION, 0);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.version, TLS1_3_VERSION);
}

TEST(TlsPolicyTest, Tls11ClientIsRejected) {
  TestServer server(WhoAmIRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  const auto result = testing::RawTlsHandshake(server.server->port(), TLS1_VERSION, TLS1_1_VERSION);
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(
      testing::WaitFor([&] { return HandshakeFailures(server) == 1; }, std::chrono::seconds{5}));
}

TEST(TlsPolicyTest, Tls12UsesEcdheWithAnAead) {
  TestServer server(WhoAmIRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  const auto result =
      testing::RawTlsHandshake(server.server->port(), TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.version, TLS1_2_VERSION);
  EXPECT_EQ(result.cipher.rfind("ECDHE-", 0), 0u) << result.cipher;
  EXPECT_TRUE(result.cipher.find("GCM") != std::string::npos ||
              result.cipher.find("CHACHA20-POLY1305") != std::string::npos)
      << result.cipher;

  // A TLS 1.2 client offering only CBC suites finds nothing acceptable.
  const auto cbc = testing::RawTlsHandshake(server.server->port(), TLS1_2_VERSION, TLS1_2_VERSION,
                                            "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA");
  EXPECT_FALSE(cbc.ok);
}

TEST(TlsPolicyTest, MinimumTls13RejectsTls12Clients) {
  auto config = ServerTls();
  config.policy.min_version = TlsVersion::kTls13;
  TestServer server(WhoAmIRouter(), config);
  ASSERT_TRUE(server.started) << server.started.error().message;
  EXPECT_FALSE(testing::RawTlsHandshake(server.server->port(), TLS1_2_VERSION, TLS1_2_VERSION).ok);
  EXPECT_TRUE(testing::RawTlsHandshake(server.server->port(), TLS1_2_VERSION, 0).ok);
}

// The policy from configuration narrows what is negotiated.
TEST(TlsPolicyTest, ConfiguredSuitesAndGroupsAreWhatIsNegotiated) {
  auto config = ServerTls();
  config.policy.cipher_suites = "TLS_CHACHA20_POLY1305_SHA256";
  config.policy.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384";
  config.policy.groups = "P-384";
  TestServer server(WhoAmIRouter(), config);
  ASSERT_TRUE(server.started) << server.started.error().message;
  const auto tls13 = testing::RawTlsHandshake(server.server->port(), TLS1_3_VERSION, 0);
  ASSERT_TRUE(tls13.ok) << tls13.error;
  EXPECT_EQ(tls13.cipher, "TLS_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(tls13.group, "secp384r1");
  const auto tls12 =
      testing::RawTlsHandshake(server.server->port(), TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_TRUE(tls12.ok) << tls12.error;
  EXPECT_EQ(tls12.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
  // A client that offers only what the policy left out gets no handshake.
  EXPECT_FALSE(testing::RawTlsHandshake(server.server->port(), TLS1_3_VERSION, 0, {},
                                        {.cipher_suites = "TLS_AES_128_GCM_SHA256"})
                   .ok);
  EXPECT_FALSE(
      testing::RawTlsHandshake(server.server->port(), TLS1_3_VERSION, 0, {}, {.groups = "X25519"})
          .ok);
}

TEST(TlsPolicyTest, DefaultsAreEcdheAeadWithModernGroups) {
  TestServer server(WhoAmIRouter(), ServerTls());
  ASSERT_TRUE(server.started) << server.started.error().message;
  const auto result = testing::RawTlsHandshake(server.server->port(), TLS1_3_VERSION, 0);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.group, "X25519");
  // Finite-field Diffie-Hellman groups are not offered by the server.
  EXPECT_FALSE(testing::RawTlsHandshake(server.server->port(), TLS1_3_VERSION, 0, {},
                                        {.groups = "ffdhe2048"})
                   .ok);
}

// Configuration can narrow the policy, never weaken it; mistakes are named at start-up.
TEST(TlsPolicyTest, WeakOrUnknownPolicyEntriesAreRefusedByName) {
  struct Case {
    TlsPolicy policy;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{.ciphers = "AES128-GCM-SHA256"}, "'AES128-GCM-SHA256' is not allowed"},        // RSA kx
      {{.ciphers = "ECDHE-RSA-AES128-SHA"}, "'ECDHE-RSA-AES128-SHA' is not allowed"},  // CBC
      {{.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ALL"}, "is not allowed"},
      {{.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:NO-SUCH-CIPHER"},
       "unknown TLS 1.2 cipher 'NO-SUCH-CIPHER'"},
      {{.cipher_suites = "TLS_NO_SUCH_SUITE"}, "TLS 1.3 cipher suite list 'TLS_NO_SUCH_SUITE'"},
      {{.groups = "X25519:no-such-group"}, "unknown group in 'X25519:no-such-group'"},
  };
  for (const auto& c : cases) {
    auto server_config = ServerTls();
    server_config.policy = c.policy;
    auto server = MakeServerContext(server_config);
    ASSERT_FALSE(server) << c.expected;
    EXPECT_EQ(server.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(server.error().message.find(c.expected), std::string::npos) << server.error().message;
    TlsClientConfig client_config;
    client_config.ca_file = Pki().ca_cert;
    client_config.policy = c.policy;
    EXPECT_FALSE(MakeClientContext(client_config)) << c.expected;
  }
}

}  // namespace
}  // namespace msgbroker::net
