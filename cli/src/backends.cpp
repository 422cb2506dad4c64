#include "backends.hpp"

#include "msgbroker/queue/embedded_queue.hpp"
#include "msgbroker/queue/redis_queue.hpp"

namespace msgbroker::cli {

Result<std::unique_ptr<queue::Queue>> OpenQueue(const config::QueueConfig& config,
                                                const Clock& clock) {
  if (config.type == config::QueueType::kRedis) {
    queue::RedisQueueOptions options;
    options.host = config.redis.host;
    options.port = config.redis.port;
    options.password = config.redis.password;
    options.db = static_cast<int>(config.redis.db);
    options.key_prefix = config.redis.key_prefix;
    options.max_messages = config.max_messages;
    auto queue = queue::RedisQueue::Open(std::move(options), clock);
    if (!queue) return tl::unexpected(queue.error());
    return std::unique_ptr<queue::Queue>(std::move(*queue));
  }
  auto queue = queue::EmbeddedQueue::Open({.directory = config.embedded.directory,
                                           .fsync = config.embedded.fsync,
                                           .max_messages = config.max_messages},
                                          clock);
  if (!queue) return tl::unexpected(queue.error());
  return std::unique_ptr<queue::Queue>(std::move(*queue));
}

Result<std::shared_ptr<storage::Database>> OpenDatabase(const config::DatabaseConfig& config,
                                                        const Clock& clock) {
  storage::DatabaseOptions options;
  options.url = config.url;
  options.pool_size = config.pool_size;
  options.migrate = config.migrate;
  return storage::OpenDatabase(options, clock);
}

Status RequireSharedQueue(const config::QueueConfig& config, std::string_view section) {
  if (config.type == config::QueueType::kRedis) return Ok();
  return Fail(ErrorCode::kInvalidRequest,
              std::string(section) +
                  ".queue.type: 'embedded' is a single-process queue, so a separate proxy and "
                  "worker cannot share it; use 'redis', or run everything in one process with "
                  "`msgbroker up`");
}

}  // namespace msgbroker::cli
