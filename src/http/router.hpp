// Method + path pattern → route. Patterns are literal paths, optionally ending in one
// `{}` parameter that matches a single non-empty segment (the user id). The table is
// small (about twenty routes), so a linear scan beats anything cleverer and keeps 404
// (no pattern matches the path) and 405 (a pattern matches with another method; the
// answer lists the allowed methods) simple to get right. HEAD matches every GET route but
// the streams (events, ws); the session then sends the GET answer's header alone.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace waitroom::http {

enum class RouteId : std::uint8_t {
  join,
  confirm,
  leave,
  status,
  heartbeat,
  heartbeat_body,
  timers,
  queue_metrics,
  get_users,
  // The waiting room's own page, its assets and who the caller is (src/http/web_routes.cpp).
  me,
  page,
  asset,
  events,
  websocket,
  kick,
  pause,
  resume,
  settings_get,
  settings_post,
  health,
  metrics,
  authz,  // forward-auth (the gate's, gateway.hpp)
};

struct RouteMatch {
  enum class Kind : std::uint8_t { found, not_found, method_not_allowed } kind = Kind::not_found;
  RouteId route = RouteId::health;
  std::string_view parameter;  // the raw (still URL-encoded) `{}` segment
  std::string allow;           // for method_not_allowed: "GET, POST"
};

class Router {
 public:
  // `pattern` is taken relative to the router's prefix.
  void add(boost::beast::http::verb method, std::string_view pattern, RouteId route);
  // `target` may carry a query string; it is ignored.
  RouteMatch match(boost::beast::http::verb method, std::string_view target) const;

  // The waitroom API of docs/API-CONTRACT.md, every path under `prefix` ("" serves the API
  // at the root, as the seed did; the gate moves it under a reserved prefix such as
  // "/_waitroom" so that it never collides with the upstream's paths).
  static Router api_routes(std::string_view prefix = {});

 private:
  struct Route {
    boost::beast::http::verb method;
    std::string prefix;  // the pattern without its trailing "{}"
    bool has_parameter;
    RouteId route;
  };
  std::string prefix_;  // prepended to every pattern added
  std::vector<Route> routes_;
};

}  // namespace waitroom::http
