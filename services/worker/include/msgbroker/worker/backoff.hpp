#pragma once
// Exponential backoff with jitter ("equal jitter"): for attempt n (1-based) the ceiling is
// min(max, base * 2^(n-1)); the delay is ceiling/2 + uniform(0, ceiling/2). Half the ceiling is
// guaranteed, so retries back off; the random half spreads a thundering herd.

#include <chrono>
#include <cstdint>
#include <functional>

namespace msgbroker::worker {

struct BackoffPolicy {
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds max{60'000};
};

// `uniform01` returns a value in [0, 1); injected so tests are deterministic.
std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, std::uint32_t attempt,
                                       const std::function<double()>& uniform01);

}  // namespace msgbroker::worker
