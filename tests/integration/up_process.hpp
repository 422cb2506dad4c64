#pragma once
// `msgbroker up` as a real child process on kernel-chosen ports.

#include <gtest/gtest.h>

#include <regex>

#include "test_support.hpp"

namespace msgbroker::testing {

struct UpPorts {
  int proxy = 0, main_server = 0, portal = 0, worker = 0;
};

inline int PortAfter(const std::string& output, const std::string& label) {
  const std::regex re(label + R"(\s+https?://127\.0\.0\.1:(\d+))");
  std::smatch m;
  if (!std::regex_search(output, m, re)) return 0;
  return std::stoi(m[1].str());
}

class UpProcess {
 public:
  explicit UpProcess(const std::filesystem::path& data_dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"up",
                                  "--data-dir",
                                  data_dir.string(),
                                  "--proxy-port",
                                  "0",
                                  "--main-server-port",
                                  "0",
                                  "--portal-port",
                                  "0",
                                  "--worker-metrics-port",
                                  "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ChildProcess>(MsgbrokerBinary(), args);
  }

  // Waits for the banner; fills ports.
  bool WaitUntilUp(std::chrono::milliseconds timeout = std::chrono::seconds{60}) {
    auto out = process_->WaitForOutput("Press Ctrl-C to stop.", timeout);
    if (!out) return false;
    ports.proxy = PortAfter(*out, "proxy");
    ports.main_server = PortAfter(*out, "main server");
    ports.portal = PortAfter(*out, "portal");
    ports.worker = PortAfter(*out, "worker");
    return ports.proxy > 0 && ports.main_server > 0 && ports.portal > 0 && ports.worker > 0;
  }

  ChildProcess& process() { return *process_; }
  const std::string& output() const { return process_->output(); }
  UpPorts ports;

 private:
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace msgbroker::testing
