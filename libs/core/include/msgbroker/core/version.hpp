#pragma once
#include <string_view>
namespace msgbroker {
std::string_view Version() noexcept;
}
