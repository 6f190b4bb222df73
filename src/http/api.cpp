// The API handlers; see api.hpp. JSON bodies are read and (except on the hot paths) built
// with nlohmann-json.
#include "http/api.hpp"

#include <boost/beast/http/field.hpp>
#include <charconv>
#include <nlohmann/json.hpp>

#include "http/identity.hpp"
#include "http/json_messages.hpp"
#include "http/json_text.hpp"
#include "http/prometheus.hpp"
#include "http/user_id.hpp"
#include "http/web_routes.hpp"

namespace waitroom::http {

namespace beast_http = boost::beast::http;
using beast_http::status;
using boost::asio::awaitable;
using nlohmann::json;

namespace {

json seconds_json(Duration duration) {
  const auto ms = std::max<std::int64_t>(duration.count(), 0);
  if (ms % 1000 == 0) return ms / 1000;
  return double(ms) / 1000.0;
}

Duration remaining(TimePoint deadline, TimePoint now) {
  return deadline > now ? std::chrono::duration_cast<Duration>(deadline - now) : Duration{0};
}

json status_json(engine::Status s) {
  return std::string(engine::to_string(s));
}

Credentials credentials_of(const Request& request) {
  return parse_credentials(request[beast_http::field::cookie],
                           request[beast_http::field::authorization]);
}

Response refusal(const Request& request, AuthDecision decision) {
  if (decision == AuthDecision::unauthorized) {
    return error_response(request, status::unauthorized, "credentials required");
  }
  return error_response(request, status::forbidden, "not allowed to act for this user");
}

// The segment is echoed as the client sent it (error_response makes any byte safe), cut
// short: a path may be as long as the header limit.
Response invalid_user_id(const Request& request, std::string_view segment) {
  constexpr std::size_t kMaxEcho = 100;
  std::string detail = "invalid user id: ";
  detail += segment.substr(0, kMaxEcho);
  if (segment.size() > kMaxEcho) detail += "...";
  return error_response(request, status::unprocessable_entity, detail);
}

bool secure_cookie(const ServerContext& context, const Request& request) {
  switch (context.cookie_secure) {
    case cli::CookieSecure::always:
      return true;
    case cli::CookieSecure::never:
      return false;
    case cli::CookieSecure::automatic:
      break;
  }
  auto proto = request["X-Forwarded-Proto"];
  return proto == "https" || proto == "HTTPS";
}

// Who the request acts as for `user_id` (the store checks it where it acts), or the answer
// that refuses it before the store is asked.
struct ActingAs {
  store::Actor actor;
  std::optional<Response> refusal;
};

ActingAs acting_as(const ServerContext& context, const Request& request, std::string_view user_id) {
  const auto credentials = credentials_of(request);
  ActingAs acting{actor_for(context.auth, credentials, user_id), std::nullopt};
  if (context.trusted_user_header.empty()) return acting;
  // Behind a trusted front proxy, its identity header IS the caller (identity.hpp): an
  // invalid value is refused as the gate refuses it, and a valid one acts on its own id, on
  // any generation, and on no other, whatever ticket comes with it: one account, one place.
  // Only the backend key still acts for anyone.
  std::string error;
  const auto identity = identify(context, request, &error);
  if (!error.empty()) {
    acting.refusal = error_response(request, status::bad_request, error);
  } else if (identity && identity->from_trusted_header) {
    if (identity->user_id == user_id) {
      acting.actor.has_credentials = true;
      acting.actor.any_generation = true;
    } else if (!is_api_key(context.auth, credentials)) {
      acting.refusal = error_response(
          request, status::forbidden,
          context.trusted_user_header + " names another user; act on " + identity->user_id);
    }
  }
  return acting;
}

// The refusals name what is missing, since the admin is the one person who can fix it.
std::optional<Response> require_admin(ServerContext& context, const Request& request) {
  const auto decision = authorize_admin(context.auth, credentials_of(request));
  if (decision == AuthDecision::allow) return std::nullopt;
  if (context.auth.admin_token.empty()) {
    return error_response(request, status::forbidden,
                          "admin routes are off: start the server with ADMIN_TOKEN");
  }
  if (decision == AuthDecision::unauthorized) {
    return error_response(request, status::unauthorized,
                          "admin token required (Authorization: Bearer <ADMIN_TOKEN>)");
  }
  return error_response(request, status::forbidden, "wrong admin token");
}

json leave_json(std::string_view user_id, engine::Status previous) {
  return {{"previous_status", status_json(previous)},
          {"new_status", "disconnected"},
          {"user_id", user_id}};
}

json settings_json(const engine::Settings& settings, bool paused) {
  return {{"max_active_users", settings.max_active_users},
          {"session_duration", seconds_json(settings.session_duration)},
          {"draft_duration", seconds_json(settings.draft_duration)},
          {"idle_timeout", seconds_json(settings.idle_timeout)},
          {"presence_timeout", seconds_json(settings.presence_timeout)},
          {"max_draft_misses", settings.max_draft_misses},
          {"expiring_soon", seconds_json(settings.expiring_soon)},
          {"requeue_policy", std::string(engine::to_string(settings.requeue_policy))},
          {"session_renewal", settings.session_renewal},
          {"disconnected_retention", seconds_json(settings.disconnected_retention)},
          {"paused", paused}};
}

// The text a setting's JSON value stands for, as the environment would give it, so that the
// one parser and validator of each setting (cli::set_runtime_setting) decides: a string as
// it is ("250ms", "front"), a number in plain decimal notation (0.0004 must reach the
// duration parser as "0.0004", which it refuses as finer than a millisecond, never as a
// rounded 0), and anything else as its JSON text, which every setting refuses with its
// usual message.
std::string setting_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    char buffer[400];  // the longest fixed-notation double is about 330 characters
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value.get<double>(),
                                         std::chars_format::fixed);
    if (ec == std::errc{}) return std::string(buffer, end);
  }
  return json_text(value);
}

