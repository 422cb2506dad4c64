#pragma once
// Shared by the component and integration tests (beside msgbroker/testing): child
// processes that are started, read and stopped by PID.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "msgbroker/testing/temp_dir.hpp"
#include "msgbroker/testing/wait_for.hpp"

namespace msgbroker::testing {

// A child process with stdout and stderr captured into one pipe.
class ChildProcess {
 public:
  ChildProcess(std::string program, std::vector<std::string> args);
  ~ChildProcess();  // SIGKILL + reap if still running

  pid_t pid() const { return pid_; }
  // Reads output until a line contains `needle`; returns all output read so far, or nullopt on
  // timeout / end of output.
  std::optional<std::string> WaitForOutput(std::string_view needle,
                                           std::chrono::milliseconds timeout);
  const std::string& output() const { return output_; }
  void Signal(int signal);
  // Waits for exit; returns the exit code (128+signal when killed), or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  void Drain(std::chrono::milliseconds timeout);
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
  bool reaped_ = false;
  int status_ = 0;
};

// Runs a shell command to completion; returns {exit code, stdout+stderr}.
std::pair<int, std::string> RunShell(const std::string& command);

// Path of the msgbroker binary under test (compile-time definition from CMake).
std::string MsgbrokerBinary();

}  // namespace msgbroker::testing
