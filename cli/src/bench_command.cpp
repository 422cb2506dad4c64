// msgbroker bench: an mTLS keep-alive load generator for the proxy.
//
// Each connection sends POST /api/v1/messages back to back (closed loop), or, with --rate, on a
// fixed schedule (open loop: latency counts from the scheduled send time, so a slow server
// cannot hide queueing delay). Afterwards it waits for the main server to have stored every
// accepted message and reports the delivery rate. With --count-via-metrics it counts stored
// messages from the main server's /metrics (main_server_delivery_items_total{outcome="stored"},
// counted after the commit) instead of the admin list API, whose total is a `count(*)` that
// costs the database real work on every poll of a large table.

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/cli/commands.hpp"
#include "msgbroker/cli/data_dir.hpp"
#include "msgbroker/net/https_client.hpp"
#include "msgbroker/net/tls.hpp"

namespace msgbroker::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Steady = std::chrono::steady_clock;

namespace {

struct BenchFlags {
  std::string url = "https://127.0.0.1:8001";
  std::string main_server_url = "https://127.0.0.1:8000";
  std::string data_dir = "msgbroker-data";
  std::size_t connections = 64;
  double duration_s = 10;
  double rate = 0;  // total messages/s; 0 = as fast as possible
  std::size_t threads = 1;
  std::size_t batch = 1;  // messages per request; > 1 uses POST /api/v1/messages/batch
  double drain_timeout_s = 120;
  bool count_via_metrics = false;
  bool json = false;
};

struct Totals {
  std::mutex mutex;
  std::vector<std::uint32_t> latencies_us;
  std::uint64_t accepted = 0;
  std::uint64_t failed = 0;
  std::map<unsigned, std::uint64_t> statuses;
  std::string first_error;
};

asio::awaitable<void> RunConnection(asio::ssl::context& ctx, net::Endpoint ep,
                                    Steady::time_point start, Steady::time_point end,
                                    Steady::duration interval, Steady::duration offset,
                                    std::size_t batch, Totals& totals) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<std::uint32_t> latencies;
  std::uint64_t accepted = 0, failed = 0;
  std::map<unsigned, std::uint64_t> statuses;
  std::string error;
  try {
    beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
    stream.set_verify_callback(asio::ssl::host_name_verification(ep.host));
    asio::ip::tcp::resolver resolver(ex);
    auto results =
        co_await resolver.async_resolve(ep.host, std::to_string(ep.port), asio::use_awaitable);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds{10});
    co_await beast::get_lowest_layer(stream).async_connect(results, asio::use_awaitable);
    // As any HTTP client should: without it, the last TLS record of a large batch waits for the
    // ACK of the ones before it (Nagle), which the server may delay.
    beast::get_lowest_layer(stream).socket().set_option(asio::ip::tcp::no_delay(true));
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    beast::flat_buffer buffer;
    asio::steady_timer timer(ex);
    auto next = start + offset;
    std::uint64_t n = 0;
    while (true) {
      Steady::time_point scheduled = Steady::now();
      if (interval.count() > 0) {
        scheduled = next;
        next += interval;
        if (scheduled >= end) break;
        if (scheduled > Steady::now()) {
          timer.expires_at(scheduled);
          co_await timer.async_wait(asio::use_awaitable);
        }
      } else if (scheduled >= end) {
        break;
      }
      http::request<http::string_body> req{
          http::verb::post,
          std::string(batch > 1 ? api::kSubmitBatchPath : api::kSubmitMessagePath), 11};
      req.set(http::field::host, ep.host);
      req.set(http::field::content_type, "application/json");
      req.keep_alive(true);
      if (batch > 1) {
        std::string body = R"({"messages":[)";
        for (std::size_t k = 0; k < batch; ++k, ++n) {
          if (k > 0) body += ',';
          body += fmt::format(
              R"({{"sender_number":"+4915112{:06}","message_body":"bench message {}"}})",
              n % 1'000'000, n);
        }
        req.body() = body + "]}";
      } else {
        req.body() =
            fmt::format(R"({{"sender_number":"+4915112{:06}","message_body":"bench message {}"}})",
                        n % 1'000'000, n);
        ++n;
      }
      req.prepare_payload();
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds{30});
      co_await http::async_write(stream, req, asio::use_awaitable);
      http::response<http::string_body> res;
      co_await http::async_read(stream, buffer, res, asio::use_awaitable);
      const auto done = Steady::now();
      latencies.push_back(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(done - scheduled).count()));
      ++statuses[res.result_int()];
      if (res.result() == http::status::accepted) {
        accepted += batch;
      } else {
        failed += batch;
      }
      if (!res.keep_alive()) break;
    }
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds{2});
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both,
                                                      ignored);
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::lock_guard lock(totals.mutex);
  totals.latencies_us.insert(totals.latencies_us.end(), latencies.begin(), latencies.end());
  totals.accepted += accepted;
  totals.failed += failed;
  for (auto [k, v] : statuses) totals.statuses[k] += v;
  if (!error.empty() && totals.first_error.empty()) totals.first_error = error;
}