// Applies a partial settings object to `settings` with the start-up's validation, all or
// nothing; the start-up's error message for the first invalid or unknown key.
std::string apply_settings(const json& body, engine::Settings& settings,
                           std::optional<bool>& paused) {
  cli::Config config;
  config.engine = settings;
  for (const auto& [key, value] : body.items()) {
    try {
      cli::set_runtime_setting(config, key, setting_text(value));
    } catch (const cli::ConfigError& e) {
      return e.what();
    }
    if (key == "paused") paused = config.paused;
  }
  settings = config.engine;
  return {};
}

// ---- handlers ----

awaitable<Response> status_handler(ServerContext& context, const Request& request,
                                   std::string_view user_id) {
  const auto viewed = co_await context.store.poll(user_id);
  Response response{status::ok, request.version()};
  response.set(beast_http::field::content_type, "application/json");
  response.keep_alive(request.keep_alive());
  auto& body = response.body();
  body.reserve(192);
  append_status_body(body, user_id, viewed.view, viewed.now);
  response.prepare_payload();
  co_return response;
}

awaitable<Response> join_handler(ServerContext& context, const Request& request,
                                 std::string_view user_id) {
  // A new id needs no credentials: only an existing record is protected (by the store, in
  // the same step as the join, so that of simultaneous joins of a new id only one gets it).
  const auto acting = acting_as(context, request, user_id);
  if (acting.refusal) co_return *acting.refusal;
  const auto& actor = acting.actor;
  const auto joined = co_await context.store.join(user_id, actor);
  if (joined.forbidden) co_return refusal_for(request, actor);
  const auto& result = joined.result;
  std::string ticket;
  if (!context.auth.open && context.auth.signer != nullptr) {
    ticket = context.auth.signer->issue(user_id, result.after.generation);
  }
  // Hand-built like the status body: a join is the other hot path.
  std::string body;
  body.reserve(256);
  append_join_body(body, user_id, result, ticket);
  auto response = json_response(request, status::ok, std::move(body));
  if (!ticket.empty()) {
    response.set(beast_http::field::set_cookie,
                 ticket_cookie(ticket, secure_cookie(context, request)));
  }
  co_return response;
}

awaitable<Response> confirm_handler(ServerContext& context, const Request& request,
                                    std::string_view user_id) {
  const auto acting = acting_as(context, request, user_id);
  if (acting.refusal) co_return *acting.refusal;
  const auto& actor = acting.actor;
  const auto [result, now, forbidden] = co_await context.store.confirm(user_id, actor);
  if (forbidden) co_return refusal_for(request, actor);
  if (result.outcome != engine::Outcome::ok) {
    co_return error_response(request, status::bad_request, "user holds no draft");
  }
  json body{{"status", "success"},
            {"user_id", user_id},
            {"session_duration", seconds_json(result.after.total_duration)},
            {"expires_at", format_instant(result.after.deadline)},
            {"remaining_time", seconds_json(remaining(result.after.deadline, now))}};
  co_return json_response(request, status::ok, json_text(body));
}

