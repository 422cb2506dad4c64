#include "admin_audit.hpp"

#include <iostream>

#include "msgbroker/core/clock.hpp"

namespace msgbroker::cli {

int Audited(std::string_view command, const std::filesystem::path& log, audit::AuditEvent event) {
  event.actor = audit::LocalOperator();
  event.source = "local";
  auto recorded = audit::AppendAuditEvent(log, event, SystemClock::Instance());
  if (!recorded) {
    std::cerr << "msgbroker admin " << command
              << ": done, but NOT recorded in the audit log: " << recorded.error().message << "\n";
    return 1;
  }
  return 0;
}

}  // namespace msgbroker::cli
