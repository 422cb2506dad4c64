#pragma once
// Reading and writing the small key files of this library. Every error names the file.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "msgbroker/core/result.hpp"

namespace msgbroker::crypto::internal {

enum class Access { kPublic, kPrivate };

// Reads a whole key file (at most 64 KiB) from `path`; `what` names it in errors ("key ring
// file"). With Access::kPrivate, refuses a file that group or others may access.
// Errors: kNotFound (missing), kForbidden (too open), kInternal (unreadable, not a regular file),
// kDataCorrupted (too large).
Result<std::string> ReadKeyFile(const std::filesystem::path& path, std::string_view what,
                                Access access);

// Creates `path` with exactly `mode` holding `contents`, atomically: a temporary file in the same
// directory, fsync, then a rename that never replaces an existing file (kAlreadyExists).
Status WriteNewKeyFile(const std::filesystem::path& path, std::string_view what,
                       std::string_view contents, mode_t mode);

// kAlreadyExists when `path` exists (or is a dangling symlink).
Status RequireAbsent(const std::filesystem::path& path, std::string_view what);

// `text` without leading and trailing ASCII whitespace.
std::string_view TrimWhitespace(std::string_view text);

}  // namespace msgbroker::crypto::internal
