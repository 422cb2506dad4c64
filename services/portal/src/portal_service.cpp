#include "msgbroker/portal/portal_service.hpp"

#include <fmt/format.h>

#include "msgbroker/core/version.hpp"

namespace msgbroker::portal {

namespace {

std::string EscapeHtml(std::string_view in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace

void RegisterPortalRoutes(net::Router& router, PortalInfo info) {
  const std::string page = fmt::format(
      R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>msgbroker portal</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 48rem; margin: 2rem auto">
<h1>msgbroker {}</h1>
<p>The portal's sign-in and message views arrive with user accounts. Until then, read messages
through the main server's API with the admin certificate.</p>
<ul>
<li>Proxy (client API, certificate required): <code>{}</code></li>
<li>Main server: <code>{}</code></li>
<li>Worker metrics: <code>{}</code></li>
</ul>
</body></html>
)",
      EscapeHtml(Version()), EscapeHtml(info.proxy_url), EscapeHtml(info.main_server_url),
      EscapeHtml(info.worker_metrics_url));
  router.Add(net::http::verb::get, "/",
             [page](net::HttpRequest&&, const net::RequestContext&, net::Responder respond) {
               net::HttpResponse response{net::http::status::ok, 11};
               response.set(net::http::field::content_type, "text/html; charset=utf-8");
               response.set("Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'");
               response.set("X-Content-Type-Options", "nosniff");
               response.body() = page;
               response.prepare_payload();
               respond(std::move(response));
             });
}

}  // namespace msgbroker::portal
