#pragma once

#include <optional>
#include <string>
#include <vector>

#include "msgbroker/net/http_types.hpp"

namespace msgbroker::net {

// Exact-segment routing with "{name}" placeholders: "/api/v1/messages/{id}".
// Unknown path -> 404 NOT_FOUND; known path, other method -> 405 METHOD_NOT_ALLOWED with Allow.
class Router {
 public:
  void Add(http::verb method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;
    std::string route;  // the pattern
    std::map<std::string, std::string, std::less<>> params;
    std::vector<http::verb> allowed;  // when the path matched but the method did not
  };
  Match Find(http::verb method, std::string_view target_path) const;

 private:
  struct Route {
    http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace msgbroker::net
