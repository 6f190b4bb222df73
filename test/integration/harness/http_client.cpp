#include "harness/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "harness/io_deadline.hpp"

namespace waitroom::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

void connect_with_deadline(asio::io_context& io, tcp::socket& socket, const std::string& host,
                           std::uint16_t port, Clock::time_point deadline) {
  const tcp::endpoint endpoint(asio::ip::make_address(host), port);
  const auto result = detail::run_with_deadline(io, socket, deadline, [&](auto handler) {
    socket.async_connect(endpoint,
                         [handler](boost::system::error_code error) mutable { handler(error, 0); });
  });
  if (result.timed_out)
    throw std::runtime_error("connect to port " + std::to_string(port) + " timed out");
  if (result.error) {
    throw std::runtime_error("connect to port " + std::to_string(port) + ": " +
                             result.error.message());
  }
  socket.set_option(tcp::no_delay(true));
}

}  // namespace

Headers bearer(std::string_view token) {
  return {{"Authorization", "Bearer " + std::string(token)}};
}

Headers ticket_cookie(std::string_view ticket) {
  return {{"Cookie", "waitroom_ticket=" + std::string(ticket)}};
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

std::vector<std::string> HttpResponse::header_values(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) values.push_back(value);
  }
  return values;
}

Json HttpResponse::json() const {
  return Json::parse(body, nullptr, false);
}

std::string HttpResponse::describe() const {
  std::string text = std::to_string(status) + " " + body.substr(0, 500);
  if (body.size() > 500) text += "...";
  return text;
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  return out;
}

struct HttpClient::Impl {
  std::string host;
  std::uint16_t port;
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  bool connected = false;
  int connections_opened = 0;

  void close() {
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    socket = tcp::socket(io);
    buffer.clear();
    connected = false;
  }

  // One attempt; `reused` tells whether the connection served an earlier request (a
  // failure before any answer byte is then a stale keep-alive connection, retried).
  std::optional<HttpResponse> attempt(const http::request<http::string_body>& request,
                                      Clock::time_point deadline, bool& retryable) {
    const bool reused = connected;
    retryable = false;
    if (!connected) {
      connect_with_deadline(io, socket, host, port, deadline);
      connected = true;
      ++connections_opened;
    }
    auto written = detail::run_with_deadline(
        io, socket, deadline, [&](auto handler) { http::async_write(socket, request, handler); });
    if (written.timed_out) {
      close();
      throw std::runtime_error("timed out writing " + std::string(request.target()));
    }
    if (written.error && reused) {
      close();
      retryable = true;
      return std::nullopt;
    }
    // On a fresh connection a failed write may be the server refusing the request early
    // (431, 413) and closing: like curl, still read the answer it may have sent.
    const boost::system::error_code write_error = written.error;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    parser.header_limit(64u << 10);
    // An answer to HEAD has a Content-Length but no body.
    parser.skip(request.method() == http::verb::head);
    auto read = detail::run_with_deadline(io, socket, deadline, [&](auto handler) {
      http::async_read(socket, buffer, parser, handler);
    });
    if (read.timed_out) {
      close();
      throw std::runtime_error("timed out waiting for the answer to " +
                               std::string(request.method_string()) + " " +
                               std::string(request.target()));
    }
    if (read.error) {
      const bool nothing_read = !parser.got_some();
      close();
      if (reused && nothing_read) {
        retryable = true;
        return std::nullopt;
      }
      throw std::runtime_error((write_error
                                    ? "write " + std::string(request.target()) + ": " +
                                          write_error.message() + ", then read: "
                                    : "read answer to " + std::string(request.target()) + ": ") +
                               read.error.message());
    }
    auto message = parser.release();
    HttpResponse response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    response.body = std::move(message.body());
    if (!message.keep_alive() || write_error) close();
    return response;
  }
};

HttpClient::HttpClient(std::uint16_t port, std::string host) : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

