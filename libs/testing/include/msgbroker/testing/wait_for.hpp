#pragma once
// Polling with a deadline: tests wait for a condition, never for a fixed time.

#include <chrono>
#include <functional>

namespace msgbroker::testing {

// Polls `predicate` every `interval` until it is true (returns true) or `timeout` passed (false).
bool WaitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
             std::chrono::milliseconds interval = std::chrono::milliseconds{20});

}  // namespace msgbroker::testing
