// Every ServerLimits field against a plain-HTTP server, driven with raw bytes so the requests
// can be oversized, malformed, slow or idle on purpose.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "net_test_support.hpp"

namespace msgbroker::net {
namespace {

using std::chrono::milliseconds;
using testing::RawConnection;
using testing::RawResponse;
using testing::TestServer;
using SteadyClock = std::chrono::steady_clock;

constexpr milliseconds kReadTimeout{5'000};

Router OkRouter() {
  Router router;
  auto ok = [](HttpRequest&& request, const RequestContext&, Responder respond) {
    respond(MakeJsonResponse(http::status::ok, {{"bytes", request.body().size()}}));
  };
  router.Add(http::verb::get, "/ok", ok);
  router.Add(http::verb::post, "/ok", ok);
  return router;
}

std::string Get(std::string_view extra_headers = {}) {
  return "GET /ok HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) + "\r\n";
}

void ExpectJsonError(const std::optional<RawResponse>& response, unsigned status,
                     const std::string& code) {
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, status);
  EXPECT_EQ(response->headers.at("content-type"), "application/json");
  EXPECT_EQ(response->headers.at("connection"), "close");
  const auto body = nlohmann::json::parse(response->body);
  EXPECT_EQ(body["error"]["code"], code);
  EXPECT_EQ(body["error"]["request_id"], response->headers.at("x-request-id"));
}

TEST(LimitsTest, OversizedHeadersGet431AndClose) {
  ServerLimits limits;
  limits.max_header_bytes = 1024;
  TestServer server(OkRouter(), std::nullopt, limits);
  ASSERT_TRUE(server.started) << server.started.error().message;

  RawConnection fits(server.server->port());
  ASSERT_TRUE(fits.Send(Get("X-Pad: " + std::string(600, 'a') + "\r\n")));
  const auto ok = fits.ReadResponse(kReadTimeout);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200u);

  RawConnection raw(server.server->port());
  ASSERT_TRUE(raw.Send(Get("X-Pad: " + std::string(2048, 'a') + "\r\n")));
  ExpectJsonError(raw.ReadResponse(kReadTimeout), 431, "HEADERS_TOO_LARGE");
  EXPECT_TRUE(raw.WaitClosed(kReadTimeout));
}

TEST(LimitsTest, OversizedBodyGets413AndClose) {
  ServerLimits limits;
  limits.max_body_bytes = 100;
  TestServer server(OkRouter(), std::nullopt, limits);
  ASSERT_TRUE(server.started) << server.started.error().message;

  RawConnection fits(server.server->port());
  ASSERT_TRUE(fits.Send("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" +
                        std::string(100, 'x')));
  const auto ok = fits.ReadResponse(kReadTimeout);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200u);
  EXPECT_EQ(nlohmann::json::parse(ok->body)["bytes"], 100);

  RawConnection declared(server.server->port());
  ASSERT_TRUE(
      declared.Send("POST /ok HTTP/1.1\r\nHost: t\r\nX-Request-Id: big-1\r\n"
                    "Content-Length: 5000\r\n\r\n" +
                    std::string(5000, 'x')));
  const auto too_large = declared.ReadResponse(kReadTimeout);
  ExpectJsonError(too_large, 413, "PAYLOAD_TOO_LARGE");
  EXPECT_EQ(too_large->headers.at("x-request-id"), "big-1");
  EXPECT_TRUE(declared.WaitClosed(kReadTimeout));

  RawConnection chunked(server.server->port());
  ASSERT_TRUE(
      chunked.Send("POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "50\r\n" +
                   std::string(80, 'x') + "\r\n50\r\n" + std::string(80, 'x') + "\r\n0\r\n\r\n"));
  ExpectJsonError(chunked.ReadResponse(kReadTimeout), 413, "PAYLOAD_TOO_LARGE");
}

TEST(LimitsTest, MalformedRequestGets400AndClose) {
  TestServer server(OkRouter(), std::nullopt);
  ASSERT_TRUE(server.started) << server.started.error().message;
  for (const std::string& request :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET /ok HTTP/9.9\r\n\r\n"),
        std::string("POST /ok HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
        std::string("GET /ok HTTP/1.1\r\nBad Header\r\n\r\n")}) {
    RawConnection raw(server.server->port());
    ASSERT_TRUE(raw.Send(request));
    ExpectJsonError(raw.ReadResponse(kReadTimeout), 400, "INVALID_REQUEST");
    EXPECT_TRUE(raw.WaitClosed(kReadTimeout)) << request;
  }
}

