#pragma once
// A Redis connection driven by an Asio event loop, for the queue's enqueues: every call and every
// callback on the loop's thread, nothing ever blocks it. Commands are pipelined: Send appends the
// command to the output buffer and returns; one write carries everything appended while the
// previous write was on its way, and the replies come back, in order, to each command's callback.
//
//  * Connects on the first Send (and on the first Send after a failure): resolving and
//    connecting within connect_timeout, with AUTH (when there is a password) and SELECT sent
//    ahead of the first commands in the same write.
//  * While commands wait for replies, a reply must arrive at least every command_timeout; when
//    none does, every command in flight fails with "timed out" and the connection closes (a
//    stalled server).
//  * Any failure (refused, reset, a protocol error, an error reply to AUTH or SELECT) fails every
//    command in flight with kQueueUnavailable naming the server, as redis::Connection's errors do.
//    A command that failed may or may not have been applied.
//  * A read is always outstanding while connected, so a server that closes an idle connection is
//    noticed at once and the next Send reconnects instead of failing.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/result.hpp"
#include "msgbroker/queue/redis_connection.hpp"

namespace msgbroker::queue::redis {

class AsyncConnection : public std::enable_shared_from_this<AsyncConnection> {
 public:
  using ReplyCallback = std::function<void(Result<Reply>)>;
  // Told the outcome of every connection attempt: Ok once the server accepted AUTH and SELECT,
  // or the error that ended the attempt.
  using ConnectObserver = std::function<void(const Status&)>;

  AsyncConnection(boost::asio::io_context& loop, ConnectionOptions options,
                  ConnectObserver observer);
  ~AsyncConnection();
  AsyncConnection(const AsyncConnection&) = delete;
  AsyncConnection& operator=(const AsyncConnection&) = delete;

  // `done` runs exactly once, on the loop's thread, never inside Send.
  void Send(const std::vector<std::string_view>& argv, ReplyCallback done);
  // Closes the connection; every command in flight fails with `why`. The next Send reconnects.
  void Close(const Error& why);

  // "redis host:port", as errors name the server.
  const std::string& where() const noexcept { return where_; }

 private:
  enum class State { kDisconnected, kConnecting, kConnected };
  using Tcp = boost::asio::ip::tcp;

  void Connect();
  void OnResolved(std::uint64_t generation, const boost::system::error_code& ec,
                  const Tcp::resolver::results_type& endpoints);
  void OnConnected(std::uint64_t generation, const boost::system::error_code& ec);
  void Write();
  void Read();
  void OnRead(std::uint64_t generation, const boost::system::error_code& ec, std::size_t bytes);
  void ArmTimer();
  void OnTimer(std::uint64_t generation, const boost::system::error_code& ec);
  void Fail(const Error& error);
  Error IoError(std::string_view what, const boost::system::error_code& ec) const;

  boost::asio::io_context& loop_;
  const ConnectionOptions options_;
  const ConnectObserver observer_;
  const std::string where_;
  Tcp::resolver resolver_;
  Tcp::socket socket_;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  State state_ = State::kDisconnected;
  // Bumped by every failure: handlers of an earlier connection see a different number and leave.
  std::uint64_t generation_ = 0;
  std::string out_;      // commands appended since the last write began
  std::string writing_;  // the write in progress
  bool write_in_progress_ = false;
  std::deque<ReplyCallback> waiting_;  // one per command sent or appended, in order
  std::chrono::steady_clock::time_point last_progress_{};
  std::array<char, 16 * 1024> read_buffer_{};
  struct ReaderDeleter {
    void operator()(redisReader* reader) const noexcept { redisReaderFree(reader); }
  };
  std::unique_ptr<redisReader, ReaderDeleter> reader_;
};

}  // namespace msgbroker::queue::redis
