// The server: what every connection shares, and the listener that accepts them.
//
// Threads and strands: the io_context runs on `threads` threads. Each accepted socket
// gets its own strand, and its whole life (HTTP requests, then possibly an SSE or
// WebSocket stream) is one coroutine on that strand, so a connection's state needs no
// lock. Shared state is the store (its own mutex), the Hub (its own mutex) and the
// connection count (atomic). Engine events flow store → Hub → post to each stream's
// strand → that stream's writer.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>

#include "cli/config.hpp"
#include "http/auth.hpp"
#include "http/gateway.hpp"
#include "http/hub.hpp"
#include "http/router.hpp"
#include "http/server_metrics.hpp"
#include "store/store.hpp"
#include "web/pages.hpp"

namespace waitroom::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

struct ServerContext {
  cli::Limits limits;
  cli::CookieSecure cookie_secure = cli::CookieSecure::automatic;
  AuthPolicy auth;
  store::Store& store;
  Hub& hub;
  ServerMetrics& metrics;
  web::PageOptions page{};  // the waiting-room page's settings and prefix
  Router router = Router::api_routes();
  std::atomic<std::size_t> connections{0};
  // One thread runs the io_context: a connection needs no strand of its own. (A strand inside
  // an any_io_executor is allocated anew with every copy of it, about 14 times per request.)
  bool one_thread = false;
  // The gate (issue 3): null without one; see gateway.hpp and identity.hpp.
  Gateway* gateway = nullptr;
  std::string trusted_user_header;  // empty: identity from the ticket cookie only
};

class Server {
 public:
  Server(boost::asio::io_context& io_context, ServerContext& context);
  // Binds and listens; throws boost::system::system_error when the address is unusable.
  boost::asio::ip::tcp::endpoint listen(const std::string& host, std::uint16_t port);
  // Starts the accept loop and the position updates.
  void start();
  void stop();

 private:
  boost::asio::awaitable<void> accept_loop();

  boost::asio::io_context& io_context_;
  ServerContext& context_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

// One connection from its first byte to its close (http_session.cpp).
boost::asio::awaitable<void> run_http_session(boost::asio::ip::tcp::socket socket,
                                              ServerContext& context);

}  // namespace waitroom::http
