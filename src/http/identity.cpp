// The request → user id resolution; see identity.hpp.
#include "http/identity.hpp"

#include <boost/beast/http/field.hpp>

#include "http/auth.hpp"
#include "http/server.hpp"
#include "http/user_id.hpp"

namespace waitroom::http {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The trusted header's value when configured and present (possibly invalid).
std::optional<std::string_view> trusted_value(const ServerContext& context,
                                              const boost::beast::http::fields& headers) {
  if (context.trusted_user_header.empty()) return std::nullopt;
  const auto it = headers.find(context.trusted_user_header);
  if (it == headers.end()) return std::nullopt;
  return trim(it->value());
}

}  // namespace

std::optional<Identity> identify(const ServerContext& context,
                                 const boost::beast::http::fields& headers, std::string* error) {
  if (const auto value = trusted_value(context, headers)) {
    // Two values would let the gate and the upstream each read a different person.
    if (headers.count(context.trusted_user_header) > 1) {
      if (error != nullptr) *error = "more than one " + context.trusted_user_header + " header";
      return std::nullopt;
    }
    if (!valid_user_id(*value, context.limits.max_user_id_length)) {
      if (error != nullptr) {
        *error = "invalid user id in " + context.trusted_user_header + " (1 to " +
                 std::to_string(context.limits.max_user_id_length) +
                 " characters of A-Z a-z 0-9 . _ - @ + ~)";
      }
      return std::nullopt;
    }
    Identity identity{std::string(*value), store::Actor::anyone(), true};
    identity.actor.has_credentials = true;
    return identity;
  }
  if (context.auth.signer == nullptr) return std::nullopt;  // open mode issues no tickets
  const auto ticket = find_cookie(headers[boost::beast::http::field::cookie], "waitroom_ticket");
  if (ticket.empty()) return std::nullopt;
  auto claims = context.auth.signer->verify(ticket);
  if (!claims) return std::nullopt;
  Identity identity{std::move(claims->user_id), store::Actor{}, false};
  identity.actor.generations[1] = claims->generation;
  identity.actor.has_credentials = true;
  return identity;
}

}  // namespace waitroom::http
