#pragma once
// Expected failures are values: Result<T> = tl::expected<T, Error>.

#include <string>
#include <tl/expected.hpp>
#include <utility>

#include "msgbroker/core/error_code.hpp"

namespace msgbroker {

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // human readable; never contains secrets or payloads
  std::string field;    // the request field at fault, when there is one (validation errors)

  Error() = default;
  Error(ErrorCode c, std::string msg, std::string f = {})
      : code(c), message(std::move(msg)), field(std::move(f)) {}
};

template <typename T>
using Result = tl::expected<T, Error>;

using Status = Result<void>;

inline tl::unexpected<Error> Fail(ErrorCode code, std::string message, std::string field = {}) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::move(field)});
}

inline Status Ok() { return {}; }

}  // namespace msgbroker
