// Who a request comes from, without a user id in its path: the gate's admission, the
// forward-auth route and the waiting-room page's "who am I" all ask this one function.
//
// Two sources, in this order:
// - the trusted identity header (`--trusted-user-header NAME`), when configured and
//   present: its value, a valid user id (user_id.hpp), IS the identity and acts on every
//   generation of that id, as the backend API key does. Trust model: a front proxy that
//   authenticates people (oauth2-proxy, Authelia, the upstream's own SSO) sets the header
//   and waitroom is reachable only through that proxy, so no client can send it itself;
//   the gate then passes it on to the upstream untouched (Open WebUI's
//   WEBUI_AUTH_TRUSTED_EMAIL_HEADER reads the same header), so one account has one place
//   in the queue however many browsers it opens.
// - else the `waitroom_ticket` cookie, verified by the TicketSigner: the id it names, on
//   the generation it names.
// A bearer token is never an identity here: behind the gate, Authorization belongs to the
// upstream (Open WebUI's API keys travel in it).
#pragma once

#include <boost/beast/http/fields.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace waitroom::http {

struct ServerContext;

struct Identity {
  std::string user_id;
  store::Actor actor;
  bool from_trusted_header = false;
};

// nullopt when the request carries no usable identity; `error` (when given) is then set
// if the trusted header is present but its value is not a valid user id (the caller
// answers 400 rather than treating the request as anonymous).
std::optional<Identity> identify(const ServerContext& context,
                                 const boost::beast::http::fields& headers,
                                 std::string* error = nullptr);

}  // namespace waitroom::http
