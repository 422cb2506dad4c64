#include "admin_audit.hpp"

#include <iostream>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/time_format.hpp"

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

nlohmann::json CertificateDetails(const pki::CertificateInfo& info) {
  return {{"serial", info.serial_hex},
          {"fingerprint_sha256", info.fingerprint_sha256},
          {"not_after", FormatTimestamp(info.not_after)}};
}

}  // namespace msgbroker::cli