awaitable<Response> leave_handler(ServerContext& context, const Request& request,
                                  std::string_view user_id, bool kick) {
  std::optional<ActingAs> acting;
  if (kick) {
    if (auto refused = require_admin(context, request)) co_return *refused;
  } else {
    acting = acting_as(context, request, user_id);
    if (acting->refusal) co_return *acting->refusal;
  }
  const auto actor = acting ? acting->actor : store::Actor::anyone();
  const auto [result, now, forbidden] =
      kick ? co_await context.store.kick(user_id) : co_await context.store.leave(user_id, actor);
  if (forbidden) co_return refusal_for(request, actor);
  if (result.outcome == engine::Outcome::unknown_user) {
    co_return error_response(request, status::not_found, "unknown user");
  }
  co_return json_response(request, status::ok, json_text(leave_json(user_id, result.previous)));
}

awaitable<Response> heartbeat_handler(ServerContext& context, const Request& request,
                                      std::string_view user_id) {
  const auto acting = acting_as(context, request, user_id);
  if (acting.refusal) co_return *acting.refusal;
  const auto& actor = acting.actor;
  const auto [result, now, forbidden] = co_await context.store.heartbeat(user_id, actor);
  if (forbidden) co_return refusal_for(request, actor);
  if (result.outcome != engine::Outcome::ok) {
    co_return error_response(request, status::not_found, "user is not connected");
  }
  json body{{"status", "extended"}, {"ttl", seconds_json(result.remaining)}};
  co_return json_response(request, status::ok, json_text(body));
}

awaitable<Response> timers_handler(ServerContext& context, const Request& request,
                                   std::string_view user_id) {
  const auto viewed = co_await context.store.find(user_id);
  json body = json::object();
  if (viewed.view && (viewed.view->status == engine::Status::draft ||
                      viewed.view->status == engine::Status::connected)) {
    const auto& view = *viewed.view;
    body = {{"timer_type", view.status == engine::Status::draft ? "draft" : "session"},
            {"ttl", seconds_json(remaining(view.deadline, viewed.now))},
            {"total_duration", seconds_json(view.total_duration)},
            {"expires_at", format_instant(view.deadline)}};
  }
  co_return json_response(request, status::ok, json_text(body));
}

awaitable<Response> queue_metrics_handler(ServerContext& context, const Request& request) {
  const auto m = co_await context.store.metrics();
  const auto used = m.draft + m.connected;
  json body{{"active_users", m.connected},
            {"draft_users", m.draft},
            {"waiting_users", m.waiting},
            {"total_slots", m.total_slots},
            {"available_slots", used >= m.total_slots ? 0 : m.total_slots - used},
            {"paused", m.paused},
            {"average_wait_time", seconds_json(m.average_wait)},
            {"average_session_time", seconds_json(m.average_session)},
            {"total_joins", m.counters.joins},
            {"total_admissions", m.counters.admissions}};
  co_return json_response(request, status::ok, json_text(body));
}

