#pragma once
// What every call of the main server's admin API (certificate_admin, client_admin) shares: who
// made it, the audit record it leaves, and the strict reading of its JSON body.

#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::main_server {

struct AdminCall {
  std::string request_id;
  std::string actor;   // "admin-certificate:<fingerprint>"
  std::string source;  // the peer address
};

// Appends the call's record to the audit log. kInternal if it cannot be written: the caller
// answers 500, since nothing unaudited may pass as done.
Status Audit(const std::filesystem::path& audit_log, const Clock& clock, const AdminCall& call,
             std::string action, std::string target, nlohmann::json details);

// The request body as a JSON object: kInvalidJson unless it is one (an empty body is {} when
// `empty_is_object`), kInvalidRequest naming the first key that is not one of `fields`.
Result<nlohmann::json> ParseBody(std::string_view body,
                                 std::initializer_list<std::string_view> fields,
                                 bool empty_is_object = false);

// An optional string member of at most `max_size` bytes; kInvalidRequest naming it otherwise.
Result<std::optional<std::string>> StringField(const nlohmann::json& body, const char* name,
                                               std::size_t max_size);
// An optional array of at most `max_items` strings of 1 to `max_size` bytes each; kInvalidRequest
// naming it otherwise.
Result<std::optional<std::vector<std::string>>> StringListField(const nlohmann::json& body,
                                                                const char* name,
                                                                std::size_t max_items,
                                                                std::size_t max_size);
// An optional integer member (an int); kInvalidRequest naming it otherwise. Its range is the
// lifecycle rules' to check (libs/lifecycle), so the API and the CLI refuse the same values.
Result<std::optional<int>> IntegerField(const nlohmann::json& body, const char* name);

}  // namespace msgbroker::main_server
