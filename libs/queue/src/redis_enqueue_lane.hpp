#pragma once
// RedisQueue's enqueues, sent from the event loop that asked for them (docs/adr/0007, "Enqueue
// lanes"). A lane is the queue's presence on one Asio event loop: one pipelined AsyncConnection
// and the calls waiting for it. Everything about a lane happens on its loop's thread, so a
// request handler on an HTTP I/O thread enqueues, and is answered, without handing anything to
// another thread.
//
//  * Calls added during one turn of the loop leave together: at most one batch per lane is in
//    flight, and while it is, new calls wait and form the next one (up to max_pipeline calls and
//    about 8 MiB). Consecutive calls of a batch share an EVALSHA of up to 1000 messages, each
//    call all or nothing on its own.
//  * A lane lives as long as its loop: an Asio service of the loop's io_context holds it, and
//    when the io_context is destroyed every call still waiting fails with kQueueUnavailable.
//  * RedisQueue::Close asks every lane to close its connection once what it holds is done.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "msgbroker/core/result.hpp"
#include "msgbroker/queue/queue.hpp"
#include "msgbroker/queue/redis_connection.hpp"
#include "msgbroker/queue/redis_queue.hpp"

namespace msgbroker::queue::redis {

// One EnqueueAsync call as the enqueue script takes it: ARGV group "n now id payload ...".
struct EnqueueOp {
  std::vector<std::string> args;
  Queue::EnqueueCallback done;
  std::size_t bytes = 0;
  std::size_t messages = 0;
};

class EnqueueLane;

// What the lanes of one RedisQueue share. Lanes hold it, so it outlives the queue while a lane
// on a caller's loop is still finishing.
struct EnqueueShared {
  EnqueueShared(RedisQueueOptions queue_options, ConnectionOptions connection_options,
                std::string body, std::string sha);

  // Logs when Redis becomes unreachable and when it is back (once per change, from any thread).
  void NoteConnect(const Status& status);
  // Asks every lane, on its own loop, to close its connection once it holds nothing.
  void CloseLanes();

  const RedisQueueOptions options;
  const ConnectionOptions connection;
  const std::string script_body;  // the enqueue script, for EVAL when Redis lost it
  const std::string script_sha;
  const std::string max_messages;  // options.max_messages as text, the script's ARGV[2]
  std::atomic<bool> closed{false};
  std::atomic<bool> healthy{true};
  std::atomic<std::uint64_t> round_trips{0};  // batches sent

  std::mutex lanes_mu;  // lanes
  std::vector<std::pair<boost::asio::io_context*, std::weak_ptr<EnqueueLane>>> lanes;
};

// Adds `op` to the lane of `shared`'s queue on `loop`, creating the lane on first use. Only on a
// thread running `loop`.
void EnqueueOnLoop(boost::asio::io_context& loop, const std::shared_ptr<EnqueueShared>& shared,
                   EnqueueOp op);

}  // namespace msgbroker::queue::redis
