// The caller's identity from its credentials; see identity.hpp.
#include "http/identity.hpp"

#include <boost/beast/http/field.hpp>

#include "http/auth.hpp"
#include "http/user_id.hpp"

namespace waitroom::http {

std::optional<CallerIdentity> identify_caller(const ServerContext& context,
                                              const Request& request) {
  const auto* signer = context.auth.signer;
  if (signer == nullptr) return std::nullopt;  // open mode issues no tickets
  const auto credentials = parse_credentials(request[boost::beast::http::field::cookie],
                                             request[boost::beast::http::field::authorization]);
  // A bearer token that is a ticket wins over the cookie, as it does for the user routes.
  for (const std::string_view ticket : {credentials.bearer, credentials.cookie_ticket}) {
    if (ticket.empty()) continue;
    auto claims = signer->verify(ticket);
    if (!claims || !valid_user_id(claims->user_id, context.limits.max_user_id_length)) continue;
    return CallerIdentity{std::move(claims->user_id), claims->generation};
  }
  return std::nullopt;
}

}  // namespace waitroom::http
