// `msgbroker proxy|main-server|worker|portal --config FILE [--check-config]` and
// `msgbroker admin migrate`. Exit codes: 0 stopped cleanly (or the configuration is valid), 1 a
// start failed, 2 the configuration is invalid.

#include <iostream>

#include "backends.hpp"
#include "msgbroker/cli/commands.hpp"
#include "msgbroker/config/loader.hpp"
#include "msgbroker/core/logging.hpp"
#include "msgbroker/core/version.hpp"
#include "service_apps.hpp"
#include "service_host.hpp"

namespace msgbroker::cli {

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitBadConfig = 2;

struct ServiceFlags {
  std::string config_file;
  bool check_config = false;
};

template <typename C>
using Starter = Result<std::unique_ptr<ServiceApp>> (*)(const C&, const Clock&);

// Configuration checks beyond the file's own rules (none for most services).
template <typename C>
Status Validate(const C&) {
  return Ok();
}
Status Validate(const config::ProxyConfig& c) {
  return RequireSharedQueue(c.queue, config::ProxyConfig::kSection);
}
Status Validate(const config::WorkerConfig& c) {
  return RequireSharedQueue(c.queue, config::WorkerConfig::kSection);
}

template <typename C>
int RunService(const std::string& command, const ServiceFlags& flags, Starter<C> start) {
  const auto fail = [&](const Error& error, int code) {
    std::cerr << "msgbroker " << command << ": " << error.message << "\n";
    return code;
  };
  BlockStopSignals();
  auto config = config::LoadConfig<C>(flags.config_file, config::ProcessEnvironment());
  if (!config) return fail(config.error(), kExitBadConfig);
  if (auto ok = Validate(*config); !ok) return fail(ok.error(), kExitBadConfig);
  if (auto ok = config::ResolveSecrets(*config); !ok) return fail(ok.error(), kExitBadConfig);
  if (flags.check_config) {
    std::cout << config::DumpConfig(*config);
    std::cerr << "msgbroker " << command << ": configuration ok\n";
    return 0;
  }
  if (auto ok = InitLogging(config->log_level); !ok) return fail(ok.error(), kExitBadConfig);

  auto app = start(*config, SystemClock::Instance());
  if (!app) return fail(app.error(), kExitFailed);
  std::cout << "msgbroker " << command << " " << Version() << " is up on port " << (*app)->port()
            << std::endl;
  const int signal_number = WaitForStopSignal([&app] {
    // Failures are logged by the server; it keeps serving with the certificates it had.
    (void)(*app)->ReloadTls();
  });
  std::cout << "Stopping (signal " << signal_number << "): draining in-flight work..." << std::endl;
  (*app)->Stop();
  std::cout << "Stopped." << std::endl;
  return 0;
}

template <typename C>
void RegisterService(CLI::App& app, std::function<int()>& run, const std::string& name,
                     const std::string& description, Starter<C> start) {
  auto flags = std::make_shared<ServiceFlags>();
  auto* command = app.add_subcommand(name, description);
  command->add_option("--config", flags->config_file, "YAML configuration file")->required();
  command->add_flag("--check-config", flags->check_config,
                    "Validate the configuration, print it with secrets redacted, and exit");
  command->callback([flags, name, start, &run] {
    run = [flags, name, start] { return RunService<C>(name, *flags, start); };
  });
}

struct MigrateFlags {
  std::string config_file;
  std::string database_url;
};

int RunMigrate(const MigrateFlags& flags) {
  const auto fail = [](const Error& error, int code) {
    std::cerr << "msgbroker admin migrate: " << error.message << "\n";
    return code;
  };
  config::DatabaseConfig database;
  if (!flags.config_file.empty()) {
    auto config = config::LoadConfig<config::MainServerConfig>(flags.config_file,
                                                               config::ProcessEnvironment());
    if (!config) return fail(config.error(), kExitBadConfig);
    database = config->database;
    if (auto ok = config::ResolveSecrets(database, config::MainServerConfig::kSection); !ok) {
      return fail(ok.error(), kExitBadConfig);
    }
  } else {
    database.url = flags.database_url;
  }
  database.migrate = true;
  auto opened = OpenDatabase(database, SystemClock::Instance());
  if (!opened) return fail(opened.error(), kExitFailed);
  std::cout << "database schema version " << (*opened)->schema_version() << std::endl;
  return 0;
}

}  // namespace

void RegisterServiceCommands(CLI::App& app, std::function<int()>& run) {
  RegisterService<config::ProxyConfig>(
      app, run, "proxy", "Run the proxy (client API) from a configuration file", &StartProxy);
  RegisterService<config::MainServerConfig>(
      app, run, "main-server", "Run the main server from a configuration file", &StartMainServer);
  RegisterService<config::WorkerConfig>(
      app, run, "worker", "Run a delivery worker from a configuration file", &StartWorker);
  RegisterService<config::PortalConfig>(
      app, run, "portal", "Run the web portal from a configuration file", &StartPortal);

  auto flags = std::make_shared<MigrateFlags>();
  auto* migrate = app.get_subcommand("admin")->add_subcommand(
      "migrate", "Apply pending database migrations and print the schema version");
  auto* config_option =
      migrate->add_option("--config", flags->config_file, "main-server configuration file");
  auto* url_option =
      migrate->add_option("--database-url", flags->database_url,
                          "Database URL (sqlite:///path, postgresql://…, mysql://…)");
  config_option->excludes(url_option);
  migrate->require_option(1);
  migrate->callback([flags, &run] { run = [flags] { return RunMigrate(*flags); }; });
}

}  // namespace msgbroker::cli
