// GET /queue/events/{id}: the user's notifications as Server-Sent Events.
//
// The response has no length and closes the connection at its end; each notification is
// an `id:` line (the store sequence the message reflects, which keeps increasing across
// restarts of a durable store) and a `data:` line, and a `: keepalive` comment goes
// out after each sse_keepalive_interval of silence so that proxies keep the connection
// and the client notices a dead server. A reader coroutine watches the socket so that a
// client that goes away is noticed at once (presence ends with the stream), not at the
// next keep-alive.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

#include "http/sessions.hpp"
#include "http/stream_session_support.hpp"

namespace waitroom::http {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

constexpr std::string_view kHeaders =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\n"
    "Connection: close\r\n"
    "\r\n";

asio::awaitable<void> watch_for_close(asio::ip::tcp::socket& socket,
                                      std::shared_ptr<StreamChannel> channel,
                                      std::shared_ptr<Completion> done) {
  // Wait for readability before reading, so that the frame holds only a small buffer while
  // the stream sits idle: with 100,000 waiting users every byte of it counts.
  // Non-blocking so that the read after a spurious wake-up answers would_block instead of
  // blocking the thread; it does not change the writer's asynchronous operations.
  char discard[64];
  boost::system::error_code mode_ec;
  socket.non_blocking(true, mode_ec);
  for (;;) {
    boost::system::error_code ec;
    co_await socket.async_wait(asio::ip::tcp::socket::wait_read,
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec || channel->closed()) break;
    socket.read_some(asio::buffer(discard), ec);
    if (ec == asio::error::would_block) continue;
    if (ec || channel->closed()) break;
  }
  channel->close();
  done->set();
}

}  // namespace

asio::awaitable<bool> run_sse_session(beast::tcp_stream& stream, std::string user_id,
                                      store::Actor actor, ServerContext& context,
                                      std::optional<std::uint64_t> last_event_id) {
  const auto strand = co_await asio::this_coro::executor;
  auto channel = std::make_shared<StreamChannel>(strand, context.limits.max_queued_messages,
                                                 [&stream] { stream.socket().close(); });
  HubRegistration registration(context.hub, user_id, channel);
  if (!co_await open_stream(context, user_id, actor, *channel, last_event_id)) co_return false;

  boost::system::error_code ec;
  stream.expires_after(context.limits.keep_alive_timeout);
  co_await asio::async_write(stream, asio::buffer(kHeaders),
                             asio::redirect_error(asio::use_awaitable, ec));
  auto reader_done = std::make_shared<Completion>(strand);
  if (!ec) {
    asio::co_spawn(strand, watch_for_close(stream.socket(), channel, reader_done), asio::detached);
  } else {
    reader_done->set();
  }

  std::string frame;
  while (!ec && !channel->closed()) {
    while (auto entry = channel->pop_entry()) {
      frame.clear();
      frame += "id: ";
      frame += std::to_string(entry->sequence);
      frame += "\ndata: ";
      frame += *entry->message;
      frame += "\n\n";
      stream.expires_after(context.limits.keep_alive_timeout);
      co_await asio::async_write(stream, asio::buffer(frame),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    if (ec || channel->closed()) break;
    if (co_await channel->wait(context.limits.sse_keepalive_interval)) {
      stream.expires_after(context.limits.keep_alive_timeout);
      co_await asio::async_write(stream, asio::buffer(std::string_view(": keepalive\n\n")),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  channel->close();
  stream.socket().close(ec);
  co_await reader_done->wait();
  co_await context.store.stream_closed(user_id);
  co_return true;
}

}  // namespace waitroom::http