// Number of messages stored by the main server, through the admin API.
Result<std::uint64_t> StoredCount(net::HttpsClient& admin) {
  auto response = admin.Get(std::string(api::kListMessagesPath) + "?page_size=1");
  if (!response) return tl::unexpected(response.error());
  if (response->result() != http::status::ok) {
    return Fail(ErrorCode::kUpstreamError,
                "main server answered " + std::to_string(response->result_int()));
  }
  auto doc = nlohmann::json::parse(response->body(), nullptr, false);
  if (doc.is_discarded() || !doc.contains("total")) {
    return Fail(ErrorCode::kUpstreamError, "unexpected list response");
  }
  return doc["total"].get<std::uint64_t>();
}

// Messages the main server has stored since it started, from its /metrics (admin certificate).
Result<std::uint64_t> StoredCountFromMetrics(net::HttpsClient& admin) {
  auto response = admin.Get("/metrics");
  if (!response) return tl::unexpected(response.error());
  if (response->result() != http::status::ok) {
    return Fail(ErrorCode::kUpstreamError,
                "main server /metrics answered " + std::to_string(response->result_int()));
  }
  const std::string& text = response->body();
  constexpr std::string_view kName = "\nmain_server_delivery_items_total{";
  double stored = 0;
  for (auto at = text.find(kName); at != std::string::npos; at = text.find(kName, at + 1)) {
    const auto close = text.find('}', at);
    if (close == std::string::npos) break;
    const std::string_view labels(text.data() + at, close - at);
    if (labels.find(R"(outcome="stored")") == std::string_view::npos) continue;
    stored += std::strtod(text.c_str() + close + 1, nullptr);
  }
  return static_cast<std::uint64_t>(stored);
}

double Percentile(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)] / 1000.0;
}

