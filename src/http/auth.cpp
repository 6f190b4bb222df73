// Credential parsing, the Actor a request acts as, and the 401/403 of a refusal; see auth.hpp.
#include "http/auth.hpp"

namespace waitroom::http {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string_view find_cookie(std::string_view cookie_header, std::string_view name) {
  while (!cookie_header.empty()) {
    const auto end = cookie_header.find(';');
    auto pair = trim(cookie_header.substr(0, end));
    cookie_header =
        end == std::string_view::npos ? std::string_view{} : cookie_header.substr(end + 1);
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos) continue;
    if (trim(pair.substr(0, equals)) != name) continue;
    auto value = trim(pair.substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return {};
}

Credentials parse_credentials(std::string_view cookie_header, std::string_view authorization) {
  Credentials credentials;
  credentials.cookie_ticket = find_cookie(cookie_header, "waitroom_ticket");
  authorization = trim(authorization);
  if (authorization.size() > 7 && iequals(authorization.substr(0, 7), "bearer ")) {
    credentials.bearer = trim(authorization.substr(7));
  }
  return credentials;
}

store::Actor actor_for(const AuthPolicy& policy, const Credentials& credentials,
                       std::string_view user_id) {
  store::Actor actor;
  if (policy.open) {
    actor.any_generation = true;
    return actor;
  }
  // A ticket that verifies is a valid credential even when it names another user.
  auto consider_ticket = [&](std::string_view ticket, std::size_t slot) {
    if (ticket.empty() || policy.signer == nullptr) return;
    auto claims = policy.signer->verify(ticket);
    if (!claims) return;
    actor.has_credentials = true;
    if (claims->user_id == user_id) actor.generations[slot] = claims->generation;
  };
  if (!credentials.bearer.empty()) {
    if (is_api_key(policy, credentials)) {
      actor.any_generation = true;
      actor.has_credentials = true;
      return actor;
    }
    if (!policy.admin_token.empty() &&
        auth::constant_time_equals(credentials.bearer, policy.admin_token)) {
      actor.has_credentials = true;
    } else {
      consider_ticket(credentials.bearer, 0);
    }
  }
  consider_ticket(credentials.cookie_ticket, 1);
  return actor;
}

bool is_api_key(const AuthPolicy& policy, const Credentials& credentials) {
  return !policy.api_key.empty() && !credentials.bearer.empty() &&
         auth::constant_time_equals(credentials.bearer, policy.api_key);
}

AuthDecision refusal_of(const store::Actor& actor) {
  return actor.has_credentials ? AuthDecision::forbidden : AuthDecision::unauthorized;
}

AuthDecision authorize_admin(const AuthPolicy& policy, const Credentials& credentials) {
  if (credentials.bearer.empty()) return AuthDecision::unauthorized;
  if (policy.admin_token.empty()) return AuthDecision::forbidden;
  return auth::constant_time_equals(credentials.bearer, policy.admin_token)
             ? AuthDecision::allow
             : AuthDecision::forbidden;
}

std::string ticket_cookie(std::string_view ticket, bool secure) {
  std::string cookie = "waitroom_ticket=";
  cookie += ticket;
  cookie += "; Path=/; HttpOnly; SameSite=Lax";
  if (secure) cookie += "; Secure";
  return cookie;
}

}  // namespace waitroom::http
