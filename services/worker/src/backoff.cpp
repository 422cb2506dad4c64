#include "msgbroker/worker/backoff.hpp"

#include <algorithm>

namespace msgbroker::worker {

std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, std::uint32_t attempt,
                                       const std::function<double()>& uniform01) {
  const std::uint32_t exponent = std::min<std::uint32_t>(attempt == 0 ? 0 : attempt - 1, 30);
  const double ceiling = std::min<double>(
      static_cast<double>(policy.max.count()),
      static_cast<double>(policy.base.count()) * static_cast<double>(1ull << exponent));
  const double jitter = std::clamp(uniform01(), 0.0, 1.0);
  return std::chrono::milliseconds{static_cast<std::int64_t>(ceiling / 2 + jitter * ceiling / 2)};
}

}  // namespace msgbroker::worker
