// Who may act on a user's place (docs/API-CONTRACT.md, "Identity").
//
// A caller presents up to two credentials: the `waitroom_ticket` cookie and an
// `Authorization: Bearer` token, which may be a ticket, the backend API key or the admin
// token. This file turns them into a store::Actor (pure, no I/O, unit-tested): the API key
// and open mode act on any generation, each valid ticket naming the user id on its own
// generation, and the admin token never acts as a user. The store then decides, in the same
// atomic step as the act, whether the actor may act on the record (store.hpp); a refusal is
// 403 when some credential was valid (another user's ticket, an older generation of this id,
// the admin token) and 401 when nothing valid was presented. Secrets are compared in
// constant time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/ticket.hpp"
#include "store/store.hpp"

namespace waitroom::http {

enum class AuthDecision : std::uint8_t { allow, unauthorized, forbidden };

struct AuthPolicy {
  bool open = false;  // --auth-mode open: no user credentials are checked
  std::string api_key;
  std::string admin_token;
  const auth::TicketSigner* signer = nullptr;  // required unless open
};

struct Credentials {
  std::string_view cookie_ticket;  // empty when absent
  std::string_view bearer;         // empty when absent
};

// Extracts the credentials from the Cookie and Authorization header values.
Credentials parse_credentials(std::string_view cookie_header, std::string_view authorization);

// The value of cookie `name` in a Cookie header; empty when absent.
std::string_view find_cookie(std::string_view cookie_header, std::string_view name);

// Who this caller is when acting as `user_id`.
store::Actor actor_for(const AuthPolicy& policy, const Credentials& credentials,
                       std::string_view user_id);

// Whether the bearer token is the backend API key (which acts for any user).
bool is_api_key(const AuthPolicy& policy, const Credentials& credentials);

// How to refuse an actor whom the store refused: forbidden or unauthorized.
AuthDecision refusal_of(const store::Actor& actor);

// Admin routes: the admin token only; an empty configured token refuses everyone.
AuthDecision authorize_admin(const AuthPolicy& policy, const Credentials& credentials);

// The Set-Cookie value carrying a ticket.
std::string ticket_cookie(std::string_view ticket, bool secure);

}  // namespace waitroom::http
