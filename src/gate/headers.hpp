// What the gate changes in the messages it relays, as pure functions of the header
// (unit-tested without sockets).
//
// Hop-by-hop fields (RFC 9110 §7.6.1) describe one connection, not the message, so they
// never cross the proxy: Connection and every field it lists, Keep-Alive, TE, Trailer,
// Transfer-Encoding (each side frames the body for its own connection), Upgrade (except
// in a WebSocket handshake, which the gate relays as such) and every Proxy-* field.
//
// Towards the upstream the gate also says who the request is from:
// - X-Forwarded-For gets the client's address appended (nginx's $proxy_add_x_forwarded_for);
//   X-Forwarded-Proto and X-Forwarded-Host are kept when a front proxy set them (a TLS
//   terminator in front of waitroom), else set to http and the Host;
// - X-Waitroom-User is the admitted user id; a value the client sent is dropped first, so
//   that nobody can pass for someone else with it;
// - the waitroom_ticket cookie is removed (it is waitroom's credential, not the app's);
// - Expect is removed: the gate answers 100-continue itself once the request is admitted;
// - the request goes out as HTTP/1.1, with the upstream's Host when an HTTP/1.0 client
//   sent none.
// The trusted identity header is left as it is: by the trust model (identity.hpp) it
// comes from the front proxy, and the upstream may read the same header.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <string>
#include <string_view>

namespace waitroom::gate {

using Fields = boost::beast::http::fields;
using RequestHeader = boost::beast::http::request_header<>;
using ResponseHeader = boost::beast::http::response_header<>;

inline constexpr std::string_view kUserHeader = "X-Waitroom-User";

bool iequals(std::string_view a, std::string_view b);
// ASCII case-insensitive search.
std::size_t ifind(std::string_view text, std::string_view part, std::size_t from = 0);

// A WebSocket opening handshake (Upgrade: websocket with Connection: upgrade).
bool is_websocket_upgrade(const RequestHeader& header);

// Removes the hop-by-hop fields; `keep_upgrade` keeps a WebSocket handshake's
// Connection: Upgrade and Upgrade fields (normalised).
void strip_hop_by_hop(Fields& fields, bool keep_upgrade);

// The request as it goes to the upstream (header only; the body is relayed as is).
struct ForwardedFor {
  std::string client_address;  // the TCP peer's address
  std::string user_id;         // the admitted user
  // The Host for a request that has none (HTTP/1.0 allows that, the HTTP/1.1 request to
  // the upstream does not): the upstream's host[:port] (upstream_authority).
  std::string upstream_host = {};
};
void prepare_upstream_request(RequestHeader& header, const ForwardedFor& from);

// host[:port] as a Host field names it: the port left out when it is 80, an IPv6 address
// in brackets.
std::string upstream_authority(std::string_view host, std::uint16_t port);

// The Cookie header without waitroom's own cookie; empty when nothing else is left.
std::string without_ticket_cookie(std::string_view cookie_header);

// A browser navigation (a page load, not a script's fetch): GET or HEAD, and
// Sec-Fetch-Mode: navigate or an Accept that lists text/html.
bool is_navigation(const RequestHeader& header);

// Content-Type text/html (any parameters).
bool is_html(std::string_view content_type);

// Inserts `tag` before the last </body> (ASCII case-insensitive), or at the end when there
// is none (browsers still run it).
void inject_before_body_end(std::string& html, std::string_view tag);

}  // namespace waitroom::gate
