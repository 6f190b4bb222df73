// The hand-offs from an HTTP connection to a notification stream. Each takes over the
// connection's socket after the request that asked for it, and returns when the stream
// ends (the connection is then closed).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "http/server.hpp"

namespace waitroom::http {

// GET /queue/events/{id}: Server-Sent Events (sse_session.cpp). `last_event_id`: the
// client's Last-Event-ID header, when it sent a valid one.
// False when the store refused `actor`, before anything was written: the caller answers
// refusal_for and the connection goes on.
boost::asio::awaitable<bool> run_sse_session(boost::beast::tcp_stream& stream, std::string user_id,
                                             store::Actor actor, ServerContext& context,
                                             std::optional<std::uint64_t> last_event_id = {});

// GET /ws/{id} with an upgrade: a WebSocket (websocket_session.cpp).
// The stream is opened in the store before the upgrade is accepted; false when the store
// refused `actor`: nothing was written and `stream` is still the caller's, to answer
// refusal_for. Otherwise `stream` has been moved into the WebSocket.
boost::asio::awaitable<bool> run_websocket_session(boost::beast::tcp_stream& stream,
                                                   const Request& request, std::string user_id,
                                                   store::Actor actor, ServerContext& context);

}  // namespace waitroom::http
