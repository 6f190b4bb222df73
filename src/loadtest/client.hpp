// The load tester's two kinds of connection to the server, as coroutines.
//
// RequestConnection is one keep-alive HTTP/1.1 connection for a user's requests (join,
// confirm, heartbeat, leave); EventStream is one SSE stream, read as raw bytes and split
// into `data:` payloads. Both are bounded: every operation has a deadline (the run's cap
// at the latest), an answer body is at most 64 KiB, an event at most 16 KiB. A connection
// may be bound to a local source address before it connects, so that a large run spreads
// its ephemeral ports over several 127.0.0.x addresses.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace waitroom::loadtest {

namespace asio = boost::asio;
namespace beast = boost::beast;
using SteadyTime = std::chrono::steady_clock::time_point;

// Where requests go: the resolved address, the Host header and the path prefix.
struct Target {
  asio::ip::tcp::endpoint endpoint;
  std::string host_header;
  std::string prefix;
};

// Parses "http://host[:port][/prefix]" and resolves the host (blocking, once, at start).
// Throws std::runtime_error for another scheme or an unknown host.
Target resolve_target(asio::io_context& io_context, const std::string& url,
                      const std::string& prefix);

struct Response {
  int status = 0;  // 0: transport failure, see `error`
  std::string body;
  std::string error;  // short kind for the error table, e.g. "connect: Connection refused"
};

// Opens `socket` (bound to `source` when given) and connects it, by `deadline`.
asio::awaitable<boost::system::error_code> connect_to(
    beast::tcp_stream& stream, const Target& target, const std::optional<asio::ip::address>& source,
    SteadyTime deadline);

class RequestConnection {
 public:
  RequestConnection(asio::any_io_executor executor, const Target& target,
                    std::optional<asio::ip::address> source = std::nullopt);
  // POST or GET `path` (the prefix is added) with `Authorization: Bearer <bearer>` when
  // `bearer` is not empty. A request on a reused connection that the server had closed
  // is sent once more on a fresh one.
  asio::awaitable<Response> request(beast::http::verb method, std::string path,
                                    std::string_view bearer, SteadyTime deadline);
  void close();

 private:
  asio::awaitable<Response> attempt(beast::http::verb method, const std::string& path,
                                    std::string_view bearer, SteadyTime deadline);

  const Target& target_;
  std::optional<asio::ip::address> source_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

class EventStream {
 public:
  EventStream(asio::any_io_executor executor, const Target& target,
              std::optional<asio::ip::address> source = std::nullopt);
  // Connects and sends GET {prefix}/queue/events/{user_id}; reads up to the end of the
  // response headers. Returns an error kind ("" on success, "http 401", "connect: ...").
  asio::awaitable<std::string> open(const std::string& user_id, std::string_view bearer,
                                    SteadyTime deadline);
  // The next `data:` payload, or nullopt when the stream ended, failed or the deadline
  // passed (`ended_by` says which: "eof", "deadline", an error message).
  asio::awaitable<std::optional<std::string>> next(SteadyTime deadline);
  void close();
  const std::string& ended_by() const { return ended_by_; }

 private:
  std::optional<std::string> take_event();

  const Target& target_;
  std::optional<asio::ip::address> source_;
  beast::tcp_stream stream_;
  std::string pending_;
  std::string ended_by_;
};

}  // namespace waitroom::loadtest
