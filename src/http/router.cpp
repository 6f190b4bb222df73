// Route table and matching; see router.hpp.
#include "http/router.hpp"

#include <algorithm>

namespace waitroom::http {

namespace http = boost::beast::http;

void Router::add(http::verb method, std::string_view pattern, RouteId route) {
  Route entry{method, prefix_ + std::string(pattern), false, route};
  if (pattern.ends_with("{}")) {
    entry.prefix.resize(entry.prefix.size() - 2);
    entry.has_parameter = true;
  }
  routes_.push_back(std::move(entry));
}

namespace {

// HEAD is answered like GET without the body (RFC 9110 §9.3.2) on every GET route but the
// streams, whose answer is nothing but their body.
bool answers_head(RouteId route) {
  return route != RouteId::events && route != RouteId::websocket;
}

}  // namespace

RouteMatch Router::match(http::verb method, std::string_view target) const {
  std::string_view path = target.substr(0, target.find('?'));
  RouteMatch result;
  std::vector<http::verb> allowed;
  for (const auto& route : routes_) {
    std::string_view parameter;
    if (route.has_parameter) {
      if (!path.starts_with(route.prefix)) continue;
      parameter = path.substr(route.prefix.size());
      if (parameter.empty() || parameter.find('/') != std::string_view::npos) continue;
    } else if (path != route.prefix) {
      continue;
    }
    const bool head_as_get = route.method == http::verb::get && answers_head(route.route);
    if (route.method == method || (method == http::verb::head && head_as_get)) {
      result.kind = RouteMatch::Kind::found;
      result.route = route.route;
      result.parameter = parameter;
      return result;
    }
    auto allow = [&](http::verb verb) {
      if (std::find(allowed.begin(), allowed.end(), verb) == allowed.end()) allowed.push_back(verb);
    };
    allow(route.method);
    if (head_as_get) allow(http::verb::head);
  }
  if (!allowed.empty()) {
    result.kind = RouteMatch::Kind::method_not_allowed;
    for (auto verb : allowed) {
      if (!result.allow.empty()) result.allow += ", ";
      result.allow += http::to_string(verb);
    }
  }
  return result;
}

Router Router::api_routes(std::string_view prefix) {
  Router router;
  router.prefix_ = prefix;
  using http::verb;
  // Most frequent first: the scan stops at the first match.
  router.add(verb::get, "/queue/status/{}", RouteId::status);
  router.add(verb::post, "/queue/join/{}", RouteId::join);
  router.add(verb::post, "/queue/confirm/{}", RouteId::confirm);
  router.add(verb::post, "/queue/leave/{}", RouteId::leave);
  router.add(verb::post, "/queue/heartbeat/{}", RouteId::heartbeat);
  router.add(verb::post, "/queue/heartbeat", RouteId::heartbeat_body);
  router.add(verb::get, "/queue/timers/{}", RouteId::timers);
  router.add(verb::get, "/queue/events/{}", RouteId::events);
  router.add(verb::get, "/ws/{}", RouteId::websocket);
  router.add(verb::get, "/queue/metrics", RouteId::queue_metrics);
  router.add(verb::get, "/queue/get_users", RouteId::get_users);
  router.add(verb::get, "/queue/me", RouteId::me);
  router.add(verb::get, "/assets/{}", RouteId::asset);
  router.add(verb::get, "/", RouteId::page);
  if (!prefix.empty()) router.add(verb::get, "", RouteId::page);  // "/_waitroom" itself
  router.add(verb::post, "/queue/admin/kick/{}", RouteId::kick);
  router.add(verb::post, "/queue/admin/pause", RouteId::pause);
  router.add(verb::post, "/queue/admin/resume", RouteId::resume);
  router.add(verb::get, "/queue/admin/settings", RouteId::settings_get);
  router.add(verb::post, "/queue/admin/settings", RouteId::settings_post);
  router.add(verb::get, "/health", RouteId::health);
  router.add(verb::get, "/metrics", RouteId::metrics);
  // Forward-auth: nginx's auth_request subrequest keeps the original request's method.
  for (auto method :
       {verb::get, verb::head, verb::post, verb::put, verb::patch, verb::delete_, verb::options}) {
    router.add(method, "/authz", RouteId::authz);
  }
  return router;
}

}  // namespace waitroom::http
