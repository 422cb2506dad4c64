#include "admin_call.hpp"

#include <spdlog/spdlog.h>

#include <limits>

#include "msgbroker/audit/audit_log.hpp"

namespace msgbroker::main_server {

Status Audit(const std::filesystem::path& audit_log, const Clock& clock, const AdminCall& call,
             std::string action, std::string target, nlohmann::json details) {
  auto written = audit::AppendAuditEvent(audit_log,
                                         {.actor = call.actor,
                                          .action = std::move(action),
                                          .target = std::move(target),
                                          .source = call.source,
                                          .details = std::move(details)},
                                         clock);
  if (!written) {
    spdlog::error("event=audit_failed request_id={} error=\"{}\"", call.request_id,
                  written.error().message);
    return Fail(ErrorCode::kInternal, "the audit record could not be written");
  }
  return Ok();
}

Result<nlohmann::json> ParseBody(std::string_view body,
                                 std::initializer_list<std::string_view> fields,
                                 bool empty_is_object) {
  if (body.empty() && empty_is_object) return nlohmann::json::object();
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Fail(ErrorCode::kInvalidJson, "the body must be a JSON object");
  }
  for (const auto& [key, value] : json.items()) {
    if (std::find(fields.begin(), fields.end(), key) == fields.end()) {
      return Fail(ErrorCode::kInvalidRequest, "unknown field '" + key + "'", key);
    }
  }
  return json;
}

Result<std::optional<std::string>> StringField(const nlohmann::json& body, const char* name,
                                               std::size_t max_size) {
  const auto it = body.find(name);
  if (it == body.end()) return std::nullopt;
  if (!it->is_string() || it->get_ref<const std::string&>().size() > max_size) {
    return Fail(
        ErrorCode::kInvalidRequest,
        std::string(name) + " must be a string of at most " + std::to_string(max_size) + " bytes",
        name);
  }
  return it->get<std::string>();
}

Result<std::optional<std::vector<std::string>>> StringListField(const nlohmann::json& body,
                                                                const char* name,
                                                                std::size_t max_items,
                                                                std::size_t max_size) {
  const auto it = body.find(name);
  if (it == body.end()) return std::nullopt;
  auto refuse = [&] {
    return Fail(ErrorCode::kInvalidRequest,
                std::string(name) + " must be an array of at most " + std::to_string(max_items) +
                    " strings of 1 to " + std::to_string(max_size) + " bytes",
                name);
  };
  if (!it->is_array() || it->size() > max_items) return refuse();
  std::vector<std::string> items;
  for (const auto& item : *it) {
    if (!item.is_string() || item.get_ref<const std::string&>().empty() ||
        item.get_ref<const std::string&>().size() > max_size) {
      return refuse();
    }
    items.push_back(item.get<std::string>());
  }
  return items;
}

Result<std::optional<int>> IntegerField(const nlohmann::json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end()) return std::nullopt;
  if (!it->is_number_integer() || *it < std::numeric_limits<int>::min() ||
      *it > std::numeric_limits<int>::max()) {
    return Fail(ErrorCode::kInvalidRequest, std::string(name) + " must be an integer", name);
  }
  return it->get<int>();
}

}  // namespace msgbroker::main_server
