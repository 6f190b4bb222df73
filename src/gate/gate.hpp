// The gate: waitroom as a reverse proxy in front of the chat app (DESIGN.md §4).
//
// For every request outside the reserved prefix, once its header is read (gateway.hpp):
// 1. who is it (http::identify: the trusted header, else the ticket cookie);
// 2. the admission decision: a connected user is proxied; anyone else gets the waiting-
//    room page (a browser navigation: 200, Cache-Control: no-store) or a JSON 429 with
//    Retry-After (503 while admissions are paused). Proxied requests count as activity
//    for the idle timeout: at most one store heartbeat per user per activity_interval,
//    the other requests only look the user up;
// 3. the relay, in the shape of Beast's relay example: the request header rewritten
//    (headers.hpp) and sent on a pooled keep-alive connection, the body streamed through a
//    fixed buffer (buffer_body) in both directions, each piece written as soon as it is
//    read, so an SSE token or a chunk reaches the browser at once; a WebSocket handshake
//    answered 101 becomes a raw byte tunnel both ways. The upstream's text/html answers
//    get the overlay script injected before </body>, Content-Length adjusted.
//
// Timeouts: connecting to the upstream is bounded (a dead upstream is a quick 502); then
// nothing on the upstream side is timed, since a model may think for minutes before its
// first token, a stream may last many minutes and a quiet WebSocket carries only pings.
// Writes to the client and reads of a request body are bounded by the keep-alive timeout
// per operation (a client that stops reading is dropped). What ends long traffic is the
// session: when it ends, the TrafficRegistry closes the user's exchanges within a
// notification's delivery (traffic.hpp). WebSocket frames do not count as activity (an
// open tab's socket.io answers pings forever); HTTP requests and the overlay's heartbeats
// do.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "gate/headers.hpp"
#include "gate/traffic.hpp"
#include "gate/upstream_pool.hpp"
#include "http/gateway.hpp"
#include "http/identity.hpp"
#include "http/server.hpp"

namespace waitroom::gate {

struct GateOptions {
  std::string prefix;    // where waitroom's own routes live ("" only without an upstream)
  PoolOptions upstream;  // host empty: no upstream (forward-auth only)
  Duration activity_interval = std::chrono::seconds{1};
  std::size_t max_injected_html_bytes = 2 * 1024 * 1024;
  std::uint32_t max_response_header_bytes = 64 * 1024;
  std::size_t relay_buffer_bytes = 64 * 1024;
  // Requests and tunnels in flight per user at most (a browser opens about six connections
  // per host, plus its WebSockets): each holds a relay buffer and an upstream connection.
  std::size_t max_exchanges_per_user = 32;
};

class Gate final : public http::Gateway {
 public:
  Gate(http::ServerContext& context, const Clock& clock, GateOptions options);

  bool proxies() const override { return pool_.has_value(); }
  boost::asio::awaitable<http::GatewayOutcome> on_request_header(
      boost::beast::tcp_stream& stream, boost::beast::flat_buffer& buffer,
      http::RequestParser& parser) override;
  boost::asio::awaitable<http::Response> forward_auth(const http::Request& request) override;

  // The overlay tag injected into the upstream's pages.
  const std::string& overlay_tag() const { return overlay_tag_; }

 private:
  struct Admission {
    bool connected = false;
    bool paused = false;
    std::optional<Duration> estimated_wait;  // while waiting
  };
  boost::asio::awaitable<Admission> admit(const std::optional<http::Identity>& identity);
  bool activity_due(const std::string& user_id);
  http::Response refusal(const RequestHeader& header, const Admission& admission,
                         bool navigation) const;

  struct Exchange;
  struct ClientWatch;
  boost::asio::awaitable<bool> proxy(Exchange& exchange);
  boost::asio::awaitable<void> watch_client(Exchange& exchange, std::shared_ptr<ClientWatch> watch);
  boost::asio::awaitable<void> stop_client_watch(Exchange& exchange);
  boost::asio::awaitable<bool> relay_response(Exchange& exchange);
  boost::asio::awaitable<void> tunnel(Exchange& exchange);

  http::ServerContext& context_;
  const Clock& clock_;
  GateOptions options_;
  std::string overlay_tag_;
  std::string upstream_host_;  // the Host of a request that came without one
  std::optional<UpstreamPool> pool_;
  TrafficRegistry traffic_;
  std::mutex activity_mutex_;
  std::unordered_map<std::string, TimePoint> last_activity_;
};

}  // namespace waitroom::gate
