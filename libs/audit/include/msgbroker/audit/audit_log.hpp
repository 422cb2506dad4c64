#pragma once
// The audit log: append-only, hash-chained JSON lines (docs/SECURITY.md, "Audit log").
//
// Every record holds its sequence number, time, who (actor), what (action, target, details) and
// from where (source), the hash of the previous record (`prev`, 64 zeros for the first) and its
// own hash: SHA-256 over the canonical JSON of everything else (keys sorted, no spaces). Editing,
// deleting, inserting or reordering a record therefore breaks the chain at that record, and
// VerifyAuditLog names it. Cutting records off the end leaves a valid shorter chain: that is only
// detectable against a head (count and last hash) kept elsewhere, which Verify prints for that.
//
// Appends take an exclusive flock on the file, read the last record, write one line and fsync,
// so several processes (CLI commands, services) can share one log. Nothing secret goes in it.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "msgbroker/core/clock.hpp"
#include "msgbroker/core/result.hpp"

namespace msgbroker::audit {

struct AuditEvent {
  std::string actor;   // who: "cli:alice@host", "admin-certificate:<fingerprint>"
  std::string action;  // what: "ca.init", "certificate.issue", "client.create", ...
  std::string target;  // on what: "client:acme", "certificate:<serial>"
  std::string source;  // from where: "local", or the peer address of an API call
  nlohmann::json details = nlohmann::json::object();  // small, never secrets
};

struct AuditRecord {
  std::uint64_t seq = 0;  // 1, 2, ...
  std::string hash;       // hex SHA-256
};

// Appends one record to the log at `path` (created with mode 0600 when missing).
Result<AuditRecord> AppendAuditEvent(const std::filesystem::path& path, const AuditEvent& event,
                                     const Clock& clock);

struct AuditVerification {
  bool ok = false;
  std::uint64_t records = 0;   // records checked (all of them when ok)
  std::string head_hash;       // hash of the last good record
  std::uint64_t bad_line = 0;  // first line that breaks the chain (when !ok)
  std::string problem;
};

// Reads the whole log and checks every record's hash and link. An error only when the file
// cannot be read; a broken chain is a verification with ok == false.
Result<AuditVerification> VerifyAuditLog(const std::filesystem::path& path);

// "cli:<user>@<host>" for commands run by an operator on this machine.
std::string LocalOperator();

}  // namespace msgbroker::audit
