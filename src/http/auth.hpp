// Who may act on a user's place (docs/API-CONTRACT.md, "Identity").
//
// A caller presents up to two credentials: the `waitroom_ticket` cookie and an
// `Authorization: Bearer` token, which may be a ticket, the backend API key or the admin
// token. The decision is pure (no I/O) so that it is unit-tested: allow when any
// credential authorises the action; 403 when some credential is valid but for another
// user, an older generation of this id, or is the admin token (which never acts as a
// user); 401 when nothing valid was presented. Secrets are compared in constant time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/ticket.hpp"

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

// May this caller act as `user_id`, whose current record has `generation` (nullopt when
// the id is unknown: any valid ticket for the id is then accepted)?
AuthDecision authorize_user(const AuthPolicy& policy, const Credentials& credentials,
                            std::string_view user_id, std::optional<std::uint64_t> generation);

// Admin routes: the admin token only; an empty configured token refuses everyone.
AuthDecision authorize_admin(const AuthPolicy& policy, const Credentials& credentials);

// The Set-Cookie value carrying a ticket.
std::string ticket_cookie(std::string_view ticket, bool secure);

}  // namespace waitroom::http
