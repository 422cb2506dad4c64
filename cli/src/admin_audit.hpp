#pragma once
// What every `msgbroker admin` command that changes something does last: record it in the
// hash-chained audit log (libs/audit) as the local operator.

#include <filesystem>
#include <string_view>

#include "msgbroker/audit/audit_log.hpp"

namespace msgbroker::cli {

// Records a done action. A failure is reported as one (exit code 1, on stderr naming `command`,
// e.g. "client issue"): the action happened but is not on record, which the operator must know.
int Audited(std::string_view command, const std::filesystem::path& log, audit::AuditEvent event);

}  // namespace msgbroker::cli
