#pragma once
// The queue and the database a service configuration names. The one place that maps
// `queue.type` and the database URL's scheme to an implementation.

#include <memory>

#include "msgbroker/config/config.hpp"
#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"
#include "msgbroker/queue/queue.hpp"
#include "msgbroker/storage/database.hpp"

namespace msgbroker::cli {

// `embedded`: the local log directory. `redis` is refused in this build.
Result<std::unique_ptr<queue::Queue>> OpenQueue(const config::QueueConfig& config,
                                                const Clock& clock);

// `sqlite:///absolute/path` or `sqlite:relative/path`; migrates when `config.migrate`.
// postgresql:// and mysql:// are refused in this build. Errors never repeat the URL (it may hold a
// password).
Result<std::shared_ptr<storage::Database>> OpenDatabase(const config::DatabaseConfig& config,
                                                        const Clock& clock);

// Separate proxy and worker processes can only meet in a shared queue: `embedded` is a
// single-process log, so it is refused for them (`msgbroker up` runs both in one process).
Status RequireSharedQueue(const config::QueueConfig& config, std::string_view section);

}  // namespace msgbroker::cli
