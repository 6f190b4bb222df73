// Synchronous HTTP/1.1 clients for driving a real server from a test.
//
// HttpClient keeps one keep-alive connection (reconnecting when the server closed it) and
// bounds every request by a deadline, so that a hung server fails a test instead of
// hanging it. RawConnection sends arbitrary bytes (garbage, half a request) and watches
// what the server does with them. Beast stays out of this header to keep test files fast
// to compile.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace waitroom::test {

using Json = nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

// `Authorization: Bearer <token>` (a ticket, the API key or the admin token).
Headers bearer(std::string_view token);
// `Cookie: waitroom_ticket=<ticket>`.
Headers ticket_cookie(std::string_view ticket);

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;

  // The first header with this name (case-insensitive), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  std::vector<std::string> header_values(std::string_view name) const;
  // The body as JSON; a discarded value (is_discarded()) when it is not JSON.
  Json json() const;
  // Short text for assertion messages: "422 {\"detail\":...}".
  std::string describe() const;
};

class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, std::string host = "127.0.0.1");
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  // Throws std::runtime_error on a transport failure or when `timeout` passes.
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       const Headers& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});
  HttpResponse get(std::string_view target, const Headers& headers = {});
  HttpResponse post(std::string_view target, std::string_view body = {},
                    const Headers& headers = {});

  // The seed's routes. `auth` is bearer(...), ticket_cookie(...) or nothing.
  HttpResponse join(std::string_view user_id, const Headers& auth = {});
  HttpResponse confirm(std::string_view user_id, const Headers& auth = {});
  HttpResponse leave(std::string_view user_id, const Headers& auth = {});
  HttpResponse status(std::string_view user_id);
  HttpResponse heartbeat(std::string_view user_id, const Headers& auth = {});
  HttpResponse timers(std::string_view user_id);
  HttpResponse metrics();
  HttpResponse health();

  // Drops the connection (the next request opens a new one).
  void disconnect();
  // Number of TCP connections opened so far (keep-alive checks).
  int connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A bare TCP connection for requests no well-behaved client would send.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port, std::string host = "127.0.0.1");
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // False when the server had already closed the connection (EPIPE / reset).
  bool send(std::string_view bytes);
  // Reads until the server closes the connection or `timeout` passes; everything read
  // (across calls) is in received().
  enum class ReadOutcome { closed, timed_out };
  ReadOutcome read_until_closed(std::chrono::milliseconds timeout);
  const std::string& received() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a path segment (everything but unreserved characters).
std::string url_encode(std::string_view text);

}  // namespace waitroom::test
