// The seam between the HTTP server and the gate (src/gate), so that the server does not
// depend on the proxy: ServerContext::gateway is null without one.
//
// With an upstream (proxies() true), the session reads each request's header only, then
// asks the gateway; a request that is not waitroom's own (outside the reserved prefix)
// is taken by the gateway, which streams its body to the upstream and the answer back,
// or answers it itself (the waiting-room page, 429, 503, 502). The forward-auth route is
// a normal API route whose answer the gateway computes, with or without an upstream.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace waitroom::http {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

struct GatewayOutcome {
  bool taken = false;       // the gateway handled the request (answered it or proxied it)
  bool keep_alive = false;  // when taken: whether the connection may read another request
};

class Gateway {
 public:
  virtual ~Gateway() = default;

  // Whether requests outside the prefix go to an upstream (else the session never calls
  // on_request_header).
  virtual bool proxies() const = 0;

  // Called once the request's header is parsed and before its body is read. Not taken:
  // the session reads the rest and routes the request as usual (waitroom's own routes).
  // Taken: the gateway has consumed the request (the parser is moved from) and written the
  // answer; `buffer` holds whatever the client sent after it.
  virtual boost::asio::awaitable<GatewayOutcome> on_request_header(
      boost::beast::tcp_stream& stream, boost::beast::flat_buffer& buffer,
      RequestParser& parser) = 0;

  // GET {prefix}/authz (any method, for nginx auth_request): 204 with X-Waitroom-User for a
  // connected caller, else 401 with the waiting room's location.
  virtual boost::asio::awaitable<boost::beast::http::response<boost::beast::http::string_body>>
  forward_auth(const boost::beast::http::request<boost::beast::http::string_body>& request) = 0;
};

}  // namespace waitroom::http
