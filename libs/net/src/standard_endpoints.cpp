#include "msgbroker/net/standard_endpoints.hpp"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <nlohmann/json.hpp>

#include "msgbroker/core/time_format.hpp"
#include "msgbroker/core/version.hpp"

namespace msgbroker::net {
namespace {

std::string_view StateName(HealthState state) {
  switch (state) {
    case HealthState::kHealthy:
      return "healthy";
    case HealthState::kDegraded:
      return "degraded";
    case HealthState::kUnhealthy:
      return "unhealthy";
  }
  return "unhealthy";
}

}  // namespace

void AddStandardEndpoints(Router& router, std::string service,
                          std::shared_ptr<ServiceStatus> status, HealthProbe probe,
                          std::shared_ptr<prometheus::Registry> registry) {
  router.Add(http::verb::get, "/health",
             [service = std::move(service), status, probe = std::move(probe)](
                 HttpRequest&&, const RequestContext&, Responder respond) {
               auto overall = HealthState::kHealthy;
               nlohmann::json checks = nlohmann::json::object();
               if (probe) {
                 for (auto& [name, check] : probe()) {
                   overall = std::max(overall, check.state);
                   checks[name] = {{"status", StateName(check.state)},
                                   {"detail", std::move(check.detail)}};
                 }
               }
               const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::steady_clock::now() - status->started);
               respond(MakeJsonResponse(
                   overall == HealthState::kUnhealthy ? http::status::service_unavailable
                                                      : http::status::ok,
                   {{"status", StateName(overall)},
                    {"version", Version()},
                    {"timestamp", FormatTimestamp(std::chrono::system_clock::now())},
                    {"uptime_seconds", uptime.count()},
                    {"service", service},
                    {"checks", std::move(checks)}}));
             });
  router.Add(http::verb::get, "/healthz",
             [](HttpRequest&&, const RequestContext&, Responder respond) {
               respond(MakeJsonResponse(http::status::ok, {{"status", "alive"}}));
             });
  router.Add(
      http::verb::get, "/readyz",
      [status](HttpRequest&&, const RequestContext&, Responder respond) {
        if (!status->ready.load()) {
          respond(MakeJsonResponse(http::status::service_unavailable,
                                   {{"status", "not_ready"}, {"reason", "starting or stopping"}}));
        } else if (!status->dependencies_ready.load()) {
          respond(
              MakeJsonResponse(http::status::service_unavailable,
                               {{"status", "not_ready"}, {"reason", "dependency unavailable"}}));
        } else {
          respond(MakeJsonResponse(http::status::ok, {{"status", "ready"}}));
        }
      });
  router.Add(
      http::verb::get, "/metrics",
      [registry = std::move(registry)](HttpRequest&&, const RequestContext&, Responder respond) {
        HttpResponse response{http::status::ok, 11};
        response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        response.body() = prometheus::TextSerializer().Serialize(registry->Collect());
        response.prepare_payload();
        respond(std::move(response));
      });
}

}  // namespace msgbroker::net
