// The waiting room's own browser-facing routes, under the prefix:
//   GET {prefix}/               the waiting-room page (HTML, in the caller's language)
//   GET {prefix}/assets/{name}  the page's script and styles, overlay.js, theme.css
//   GET {prefix}/queue/me       who the caller is and where they stand (JSON)
// All three answer anyone: the page and its files are public, and "me" tells a caller only
// about the place their own ticket cookie names.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>

#include "http/router.hpp"
#include "http/server.hpp"

namespace waitroom::http {

bool is_web_route(RouteId route);

// Answers the routes above; may throw on internal errors only, like handle_api.
boost::asio::awaitable<Response> handle_web(ServerContext& context, const Request& request,
                                            const RouteMatch& match);

// The waiting-room page as a complete response (headers included: no caching, the CSP, Vary),
// for any URL: the gate answers a browser without a slot with it. Takes the request's header
// only, since the gate decides before a body is read.
Response waiting_room_response(const ServerContext& context,
                               const boost::beast::http::request_header<>& request);

}  // namespace waitroom::http
