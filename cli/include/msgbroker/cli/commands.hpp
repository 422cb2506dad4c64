#pragma once
// Subcommands of the `msgbroker` program. Each returns the process exit code.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace msgbroker::cli {

// Registers subcommands on `app`; `run` is set to the chosen command's action.
void RegisterUpCommand(CLI::App& app, std::function<int()>& run);
void RegisterSendCommand(CLI::App& app, std::function<int()>& run);
void RegisterAdminCommands(CLI::App& app, std::function<int()>& run);
// admin client issue/sign-csr/renew, admin cert revoke/list, admin crl; called by
// RegisterAdminCommands with its `admin` subcommand.
void RegisterCertificateCommands(CLI::App& admin, std::function<int()>& run);
void RegisterBenchCommand(CLI::App& app, std::function<int()>& run);
// proxy, main-server, worker, portal (from a configuration file) and `admin migrate`; call after
// RegisterAdminCommands.
void RegisterServiceCommands(CLI::App& app, std::function<int()>& run);
// `admin apikey create|list|revoke` (docs/adr/0012); call after RegisterAdminCommands.
void RegisterApiKeyCommands(CLI::App& app, std::function<int()>& run);

}  // namespace msgbroker::cli
