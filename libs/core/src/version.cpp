#include "msgbroker/core/version.hpp"
namespace msgbroker {
std::string_view Version() noexcept { return MSGBROKER_VERSION; }
}  // namespace msgbroker
