// The listener: binds, accepts, and gives each connection its own strand (unless one thread
// runs everything) and coroutine.
//
// Past max_connections an accepted socket is closed at once: refusing early is cheaper
// than letting a flood of connections eat memory. Accept errors such as running out of
// file descriptors pause the loop briefly instead of spinning.
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/server.hpp"

namespace waitroom::http {

namespace asio = boost::asio;
using asio::ip::tcp;

Server::Server(asio::io_context& io_context, ServerContext& context)
    : io_context_(io_context), context_(context), acceptor_(io_context) {}

tcp::endpoint Server::listen(const std::string& host, std::uint16_t port) {
  tcp::resolver resolver(io_context_);
  const auto results = resolver.resolve(host, std::to_string(port));
  const tcp::endpoint endpoint = *results.begin();
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint();
}

void Server::start() {
  asio::co_spawn(asio::make_strand(io_context_), accept_loop(), asio::detached);
  asio::co_spawn(
      asio::make_strand(io_context_),
      run_position_updates(context_.store, context_.hub, context_.limits.position_update_interval),
      asio::detached);
}

void Server::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> Server::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    asio::any_io_executor executor = context_.one_thread
                                         ? asio::any_io_executor(io_context_.get_executor())
                                         : asio::any_io_executor(asio::make_strand(io_context_));
    tcp::socket socket =
        co_await acceptor_.async_accept(executor, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds{50});
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (context_.connections.load(std::memory_order_relaxed) >= context_.limits.max_connections) {
      socket.close(ec);
      continue;
    }
    context_.connections.fetch_add(1, std::memory_order_relaxed);
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(socket.get_executor(), run_http_session(std::move(socket), context_),
                   [](std::exception_ptr error) {
                     if (!error) return;
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       spdlog::error("connection ended by an exception: {}", e.what());
                     }
                   });
  }
}

}  // namespace waitroom::http
