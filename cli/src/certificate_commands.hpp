#pragma once
// Helpers of certificate_commands.cpp used by the other admin commands.

#include <string>
#include <vector>

#include "msgbroker/core/result.hpp"
#include "msgbroker/pki/certificate_info.hpp"

namespace msgbroker::cli {

// Records an issued service certificate in the data directory's database, so that `admin cert
// list --kind service` shows it and `admin cert revoke` can revoke it.
Status RecordServiceCertificate(const std::string& data_dir, const pki::CertificateInfo& info,
                                pki::ServiceRole role, const std::vector<std::string>& dns_names);

}  // namespace msgbroker::cli
