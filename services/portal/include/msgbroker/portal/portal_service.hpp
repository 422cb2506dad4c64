#pragma once
// The web portal. Until user accounts arrive it serves one page that says what runs where and
// how to read messages with the admin certificate; /health etc. are the standard endpoints.

#include <string>

#include "msgbroker/net/router.hpp"

namespace msgbroker::portal {

struct PortalInfo {
  std::string proxy_url;
  std::string main_server_url;
  std::string worker_metrics_url;
};

void RegisterPortalRoutes(net::Router& router, PortalInfo info);

}  // namespace msgbroker::portal
