#include "redis_async_connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <utility>

namespace msgbroker::queue::redis {
namespace {

namespace asio = boost::asio;

// RESP, the request format every Redis speaks: an array of bulk strings. Written here directly
// into the output buffer: hiredis's redisFormatCommandArgv would allocate each command and we
// would copy it once more.
void AppendCommand(std::string& out, const std::vector<std::string_view>& argv) {
  out += '*';
  out += std::to_string(argv.size());
  out += "\r\n";
  for (const auto& arg : argv) {
    out += '$';
    out += std::to_string(arg.size());
    out += "\r\n";
    out += arg;
    out += "\r\n";
  }
}

}  // namespace

AsyncConnection::AsyncConnection(asio::io_context& loop, ConnectionOptions options,
                                 ConnectObserver observer)
    : loop_(loop),
      options_(std::move(options)),
      observer_(std::move(observer)),
      where_("redis " + options_.host + ":" + std::to_string(options_.port)),
      resolver_(loop),
      socket_(loop),
      timer_(loop) {}

AsyncConnection::~AsyncConnection() = default;

void AsyncConnection::Send(const std::vector<std::string_view>& argv, ReplyCallback done) {
  if (waiting_.empty()) last_progress_ = std::chrono::steady_clock::now();
  AppendCommand(out_, argv);
  waiting_.push_back(std::move(done));
  switch (state_) {
    case State::kDisconnected:
      Connect();
      break;
    case State::kConnecting:
      break;  // written once connected
    case State::kConnected:
      Write();
      ArmTimer();
      break;
  }
}

void AsyncConnection::Close(const Error& why) { Fail(why); }

void AsyncConnection::Connect() {
  state_ = State::kConnecting;
  reader_.reset(redisReaderCreate());
  // AUTH and SELECT go first, in the same write as the commands that are waiting; an error reply
  // to either ends the connection, and with it those commands.
  std::string handshake;
  std::deque<ReplyCallback> checks;
  auto check = [this](const char* what, bool last) {
    return [this, what, last, generation = generation_](Result<Reply> reply) {
      if (!reply || generation != generation_) return;  // failing already
      if (IsErrorReply(reply->get())) {
        const Error refused{
            ErrorCode::kQueueUnavailable,
            where_ + ": " + what + " failed: " + std::string(ReplyString(reply->get()))};
        observer_(tl::unexpected(refused));
        Fail(refused);
      } else if (last) {
        observer_(Ok());
      }
    };
  };
  const auto commands = HandshakeCommands(options_);
  for (std::size_t i = 0; i < commands.size(); ++i) {
    AppendCommand(handshake, {commands[i].argv.begin(), commands[i].argv.end()});
    checks.push_back(check(commands[i].what, i + 1 == commands.size()));
  }
  out_.insert(0, handshake);
  waiting_.insert(waiting_.begin(), std::make_move_iterator(checks.begin()),
                  std::make_move_iterator(checks.end()));

  last_progress_ = std::chrono::steady_clock::now();
  ArmTimer();
  resolver_.async_resolve(
      options_.host, std::to_string(options_.port),
      [self = shared_from_this(), generation = generation_](
          const boost::system::error_code& ec, const Tcp::resolver::results_type& endpoints) {
        self->OnResolved(generation, ec, endpoints);
      });
}

void AsyncConnection::OnResolved(std::uint64_t generation, const boost::system::error_code& ec,
                                 const Tcp::resolver::results_type& endpoints) {
  if (generation != generation_) return;
  if (ec) {
    const auto error = IoError("cannot connect", ec);
    observer_(tl::unexpected(error));
    return Fail(error);
  }
  asio::async_connect(socket_, endpoints,
                      [self = shared_from_this(), generation](const boost::system::error_code& e,
                                                              const Tcp::endpoint&) {
                        self->OnConnected(generation, e);
                      });
}

void AsyncConnection::OnConnected(std::uint64_t generation, const boost::system::error_code& ec) {
  if (generation != generation_) return;
  if (ec) {
    const auto error = IoError("cannot connect", ec);
    observer_(tl::unexpected(error));
    return Fail(error);
  }
  boost::system::error_code ignored;
  socket_.set_option(Tcp::no_delay(true), ignored);
  state_ = State::kConnected;
  last_progress_ = std::chrono::steady_clock::now();
  Read();
  Write();
}

void AsyncConnection::Write() {
  if (write_in_progress_ || out_.empty()) return;
  write_in_progress_ = true;
  writing_.swap(out_);
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this(), generation = generation_](
                        const boost::system::error_code& ec, std::size_t) {
                      if (generation != self->generation_) return;
                      self->write_in_progress_ = false;
                      self->writing_.clear();
                      if (ec) return self->Fail(self->IoError("request failed", ec));
                      self->Write();
                    });
}

