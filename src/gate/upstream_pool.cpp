// The upstream connection pool; see upstream_pool.hpp.
#include "gate/upstream_pool.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace waitroom::gate {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

namespace {

// Whether an idle connection is still usable: nothing to read and not closed by the peer.
bool still_open(beast::tcp_stream& stream) {
  auto& socket = stream.socket();
  if (!socket.is_open()) return false;
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

UpstreamPool::UpstreamPool(const Clock& clock, PoolOptions options)
    : clock_(clock), options_(std::move(options)) {}

asio::awaitable<UpstreamPool::Lease> UpstreamPool::acquire(bool allow_reuse) {
  Lease lease;
  if (allow_reuse) {
    std::unique_lock lock(mutex_);
    const auto now = clock_.now();
    while (!idle_.empty()) {
      Idle entry = std::move(idle_.back());
      idle_.pop_back();
      if (now - entry.since < options_.idle_timeout && still_open(*entry.stream)) {
        lease.stream = std::move(entry.stream);
        lease.reused = true;
        co_return lease;
      }
      boost::system::error_code ignored;
      entry.stream->socket().close(ignored);
    }
  }
  // A new connection lives on the caller's strand; a reused one may come from another
  // strand, which is fine: it carries no pending operation and no timer between uses.
  const auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto& ec = lease.error;
  const auto endpoints = co_await resolver.async_resolve(
      options_.host, std::to_string(options_.port), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return lease;
  beast::tcp_stream stream(executor);
  stream.expires_after(options_.connect_timeout);
  co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return lease;
  stream.expires_never();
  stream.socket().set_option(tcp::no_delay(true), ec);
  stream.socket().set_option(asio::socket_base::keep_alive(true), ec);
  ec = {};
  lease.stream = std::make_unique<beast::tcp_stream>(std::move(stream));
  co_return lease;
}

void UpstreamPool::release(std::unique_ptr<beast::tcp_stream> stream) {
  stream->expires_never();
  std::lock_guard lock(mutex_);
  if (idle_.size() >= options_.max_idle) {
    // The oldest goes: the newest is the least likely to be closed by the upstream.
    boost::system::error_code ignored;
    idle_.front().stream->socket().close(ignored);
    idle_.erase(idle_.begin());
  }
  idle_.push_back({std::move(stream), clock_.now()});
}

}  // namespace waitroom::gate
