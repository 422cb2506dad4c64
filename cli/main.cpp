// msgbroker: one program, one subcommand per job. Only flag parsing lives here.

#include <CLI/CLI.hpp>
#include <iostream>

#include "msgbroker/cli/commands.hpp"
#include "msgbroker/core/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"msgbroker: a secure, fast message broker", "msgbroker"};
  app.set_version_flag("--version", std::string(msgbroker::Version()));
  app.require_subcommand(1);
  std::function<int()> run;
  msgbroker::cli::RegisterUpCommand(app, run);
  msgbroker::cli::RegisterSendCommand(app, run);
  msgbroker::cli::RegisterAdminCommands(app, run);
  msgbroker::cli::RegisterBenchCommand(app, run);
  msgbroker::cli::RegisterServiceCommands(app, run);
  msgbroker::cli::RegisterApiKeyCommands(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run ? run() : 2;
  } catch (const std::exception& e) {
    std::cerr << "msgbroker: " << e.what() << "\n";
    return 1;
  }
}