awaitable<Response> prometheus_handler(ServerContext& context, const Request& request) {
  const auto m = co_await context.store.metrics();
  PrometheusWriter writer;
  writer.gauge("waitroom_active_users", "Users in a confirmed session.", double(m.connected));
  writer.gauge("waitroom_draft_users", "Users holding a draft.", double(m.draft));
  writer.gauge("waitroom_waiting_users", "Users waiting in the queue.", double(m.waiting));
  writer.gauge("waitroom_total_slots", "MAX_ACTIVE_USERS.", double(m.total_slots));
  writer.gauge("waitroom_open_streams", "Open SSE and WebSocket streams.",
               double(context.hub.open_streams()));
  writer.gauge("waitroom_paused", "1 when admissions are paused.", m.paused ? 1 : 0);
  const auto& c = m.counters;
  writer.counter("waitroom_joins_total", "Joins that took a place.", double(c.joins));
  writer.counter("waitroom_drafts_total", "Drafts offered.", double(c.drafts));
  writer.counter("waitroom_admissions_total", "Drafts confirmed.", double(c.admissions));
  writer.counter("waitroom_leaves_total", "Users who left.", double(c.leaves));
  writer.counter("waitroom_kicks_total", "Users kicked by an admin.", double(c.kicks));
  writer.counter("waitroom_draft_requeues_total", "Drafts that ran out and were requeued.",
                 double(c.draft_requeues));
  writer.labelled_counter("waitroom_timeouts_total", "Disconnections by timeout.", "reason",
                          {{"draft_timeout", double(c.draft_timeouts)},
                           {"session_timeout", double(c.session_timeouts)},
                           {"idle_timeout", double(c.idle_timeouts)},
                           {"abandoned", double(c.abandoned)}});
  writer.histogram("waitroom_wait_seconds", "Time from join to draft.",
                   context.metrics.wait_seconds.totals());
  writer.histogram("waitroom_session_seconds", "Length of ended sessions.",
                   context.metrics.session_seconds.totals());
  Response response{status::ok, request.version()};
  response.set(beast_http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  response.keep_alive(request.keep_alive());
  response.body() = writer.text();
  response.prepare_payload();
  co_return response;
}

awaitable<Response> get_users_handler(ServerContext& context, const Request& request) {
  if (auto refused = require_admin(context, request)) co_return *refused;
  const auto snapshot = co_await context.store.snapshot();
  json body{{"waiting_users", snapshot.waiting},
            {"draft_users", snapshot.draft},
            {"active_users", snapshot.connected}};
  co_return json_response(request, status::ok, json_text(body));
}

awaitable<Response> pause_handler(ServerContext& context, const Request& request, bool pause) {
  if (auto refused = require_admin(context, request)) co_return *refused;
  const bool paused = co_await context.store.set_paused(pause);
  co_return json_response(request, status::ok, json_text(json{{"paused", paused}}));
}

awaitable<Response> settings_handler(ServerContext& context, const Request& request, bool update) {
  if (auto refused = require_admin(context, request)) co_return *refused;
  auto settings = co_await context.store.settings();
  if (update) {
    const auto body = json::parse(request.body(), nullptr, false);
    if (body.is_discarded()) {
      co_return error_response(request, status::bad_request, "malformed JSON");
    }
    if (!body.is_object()) {
      co_return error_response(request, status::unprocessable_entity,
                               "settings must be a JSON object");
    }
    std::optional<bool> paused;
    if (auto error = apply_settings(body, settings, paused); !error.empty()) {
      co_return error_response(request, status::unprocessable_entity, error);
    }
    co_await context.store.update_settings(settings);
    if (paused) co_await context.store.set_paused(*paused);
  }
  const auto m = co_await context.store.metrics();
  co_return json_response(request, status::ok, json_text(settings_json(settings, m.paused)));
}

}  // namespace

awaitable<bool> answer_status(ServerContext& context, const Request& request,
                              std::string_view parameter, std::string& out) {
  std::string scratch;
  const auto user_id = decode_user_id(parameter, context.limits.max_user_id_length, scratch);
  if (!user_id) co_return false;
  const auto viewed = co_await context.store.poll(*user_id);
  // The body is written after a fixed-width Content-Length placeholder, then the length
  // is filled in: one pass, no second buffer.
  const bool http10 = request.version() == 10;
  const bool keep_alive = request.keep_alive();
  out += http10 ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.1 200 OK\r\n";
  out += "Content-Type: application/json\r\n";
  if (keep_alive && http10) out += "Connection: keep-alive\r\n";
  if (!keep_alive && !http10) out += "Connection: close\r\n";
  out += "Content-Length: ";
  const auto length_at = out.size();
  out += "      \r\n\r\n";
  const auto body_at = out.size();
  append_status_body(out, *user_id, viewed.view, viewed.now);
  const auto length = std::to_string(out.size() - body_at);
  out.replace(length_at, length.size(), length);
  // Drop the unused placeholder spaces (a length never needs six digits here, but the
  // header must not carry trailing blanks either).
  out.erase(length_at + length.size(), 6 - length.size());
  co_return true;
}

