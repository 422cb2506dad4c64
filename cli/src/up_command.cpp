#include <cstdlib>
#include <iostream>

#include "msgbroker/api/contract.hpp"
#include "msgbroker/cli/commands.hpp"
#include "msgbroker/cli/embedded_system.hpp"
#include "msgbroker/core/logging.hpp"
#include "msgbroker/core/version.hpp"
#include "service_host.hpp"

namespace msgbroker::cli {

namespace {

struct UpFlags {
  std::string data_dir = "msgbroker-data";
  std::string log_level = "info";
  EmbeddedOptions options;
};

std::string Quote(const std::filesystem::path& p) {
  const std::string s = p.string();
  if (s.find_first_of(" '\"$`\\") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void PrintBanner(const DataDirStatus& dir, const EmbeddedOptions& options,
                 const EmbeddedPorts& ports) {
  const auto& l = dir.layout;
  const std::string host = options.host == "0.0.0.0" ? "127.0.0.1" : options.host;
  const auto url = [&](const char* scheme, std::uint16_t port) {
    return std::string(scheme) + "://" + host + ":" + std::to_string(port);
  };
  const auto demo = l.client_dir(kDemoClientId);
  std::cout << "msgbroker " << Version() << " is up"
            << (dir.created ? " (new data directory " : " (data directory ") << l.root.string()
            << ")\n"
            << "  proxy        " << url("https", ports.proxy) << "   client API, mutual TLS\n"
            << "  main server  " << url("https", ports.main_server) << "\n"
            << "  portal       " << url("https", ports.portal) << "\n"
            << "  worker       " << url("http", ports.worker_metrics) << "/metrics\n\n"
            << "Send a message with the demo client's certificate:\n"
            << "  curl --cacert " << Quote(l.ca_cert()) << " --cert " << Quote(demo / "client.crt")
            << " --key " << Quote(demo / "client.key")
            << " -H 'Content-Type: application/json' -d "
               "'{\"sender_number\":\"+4915112345678\",\"message_body\":\"Hello from msgbroker\"}' "
            << url("https", ports.proxy) << api::kSubmitMessagePath << "\n\n"
            << "Read messages back from the main server with the admin certificate:\n"
            << "  curl --cacert " << Quote(l.ca_cert()) << " --cert "
            << Quote(l.service_cert(pki::ServiceRole::kAdmin)) << " --key "
            << Quote(l.service_key(pki::ServiceRole::kAdmin)) << " "
            << url("https", ports.main_server) << api::kListMessagesPath << "\n\n"
            << "Press Ctrl-C to stop." << std::endl;
}

int RunUp(const UpFlags& flags) {
  if (auto ok = InitLogging(flags.log_level); !ok) {
    std::cerr << "msgbroker up: " << ok.error().message << "\n";
    return 2;
  }
  BlockStopSignals();  // before any thread starts, so only WaitForStopSignal receives them

  const auto& clock = SystemClock::Instance();
  auto dir = OpenOrCreateDataDir(flags.data_dir, clock);
  if (!dir) {
    std::cerr << "msgbroker up: " << dir.error().message << "\n";
    return 1;
  }
  auto system = EmbeddedSystem::Start(dir->layout, flags.options, clock);
  if (!system) {
    std::cerr << "msgbroker up: " << system.error().message << "\n";
    return 1;
  }
  PrintBanner(*dir, flags.options, (*system)->ports());

  const int signal_number = WaitForStopSignal([&system] { (*system)->ReloadTls(); });
  std::cout << "Stopping (signal " << signal_number << "): draining in-flight work..." << std::endl;
  (*system)->Stop();
  std::cout << "Stopped." << std::endl;
  return 0;
}

}  // namespace

void RegisterUpCommand(CLI::App& app, std::function<int()>& run) {
  auto flags = std::make_shared<UpFlags>();
  if (const char* level = std::getenv("LOG_LEVEL")) flags->log_level = level;
  auto* up = app.add_subcommand(
      "up",
      "Run the whole system in one process on embedded storage (creates the data directory "
      "on first run)");
  up->add_option("--data-dir", flags->data_dir, "Data directory")->capture_default_str();
  up->add_option("--host", flags->options.host, "Address to listen on")->capture_default_str();
  up->add_option("--proxy-port", flags->options.proxy_port, "Proxy port (client API)")
      ->capture_default_str();
  up->add_option("--main-server-port", flags->options.main_server_port, "Main server port")
      ->capture_default_str();
  up->add_option("--portal-port", flags->options.portal_port, "Portal port")->capture_default_str();
  up->add_option("--worker-metrics-port", flags->options.worker_metrics_port, "Worker metrics port")
      ->capture_default_str();
  up->add_option("--io-threads", flags->options.io_threads, "I/O threads per HTTPS service")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  up->add_option("--worker-concurrency", flags->options.worker_concurrency,
                 "Worker delivery threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  up->add_option("--worker-batch-size", flags->options.worker_batch_size,
                 "Messages per delivery batch")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  up->add_option("--worker-max-attempts", flags->options.worker_max_attempts,
                 "Delivery attempts before a message is dead-lettered")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  up->add_option("--log-level", flags->log_level, "trace|debug|info|warn|error (env LOG_LEVEL)")
      ->capture_default_str();
  up->add_flag("--api-keys", flags->options.api_keys,
               "Also admit API keys (Authorization: Bearer mbk_...) at the proxy");
  up->callback([flags, &run] { run = [flags] { return RunUp(*flags); }; });
}

}  // namespace msgbroker::cli