void AsyncConnection::Read() {
  socket_.async_read_some(asio::buffer(read_buffer_),
                          [self = shared_from_this(), generation = generation_](
                              const boost::system::error_code& ec, std::size_t bytes) {
                            self->OnRead(generation, ec, bytes);
                          });
}

void AsyncConnection::OnRead(std::uint64_t generation, const boost::system::error_code& ec,
                             std::size_t bytes) {
  if (generation != generation_) return;
  if (ec) {
    return Fail(IoError(waiting_.empty() ? "connection closed" : "request failed", ec));
  }
  if (redisReaderFeed(reader_.get(), read_buffer_.data(), bytes) != REDIS_OK) {
    return Fail(Error{ErrorCode::kQueueUnavailable,
                      where_ + ": unreadable reply: " + std::string(reader_->errstr)});
  }
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
      return Fail(Error{ErrorCode::kQueueUnavailable,
                        where_ + ": unreadable reply: " + std::string(reader_->errstr)});
    }
    if (raw == nullptr) break;  // the rest of the reply is still on its way
    Reply reply(static_cast<redisReply*>(raw));
    if (waiting_.empty()) {
      return Fail(Error{ErrorCode::kQueueUnavailable, where_ + ": a reply nobody asked for"});
    }
    ReplyCallback done = std::move(waiting_.front());
    waiting_.pop_front();
    last_progress_ = std::chrono::steady_clock::now();
    done(std::move(reply));
    // The callback may have failed or closed the connection (and even opened the next one).
    if (generation != generation_) return;
  }
  Read();
}

// One timer, re-armed lazily: it fires at most every command_timeout while replies are awaited
// and checks whether one arrived meanwhile, so a reply costs no timer operation.
void AsyncConnection::ArmTimer() {
  if (timer_armed_) return;
  timer_armed_ = true;
  const auto timeout =
      state_ == State::kConnected ? options_.command_timeout : options_.connect_timeout;
  timer_.expires_at(last_progress_ + timeout);
  timer_.async_wait([self = shared_from_this(), generation = generation_](
                        const boost::system::error_code& ec) { self->OnTimer(generation, ec); });
}

void AsyncConnection::OnTimer(std::uint64_t generation, const boost::system::error_code& ec) {
  if (generation != generation_) return;
  timer_armed_ = false;
  if (ec || waiting_.empty()) return;
  const bool connecting = state_ != State::kConnected;
  const auto timeout = connecting ? options_.connect_timeout : options_.command_timeout;
  if (std::chrono::steady_clock::now() - last_progress_ < timeout) return ArmTimer();
  const Error error{
      ErrorCode::kQueueUnavailable,
      where_ + (connecting ? ": cannot connect: timed out" : ": request failed: timed out")};
  if (connecting) observer_(tl::unexpected(error));
  Fail(error);
}

void AsyncConnection::Fail(const Error& error) {
  ++generation_;
  state_ = State::kDisconnected;
  boost::system::error_code ignored;
  resolver_.cancel();
  socket_.close(ignored);
  timer_.cancel();
  timer_armed_ = false;
  out_.clear();
  writing_.clear();
  write_in_progress_ = false;
  reader_.reset();
  std::deque<ReplyCallback> failed;
  failed.swap(waiting_);
  for (auto& done : failed) done(tl::unexpected(error));
}

Error AsyncConnection::IoError(std::string_view what, const boost::system::error_code& ec) const {
  return Error{ErrorCode::kQueueUnavailable,
               where_ + ": " + std::string(what) + ": " + ec.message()};
}

}  // namespace msgbroker::queue::redis