Response json_response(const Request& request, status code, std::string body) {
  Response response{code, request.version()};
  response.set(beast_http::field::content_type, "application/json");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

Response unavailable_response(const Request& request, std::string_view detail) {
  auto response = error_response(request, status::service_unavailable, detail);
  response.set(beast_http::field::retry_after, "1");
  return response;
}

Response error_response(const Request& request, status code, std::string_view detail) {
  auto response = json_response(request, code, detail_json(detail));
  if (code == status::unauthorized) response.set(beast_http::field::www_authenticate, "Bearer");
  return response;
}

awaitable<Response> handle_api(ServerContext& context, const Request& request,
                               const RouteMatch& match) {
  if (is_web_route(match.route)) co_return co_await handle_web(context, request, match);
  std::string scratch;
  std::string_view user_id;
  if (!match.parameter.empty()) {
    auto decoded = decode_user_id(match.parameter, context.limits.max_user_id_length, scratch);
    if (!decoded) co_return invalid_user_id(request, match.parameter);
    user_id = *decoded;
  }
  switch (match.route) {
    case RouteId::status:
      co_return co_await status_handler(context, request, user_id);
    case RouteId::join:
      co_return co_await join_handler(context, request, user_id);
    case RouteId::confirm:
      co_return co_await confirm_handler(context, request, user_id);
    case RouteId::leave:
      co_return co_await leave_handler(context, request, user_id, false);
    case RouteId::kick:
      co_return co_await leave_handler(context, request, user_id, true);
    case RouteId::heartbeat:
      co_return co_await heartbeat_handler(context, request, user_id);
    case RouteId::heartbeat_body: {
      const auto body = json::parse(request.body(), nullptr, false);
      if (body.is_discarded()) {
        co_return error_response(request, status::bad_request, "malformed JSON");
      }
      if (!body.is_object() || !body.contains("user_id") || !body["user_id"].is_string()) {
        co_return error_response(request, status::unprocessable_entity,
                                 "body must be {\"user_id\": \"...\"}");
      }
      const auto raw = body["user_id"].get<std::string>();
      if (!valid_user_id(raw, context.limits.max_user_id_length)) {
        co_return invalid_user_id(request, raw);
      }
      co_return co_await heartbeat_handler(context, request, raw);
    }
    case RouteId::timers:
      co_return co_await timers_handler(context, request, user_id);
    case RouteId::queue_metrics:
      co_return co_await queue_metrics_handler(context, request);
    case RouteId::get_users:
      co_return co_await get_users_handler(context, request);
    case RouteId::pause:
      co_return co_await pause_handler(context, request, true);
    case RouteId::resume:
      co_return co_await pause_handler(context, request, false);
    case RouteId::settings_get:
      co_return co_await settings_handler(context, request, false);
    case RouteId::settings_post:
      co_return co_await settings_handler(context, request, true);
    case RouteId::health: {
      const auto health = context.store.health();
      if (health.ok) {
        co_return json_response(request, status::ok,
                                json_text(json{{"status", "ok"}, {"store", health.store}}));
      }
      auto response = json_response(
          request, status::service_unavailable,
          json_text(
              json{{"status", "unavailable"}, {"store", health.store}, {"detail", health.detail}}));
      response.set(beast_http::field::retry_after, "1");
      co_return response;
    }
    case RouteId::metrics:
      co_return co_await prometheus_handler(context, request);
    case RouteId::authz:
      if (context.gateway != nullptr) co_return co_await context.gateway->forward_auth(request);
      break;
    case RouteId::events:
    case RouteId::websocket:
    case RouteId::me:
    case RouteId::page:
    case RouteId::asset:
      break;
  }
  co_return error_response(request, status::not_found, "not found");
}

StreamAdmission admit_stream(const ServerContext& context, const Request& request,
                             const RouteMatch& match) {
  StreamAdmission admission;
  std::string scratch;
  auto decoded = decode_user_id(match.parameter, context.limits.max_user_id_length, scratch);
  if (!decoded) {
    admission.refusal = invalid_user_id(request, match.parameter);
    return admission;
  }
  admission.user_id = std::string(*decoded);
  auto acting = acting_as(context, request, admission.user_id);
  admission.actor = acting.actor;
  admission.refusal = std::move(acting.refusal);
  // Each stream holds a socket, a queue and a store registration: a bounded number per user,
  // like the gate's requests in flight. Checked here, before the stream registers with the
  // Hub without suspending, so that openings racing on other threads can pass the limit by
  // at most one each.
  const auto limit = context.limits.max_streams_per_user;
  if (!admission.refusal && context.hub.streams_of(admission.user_id) >= limit) {
    admission.refusal = error_response(request, status::too_many_requests,
                                       "too many open streams for this user (at most " +
                                           std::to_string(limit) + "); close one first");
    admission.refusal->set(beast_http::field::retry_after, "5");
  }
  return admission;
}

Response refusal_for(const Request& request, const store::Actor& actor) {
  return refusal(request, refusal_of(actor));
}

}  // namespace waitroom::http