HttpResponse HttpClient::request(std::string_view method, std::string_view target,
                                 std::string_view body, const Headers& headers,
                                 std::chrono::milliseconds timeout) {
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, impl_->host + ":" + std::to_string(impl_->port));
  request.set(http::field::user_agent, "waitroom-integration-test");
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    request.insert(name, value);
    has_content_type = has_content_type || iequals(name, "Content-Type");
  }
  if (!body.empty() && !has_content_type)
    request.set(http::field::content_type, "application/json");
  request.body() = std::string(body);
  if (!body.empty() || method == "POST" || method == "PUT") request.prepare_payload();

  const auto deadline = Clock::now() + timeout;
  bool retryable = false;
  if (auto response = impl_->attempt(request, deadline, retryable)) return *response;
  if (retryable) {
    if (auto response = impl_->attempt(request, deadline, retryable)) return *response;
  }
  throw std::runtime_error("request " + std::string(target) + " failed on a fresh connection");
}

HttpResponse HttpClient::get(std::string_view target, const Headers& headers) {
  return request("GET", target, {}, headers);
}

HttpResponse HttpClient::post(std::string_view target, std::string_view body,
                              const Headers& headers) {
  return request("POST", target, body, headers);
}

HttpResponse HttpClient::join(std::string_view user_id, const Headers& auth) {
  return post("/queue/join/" + url_encode(user_id), {}, auth);
}

HttpResponse HttpClient::confirm(std::string_view user_id, const Headers& auth) {
  return post("/queue/confirm/" + url_encode(user_id), {}, auth);
}

HttpResponse HttpClient::leave(std::string_view user_id, const Headers& auth) {
  return post("/queue/leave/" + url_encode(user_id), {}, auth);
}

HttpResponse HttpClient::status(std::string_view user_id) {
  return get("/queue/status/" + url_encode(user_id));
}

HttpResponse HttpClient::heartbeat(std::string_view user_id, const Headers& auth) {
  return post("/queue/heartbeat/" + url_encode(user_id), {}, auth);
}

HttpResponse HttpClient::timers(std::string_view user_id) {
  return get("/queue/timers/" + url_encode(user_id));
}

HttpResponse HttpClient::metrics() {
  return get("/queue/metrics");
}

HttpResponse HttpClient::health() {
  return get("/health");
}

void HttpClient::disconnect() {
  impl_->close();
}

int HttpClient::connections_opened() const {
  return impl_->connections_opened;
}

struct RawConnection::Impl {
  asio::io_context io;
  tcp::socket socket{io};
  std::string received;
  bool closed = false;
};

RawConnection::RawConnection(std::uint16_t port, std::string host)
    : impl_(std::make_unique<Impl>()) {
  connect_with_deadline(impl_->io, impl_->socket, host, port,
                        Clock::now() + std::chrono::seconds{5});
}

RawConnection::~RawConnection() {
  boost::system::error_code ignored;
  impl_->socket.close(ignored);
}

bool RawConnection::send(std::string_view bytes) {
  if (impl_->closed) return false;
  const auto result = detail::run_with_deadline(
      impl_->io, impl_->socket, Clock::now() + std::chrono::seconds{5}, [&](auto handler) {
        asio::async_write(impl_->socket, asio::buffer(bytes.data(), bytes.size()), handler);
      });
  return !result.error && !result.timed_out;
}

RawConnection::ReadOutcome RawConnection::read_until_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!impl_->closed) {
    std::array<char, 4096> chunk{};
    const auto result = detail::run_with_deadline(
        impl_->io, impl_->socket, deadline,
        [&](auto handler) { impl_->socket.async_read_some(asio::buffer(chunk), handler); });
    impl_->received.append(chunk.data(), result.bytes);
    if (result.timed_out) return ReadOutcome::timed_out;
    if (result.error) impl_->closed = true;  // eof or reset: the server closed it
  }
  return ReadOutcome::closed;
}

const std::string& RawConnection::received() const {
  return impl_->received;
}

}  // namespace waitroom::test
