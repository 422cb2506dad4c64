#pragma once
// A synchronous hiredis connection (not thread-safe: one thread at a time): connects with a
// timeout, authenticates, selects the database, bounds every read and write with a timeout, and
// remembers an I/O failure so that the owner drops it instead of reusing it.

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/result.hpp"

namespace msgbroker::queue::redis {

struct ConnectionOptions {
  std::string host;
  int port = 6379;
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
};

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// Reply accessors; a missing element or a wrong type reads as empty / 0.
std::string_view ReplyString(const redisReply* reply) noexcept;
long long ReplyInteger(const redisReply* reply) noexcept;
bool IsErrorReply(const redisReply* reply) noexcept;
// The server does not know the script an EVALSHA named (restarted, SCRIPT FLUSH): send EVAL.
bool IsNoScriptReply(const redisReply* reply) noexcept;

// What a new connection sends first: AUTH (when there is a password), then SELECT; each with
// what it does, for the error when the server refuses it.
struct HandshakeCommand {
  std::vector<std::string> argv;
  const char* what;
};
std::vector<HandshakeCommand> HandshakeCommands(const ConnectionOptions& options);

class Connection {
 public:
  // Connects, sends AUTH (when there is a password) and SELECT, and checks the server answers.
  // Errors are kQueueUnavailable and name host:port and what failed. `refused`, when given, is
  // set to whether the server was reached and said no (wrong password, no such database): a
  // configuration error rather than an outage.
  static Result<std::unique_ptr<Connection>> Open(const ConnectionOptions& options,
                                                  bool* refused = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One command, one round trip. An error reply is a reply, not a failure; a failure is an I/O
  // error or timeout, after which the connection is broken.
  Result<Reply> Command(const std::vector<std::string_view>& argv);
  // Pipelining: queue commands in the output buffer, then read their replies in order (the
  // first read sends the buffer).
  Status Append(const std::vector<std::string_view>& argv);
  Result<Reply> ReadReply();

  // Bounds how long one read or write may wait (a blocking XREAD needs more than the command
  // timeout); command_timeout() is the value to restore afterwards.
  void SetTimeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds command_timeout() const noexcept { return command_timeout_; }

  bool broken() const noexcept { return broken_; }
  // False when the peer closed the connection or sent something unasked while it was idle (a
  // restarted server); checked without a round trip before a pooled connection is reused.
  bool LooksAlive() const noexcept;
  const std::string& where() const noexcept { return where_; }

 private:
  Connection(redisContext* context, std::string where, std::chrono::milliseconds timeout);
  Status IoFailure(std::string_view what);

  redisContext* context_;
  std::string where_;
  std::chrono::milliseconds command_timeout_;
  bool broken_ = false;
};

}  // namespace msgbroker::queue::redis
