#include "msgbroker/queue/redis_connection.hpp"

#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace msgbroker::queue::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  const auto ms = std::max<std::chrono::milliseconds::rep>(d.count(), 1);
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

struct Argv {
  std::vector<const char*> data;
  std::vector<std::size_t> sizes;
  explicit Argv(const std::vector<std::string_view>& argv) {
    data.reserve(argv.size());
    sizes.reserve(argv.size());
    for (const auto& a : argv) {
      data.push_back(a.data());
      sizes.push_back(a.size());
    }
  }
};

}  // namespace

std::string_view ReplyString(const redisReply* reply) noexcept {
  if (reply == nullptr || reply->str == nullptr) return {};
  return std::string_view(reply->str, reply->len);
}

long long ReplyInteger(const redisReply* reply) noexcept {
  if (reply == nullptr || reply->type != REDIS_REPLY_INTEGER) return 0;
  return reply->integer;
}

bool IsErrorReply(const redisReply* reply) noexcept {
  return reply != nullptr && reply->type == REDIS_REPLY_ERROR;
}

bool IsNoScriptReply(const redisReply* reply) noexcept {
  return IsErrorReply(reply) && ReplyString(reply).starts_with("NOSCRIPT");
}

std::vector<HandshakeCommand> HandshakeCommands(const ConnectionOptions& options) {
  std::vector<HandshakeCommand> commands;
  if (!options.password.empty()) {
    commands.push_back({{"AUTH", options.password}, "authentication"});
  }
  commands.push_back({{"SELECT", std::to_string(options.db)}, "selecting the database"});
  return commands;
}

Result<std::unique_ptr<Connection>> Connection::Open(const ConnectionOptions& options,
                                                     bool* refused) {
  if (refused != nullptr) *refused = false;
  std::string where = "redis " + options.host + ":" + std::to_string(options.port);
  redisContext* context = redisConnectWithTimeout(options.host.c_str(), options.port,
                                                  ToTimeval(options.connect_timeout));
  if (context == nullptr) {
    return Fail(ErrorCode::kQueueUnavailable, where + ": cannot allocate a connection");
  }
  if (context->err != 0) {
    std::string reason = context->errstr;
    redisFree(context);
    return Fail(ErrorCode::kQueueUnavailable, where + ": cannot connect: " + reason);
  }
  std::unique_ptr<Connection> conn(new Connection(context, where, options.command_timeout));
  if (redisSetTimeout(context, ToTimeval(options.command_timeout)) != REDIS_OK) {
    return Fail(ErrorCode::kQueueUnavailable, where + ": cannot set the command timeout");
  }
  for (const auto& step : HandshakeCommands(options)) {
    auto reply = conn->Command({step.argv.begin(), step.argv.end()});
    if (!reply) return tl::unexpected(reply.error());
    if (IsErrorReply(reply->get())) {
      if (refused != nullptr) *refused = true;
      return Fail(ErrorCode::kQueueUnavailable,
                  where + ": " + step.what + " failed: " + std::string(ReplyString(reply->get())));
    }
  }
  return conn;
}

Connection::Connection(redisContext* context, std::string where, std::chrono::milliseconds timeout)
    : context_(context), where_(std::move(where)), command_timeout_(timeout) {}

Connection::~Connection() { redisFree(context_); }

Status Connection::IoFailure(std::string_view what) {
  broken_ = true;
  // hiredis reports an expired SO_RCVTIMEO/SO_SNDTIMEO as the text of EAGAIN.
  std::string reason = context_->err != 0 ? context_->errstr : "no reply";
  if (context_->err == REDIS_ERR_IO &&
      (reason == std::strerror(EAGAIN) || reason == std::strerror(EWOULDBLOCK))) {
    reason = "timed out";
  }
  return Fail(ErrorCode::kQueueUnavailable, where_ + ": " + std::string(what) + ": " + reason);
}

Result<Reply> Connection::Command(const std::vector<std::string_view>& argv) {
  if (auto s = Append(argv); !s) return tl::unexpected(s.error());
  return ReadReply();
}

Status Connection::Append(const std::vector<std::string_view>& argv) {
  if (broken_) return Fail(ErrorCode::kQueueUnavailable, where_ + ": connection is broken");
  Argv args(argv);
  if (redisAppendCommandArgv(context_, static_cast<int>(args.data.size()), args.data.data(),
                             args.sizes.data()) != REDIS_OK) {
    return IoFailure("cannot queue a command");
  }
  return Ok();
}

Result<Reply> Connection::ReadReply() {
  if (broken_) return Fail(ErrorCode::kQueueUnavailable, where_ + ": connection is broken");
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
    if (raw != nullptr) freeReplyObject(raw);
    return tl::unexpected(IoFailure("request failed").error());
  }
  return Reply(static_cast<redisReply*>(raw));
}

void Connection::SetTimeout(std::chrono::milliseconds timeout) {
  if (redisSetTimeout(context_, ToTimeval(timeout)) != REDIS_OK) broken_ = true;
}

bool Connection::LooksAlive() const noexcept {
  if (broken_) return false;
  pollfd p{context_->fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

}  // namespace msgbroker::queue::redis
