// `Expect: 100-continue` (RFC 9110 §10.1.1): the client holds its body back until it hears
// "100 Continue" (or gives up waiting). Both readers of a body send it, once the request
// has passed their checks: the session for waitroom's own routes, the gate for a request
// it proxies (it removes Expect before the upstream sees it).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <string_view>

#include "http/gateway.hpp"

namespace waitroom::http {

// Whether the request waits for 100 Continue: an HTTP/1.1 request (an HTTP/1.0 one's
// expectation is ignored) whose header is parsed and whose body has not all come.
inline bool expects_continue(const RequestParser& parser) {
  if (!parser.is_header_done() || parser.is_done()) return false;
  const auto& header = parser.get();
  return header.version() == 11 &&
         boost::beast::iequals(header[boost::beast::http::field::expect], "100-continue");
}

// Within whatever deadline `stream` has.
inline boost::asio::awaitable<void> write_continue(boost::beast::tcp_stream& stream,
                                                   boost::system::error_code& ec) {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  co_await boost::asio::async_write(stream, boost::asio::buffer(kContinue),
                                    boost::asio::redirect_error(boost::asio::use_awaitable, ec));
}

}  // namespace waitroom::http
