// GET /ws/{id} upgraded: the user's notifications as WebSocket text frames.
//
// Beast answers pings and close frames while a read is pending, so a reader coroutine
// keeps one read posted for the whole session (client messages are ignored; a close or
// an error ends the session). Beast's suggested server timeouts ping an idle peer and
// drop it when it stops answering. The writer is the same bounded-queue loop as SSE.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "http/sessions.hpp"
#include "http/stream_session_support.hpp"

namespace waitroom::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using WebSocket = websocket::stream<beast::tcp_stream>;

namespace {

asio::awaitable<void> read_until_close(WebSocket& ws, std::shared_ptr<StreamChannel> channel,
                                       std::shared_ptr<Completion> done) {
  beast::flat_buffer buffer;
  for (;;) {
    boost::system::error_code ec;
    co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || channel->closed()) break;
    buffer.clear();
  }
  channel->close();
  done->set();
}

}  // namespace

asio::awaitable<bool> run_websocket_session(beast::tcp_stream& stream, const Request& request,
                                            std::string user_id, store::Actor actor,
                                            ServerContext& context) {
  const auto strand = co_await asio::this_coro::executor;
  // The store decides before the upgrade whether this caller may watch the user, so that a
  // refusal is still a plain 401/403. Until the upgrade the socket is `stream`'s, then the
  // WebSocket's; an overflow (run on this strand) closes whichever holds it.
  beast::tcp_stream* transport = &stream;
  auto channel = std::make_shared<StreamChannel>(strand, context.limits.max_queued_messages,
                                                 [&transport] { transport->socket().close(); });
  HubRegistration registration(context.hub, user_id, channel);
  if (!co_await open_stream(context, user_id, actor, *channel)) co_return false;

  stream.expires_never();  // the websocket stream keeps its own timeouts
  WebSocket ws(std::move(stream));
  transport = &ws.next_layer();
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws.read_message_max(4096);
  boost::system::error_code ec;
  co_await ws.async_accept(request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    co_await context.store.stream_closed(user_id);
    co_return true;
  }

  auto reader_done = std::make_shared<Completion>(strand);
  asio::co_spawn(strand, read_until_close(ws, channel, reader_done), asio::detached);

  ws.text(true);
  while (!channel->closed()) {
    while (auto message = channel->pop()) {
      co_await ws.async_write(asio::buffer(**message),
                              asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    if (ec || channel->closed()) break;
    // Nothing to send on a quiet WebSocket: Beast's idle pings keep it alive.
    co_await channel->wait(context.limits.sse_keepalive_interval);
  }
  channel->close();
  if (!ec && ws.is_open()) {
    co_await ws.async_close(websocket::close_code::normal,
                            asio::redirect_error(asio::use_awaitable, ec));
  }
  beast::get_lowest_layer(ws).socket().close(ec);
  co_await reader_done->wait();
  co_await context.store.stream_closed(user_id);
  co_return true;
}

}  // namespace waitroom::http