int RunBench(const BenchFlags& f) {
  auto layout = OpenDataDir(f.data_dir);
  if (!layout) {
    std::cerr << "msgbroker bench: " << layout.error().message << "\n";
    return 2;
  }
  auto ep = net::ParseUrl(f.url);
  auto main_ep = net::ParseUrl(f.main_server_url);
  if (!ep || !main_ep) {
    std::cerr << "msgbroker bench: bad --url or --main-server-url\n";
    return 2;
  }
  const auto demo = layout->client_dir(kDemoClientId);
  net::TlsClientConfig client_tls{layout->ca_cert(), demo / "client.crt", demo / "client.key"};
  client_tls.verify_host = false;  // verified per stream with host_name_verification
  auto ctx = net::MakeClientContext(client_tls);
  if (!ctx) {
    std::cerr << "msgbroker bench: " << ctx.error().message << "\n";
    return 1;
  }
  net::TlsClientConfig admin_tls{layout->ca_cert(), layout->service_cert(pki::ServiceRole::kAdmin),
                                 layout->service_key(pki::ServiceRole::kAdmin)};
  net::HttpsClient admin(*main_ep, admin_tls, std::chrono::seconds{30});
  auto stored_count = [&f, &admin] {
    return f.count_via_metrics ? StoredCountFromMetrics(admin) : StoredCount(admin);
  };
  auto before = stored_count();
  if (!before) {
    std::cerr << "msgbroker bench: main server: " << before.error().message << "\n";
    return 1;
  }

  asio::io_context ioc;
  Totals totals;
  const auto start = Steady::now() + std::chrono::milliseconds{200};
  const auto end = start + std::chrono::duration_cast<Steady::duration>(
                               std::chrono::duration<double>(f.duration_s));
  Steady::duration interval{0};
  if (f.rate > 0) {
    interval = std::chrono::duration_cast<Steady::duration>(
        std::chrono::duration<double>(static_cast<double>(f.connections) / f.rate));
  }
  for (std::size_t i = 0; i < f.connections; ++i) {
    const auto offset = interval * static_cast<long>(i) / static_cast<long>(f.connections);
    asio::co_spawn(ioc, RunConnection(**ctx, *ep, start, end, interval, offset, f.batch, totals),
                   asio::detached);
  }
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < f.threads; ++i) threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Steady::now() - start).count();

  // Wait for delivery into the database.
  const std::uint64_t target = *before + totals.accepted;
  std::uint64_t stored = *before;
  if (auto count = stored_count()) stored = *count;
  const std::uint64_t delivered_during_load = stored - *before;
  const auto drain_deadline = Steady::now() + std::chrono::duration_cast<Steady::duration>(
                                                  std::chrono::duration<double>(f.drain_timeout_s));
  while (stored < target && Steady::now() < drain_deadline) {
    auto count = stored_count();
    if (count) stored = *count;
    if (stored < target) std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  const double delivered_elapsed = std::chrono::duration<double>(Steady::now() - start).count();
  const std::uint64_t delivered = stored - *before;

  std::sort(totals.latencies_us.begin(), totals.latencies_us.end());
  const auto& l = totals.latencies_us;
  const double accepted_rate = static_cast<double>(totals.accepted) / elapsed;
  const double delivered_rate = static_cast<double>(delivered) / delivered_elapsed;
  if (f.json) {
    nlohmann::json out = {{"connections", f.connections},
                          {"batch", f.batch},
                          {"duration_s", f.duration_s},
                          {"rate_target", f.rate},
                          {"accepted", totals.accepted},
                          {"failed", totals.failed},
                          {"accepted_per_s", accepted_rate},
                          {"p50_ms", Percentile(l, 0.50)},
                          {"p90_ms", Percentile(l, 0.90)},
                          {"p99_ms", Percentile(l, 0.99)},
                          {"p999_ms", Percentile(l, 0.999)},
                          {"max_ms", l.empty() ? 0.0 : l.back() / 1000.0},
                          {"delivered", delivered},
                          {"delivered_per_s", delivered_rate},
                          {"load_s", elapsed},
                          {"delivered_during_load", delivered_during_load},
                          {"delivered_s", delivered_elapsed},
                          {"requests", l.size()},
                          {"all_delivered", stored >= target},
                          {"error", totals.first_error}};
    std::cout << out.dump() << std::endl;
  } else {
    std::cout << fmt::format("connections {}  batch {}  duration {:.1f}s  rate {}\n", f.connections,
                             f.batch, elapsed,
                             f.rate > 0 ? fmt::format("{:.0f}/s", f.rate) : "unlimited")
              << fmt::format("accepted   {} ({:.0f}/s)   failed {}\n", totals.accepted,
                             accepted_rate, totals.failed)
              << fmt::format(
                     "latency    p50 {:.2f} ms  p99 {:.2f} ms  p99.9 {:.2f} ms  max {:.2f} ms\n",
                     Percentile(l, 0.50), Percentile(l, 0.99), Percentile(l, 0.999),
                     l.empty() ? 0.0 : l.back() / 1000.0)
              << fmt::format("delivered  {} in {:.1f}s ({:.0f}/s){}\n", delivered,
                             delivered_elapsed, delivered_rate,
                             stored >= target ? "" : "  -- NOT ALL DELIVERED before the timeout");
    for (auto [status, count] : totals.statuses) {
      std::cout << fmt::format("  HTTP {}: {}\n", status, count);
    }
    if (!totals.first_error.empty()) std::cout << "first error: " << totals.first_error << "\n";
  }
  return totals.failed == 0 && totals.first_error.empty() && stored >= target ? 0 : 1;
}

}  // namespace

void RegisterBenchCommand(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<BenchFlags>();
  auto* bench = app.add_subcommand(
      "bench", "Load the proxy over mutual TLS and measure accept latency and delivery rate");
  bench->add_option("--data-dir", f->data_dir, "Data directory of `msgbroker up` (certificates)")
      ->capture_default_str();
  bench->add_option("--url", f->url, "Proxy URL")->capture_default_str();
  bench->add_option("--main-server-url", f->main_server_url, "Main server URL")
      ->capture_default_str();
  bench->add_option("--connections,-c", f->connections, "Keep-alive connections")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  bench->add_option("--duration,-d", f->duration_s, "Seconds of load")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  bench->add_option("--rate,-r", f->rate, "Total messages/s (0 = as fast as possible)")
      ->check(CLI::Range(0.0, 10'000'000.0))
      ->capture_default_str();
  bench
      ->add_option(
          "--batch", f->batch,
          "Messages per request (> 1: POST /api/v1/messages/batch; --rate counts requests)")
      ->check(CLI::Range(1, 500))
      ->capture_default_str();
  bench->add_option("--threads", f->threads, "Client threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  bench->add_option("--drain-timeout", f->drain_timeout_s, "Seconds to wait for delivery")
      ->capture_default_str();
  bench->add_flag("--count-via-metrics", f->count_via_metrics,
                  "Count stored messages from the main server's /metrics instead of its list API "
                  "(no count(*) per poll; only valid while nothing else delivers)");
  bench->add_flag("--json", f->json, "One JSON line instead of text");
  bench->callback([f, &run] { run = [f] { return RunBench(*f); }; });
}

}  // namespace msgbroker::cli