TEST(LimitsTest, SlowClientIsCutOffAfterTheRequestTimeout) {
  ServerLimits limits;
  limits.request_timeout = milliseconds{500};
  TestServer server(OkRouter(), std::nullopt, limits);
  ASSERT_TRUE(server.started) << server.started.error().message;
  RawConnection raw(server.server->port());
  const std::string request = Get("X-Slow: " + std::string(40, 's') + "\r\n");
  const auto first_byte = SteadyClock::now();
  bool closed = false;
  // One byte every 200 ms (the waits double as close detection), 40+ bytes would take 8 s.
  for (std::size_t i = 0; i < request.size() && !closed; ++i) {
    if (!raw.Send(request.substr(i, 1))) {
      closed = true;
      break;
    }
    closed = raw.WaitClosed(milliseconds{200});
  }
  const auto elapsed = SteadyClock::now() - first_byte;
  ASSERT_TRUE(closed);
  EXPECT_GE(elapsed, milliseconds{450});
  EXPECT_LT(elapsed, milliseconds{1500});
}

TEST(LimitsTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  ServerLimits limits;
  limits.idle_timeout = milliseconds{300};
  TestServer server(OkRouter(), std::nullopt, limits);
  ASSERT_TRUE(server.started) << server.started.error().message;
  RawConnection raw(server.server->port());
  ASSERT_TRUE(raw.Send(Get()));
  const auto response = raw.ReadResponse(kReadTimeout);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200u);
  EXPECT_EQ(response->headers.count("connection"), 0u);  // HTTP/1.1 keep-alive by default
  const auto idle_since = SteadyClock::now();
  ASSERT_TRUE(raw.WaitClosed(milliseconds{3'000}));
  const auto idle = SteadyClock::now() - idle_since;
  EXPECT_GE(idle, milliseconds{250});
  EXPECT_LT(idle, milliseconds{1'500});
}

TEST(LimitsTest, ConnectionsOverTheLimitAreClosedAndCounted) {
  ServerLimits limits;
  limits.max_connections = 2;
  TestServer server(OkRouter(), std::nullopt, limits);
  ASSERT_TRUE(server.started) << server.started.error().message;
  RawConnection first(server.server->port());
  RawConnection second(server.server->port());
  for (auto* raw : {&first, &second}) {
    ASSERT_TRUE(raw->Send(Get()));
    ASSERT_TRUE(raw->ReadResponse(kReadTimeout));
  }
  RawConnection third(server.server->port());
  ASSERT_TRUE(third.connected());
  EXPECT_TRUE(third.WaitClosed(kReadTimeout));
  EXPECT_EQ(testing::MetricValue(*server.registry, "http_connections_rejected_total",
                                 {{"service", "test"}, {"reason", "max_connections"}}),
            1);
  // The two admitted connections still work.
  ASSERT_TRUE(first.Send(Get()));
  EXPECT_TRUE(first.ReadResponse(kReadTimeout));
}

TEST(LimitsTest, RequestsPerConnectionLimitEndsWithConnectionClose) {
  ServerLimits limits;
  limits.max_requests_per_connection = 3;
  TestServer server(OkRouter(), std::nullopt, limits);
  ASSERT_TRUE(server.started) << server.started.error().message;
  RawConnection raw(server.server->port());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(raw.Send(Get()));
    const auto response = raw.ReadResponse(kReadTimeout);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200u);
    EXPECT_EQ(response->headers.count("connection") == 1, i == 3) << i;
  }
  EXPECT_TRUE(raw.WaitClosed(kReadTimeout));
}

TEST(LimitsTest, ExpectContinueIsAnswered) {
  TestServer server(OkRouter(), std::nullopt);
  ASSERT_TRUE(server.started) << server.started.error().message;
  RawConnection raw(server.server->port());
  ASSERT_TRUE(
      raw.Send("POST /ok HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
               "Content-Length: 4\r\n\r\n"));
  const auto interim = raw.ReadResponse(kReadTimeout);
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100u);
  ASSERT_TRUE(raw.Send("abcd"));
  const auto response = raw.ReadResponse(kReadTimeout);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200u);
  EXPECT_EQ(nlohmann::json::parse(response->body)["bytes"], 4);
}

TEST(LimitsTest, HandshakeTimeoutClosesASilentTlsClient) {
  ServerLimits limits;
  limits.handshake_timeout = milliseconds{300};
  TestServer server(OkRouter(), testing::ServerTls(), limits);
  ASSERT_TRUE(server.started) << server.started.error().message;
  RawConnection raw(server.server->port());
  const auto connected = SteadyClock::now();
  ASSERT_TRUE(raw.WaitClosed(milliseconds{3'000}));
  EXPECT_LT(SteadyClock::now() - connected, milliseconds{1'500});
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return testing::MetricValue(*server.registry, "tls_handshake_failures_total", {}) == 1;
      },
      std::chrono::seconds{5}));
}

}  // namespace
}  // namespace msgbroker::net
