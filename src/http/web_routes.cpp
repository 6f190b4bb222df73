// The page, asset and "me" routes; see web_routes.hpp.
//
// Assets: the page links them as "name?v=<version>", and such an answer may be cached for a
// year (the version changes with the content). Any other request for an asset (overlay.js as
// the gate injects it, a stale version) is answered with "no-cache" and an ETag, so a
// browser revalidates it and gets a 304 while it has not changed.
#include "http/web_routes.hpp"

#include "http/identity.hpp"

#include <boost/beast/http/field.hpp>

#include "http/api.hpp"
#include "http/auth.hpp"
#include "http/json_messages.hpp"
#include "web/assets.hpp"
#include "web/pages.hpp"

namespace waitroom::http {

namespace beast_http = boost::beast::http;
using beast_http::status;
using boost::asio::awaitable;

namespace {

constexpr std::size_t kMaxAssetName = 64;

// Asset names are file names from web/: letters, digits, '.', '_' and '-', not starting
// with a dot. Anything else (an escape, a slash) names no asset.
bool plausible_asset_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxAssetName || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The value of query parameter `name` in a request target; empty when absent.
std::string_view query_parameter(std::string_view target, std::string_view name) {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return {};
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto equals = pair.find('=');
    if (pair.substr(0, equals) == name && equals != std::string_view::npos) {
      return pair.substr(equals + 1);
    }
  }
  return {};
}

// Whether an If-None-Match header names `etag` (a list of entity tags, or "*").
bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    if_none_match =
        comma == std::string_view::npos ? std::string_view{} : if_none_match.substr(comma + 1);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);  // weak comparison (RFC 9110 §13.1.2)
    if (tag == etag) return true;
  }
  return false;
}

Response asset_response(const ServerContext& context, const Request& request,
                        std::string_view name) {
  std::optional<web::Asset> asset;
  if (plausible_asset_name(name)) asset = web::find_asset(context.page, name);
  if (!asset) return error_response(request, status::not_found, "not found");
  const std::string etag = asset->etag();
  const bool versioned = query_parameter(request.target(), "v") == asset->version;
  const auto cache_control = versioned && context.page.web_root.empty()
                                 ? "public, max-age=31536000, immutable"
                                 : "no-cache";
  if (etag_matches(request[beast_http::field::if_none_match], etag)) {
    Response response{status::not_modified, request.version()};
    response.set(beast_http::field::etag, etag);
    response.set(beast_http::field::cache_control, cache_control);
    response.keep_alive(request.keep_alive());
    return response;
  }
  Response response{status::ok, request.version()};
  response.set(beast_http::field::content_type, asset->content_type);
  response.set(beast_http::field::etag, etag);
  response.set(beast_http::field::cache_control, cache_control);
  response.set("X-Content-Type-Options", "nosniff");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(asset->content);
  response.prepare_payload();
  return response;
}

void append_seconds_field(std::string& out, std::string_view key, Duration duration) {
  out += ",\"";
  out += key;
  out += "\":";
  append_seconds(out, duration);
}

// GET {prefix}/queue/me: the caller's status in the shape of /queue/status plus what the
// page and the overlay need and the stream does not carry: whether admissions are paused,
// when the expiring-soon warning comes, and how often to send heartbeats. It reads without
// side effects: a page or an overlay asking is no proof of presence or activity.
awaitable<Response> me_response(ServerContext& context, const Request& request) {
  // Who the caller is (the trusted header, else the ticket cookie; never a bearer token,
  // which behind the gate belongs to the upstream). An invalid trusted header is refused, as
  // everywhere.
  std::string error;
  const auto caller = identify(context, request, &error);
  if (!error.empty()) co_return error_response(request, status::bad_request, error);
  const auto settings = co_await context.store.settings();
  const auto metrics = co_await context.store.metrics();
  std::string body;
  body.reserve(256);
  std::optional<store::Viewed> viewed;
  if (caller) {
    viewed = co_await context.store.find(caller->user_id);
    // A record re-created since the ticket was issued (the id was forgotten and taken
    // again) is someone else's.
    const auto generation = viewed->view ? std::optional(viewed->view->generation) : std::nullopt;
    if (!caller->actor.may_act_on(generation)) viewed.reset();
  }
  if (viewed) {
    append_status_body(body, caller->user_id, viewed->view, viewed->now);
    body.pop_back();  // the closing brace: more fields follow
  } else {
    body = "{\"user_id\":null";
  }
  body += ",\"paused\":";
  body += metrics.paused ? "true" : "false";
  append_seconds_field(body, "expiring_soon", settings.expiring_soon);
  // A third of the idle timeout, so that two lost heartbeats do not end a session; at most
  // 30 s, at least 1 s.
  Duration interval = std::chrono::seconds{30};
  if (settings.idle_timeout.count() > 0) {
    interval = std::clamp<Duration>(settings.idle_timeout / 3, std::chrono::seconds{1},
                                    std::chrono::seconds{30});
  }
  append_seconds_field(body, "heartbeat_interval", interval);
  body += '}';
  auto response = json_response(request, status::ok, std::move(body));
  response.set(beast_http::field::cache_control, "no-store");
  co_return response;
}

}  // namespace

bool is_web_route(RouteId route) {
  return route == RouteId::page || route == RouteId::asset || route == RouteId::me;
}

Response waiting_room_response(const ServerContext& context,
                               const beast_http::request_header<>& request) {
  Response response{status::ok, request.version()};
  response.set(beast_http::field::content_type, "text/html; charset=utf-8");
  response.set(beast_http::field::cache_control, "no-store");
  response.set(beast_http::field::vary, "Accept-Language");
  response.set("Content-Security-Policy", web::waiting_room_csp());
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "same-origin");
  response.body() =
      web::waiting_room_html(context.page, request[beast_http::field::accept_language]);
  response.prepare_payload();
  return response;
}

awaitable<Response> handle_web(ServerContext& context, const Request& request,
                               const RouteMatch& match) {
  switch (match.route) {
    case RouteId::page: {
      auto response = waiting_room_response(context, request);
      response.keep_alive(request.keep_alive());
      co_return response;
    }
    case RouteId::asset:
      co_return asset_response(context, request, match.parameter);
    case RouteId::me:
      co_return co_await me_response(context, request);
    default:
      break;
  }
  co_return error_response(request, status::not_found, "not found");
}

}  // namespace waitroom::http
