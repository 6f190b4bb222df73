// HTTP and SSE over Beast, as small as the load tester needs. Answers are read with
// Beast's parser (keep-alive, chunked, limits); the event stream is read as raw bytes,
// because its response has no length and is read for as long as the user lives.
#include "loadtest/client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

namespace waitroom::loadtest {

namespace http = beast::http;

namespace {

constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr std::size_t kMaxEventBytes = 16 * 1024;
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
// Read size of an event stream. It lives in the reading coroutine's frame while the
// stream is idle, so it is kept small: in `streams` mode there are 100,000 of them.
constexpr std::size_t kStreamReadBytes = 512;

std::string error_kind(std::string_view what, const boost::system::error_code& ec) {
  return std::string(what) + ": " + ec.message();
}

}  // namespace

Target resolve_target(asio::io_context& io_context, const std::string& url,
                      const std::string& prefix) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) throw std::runtime_error("--url must start with http://");
  std::string rest = url.substr(kScheme.size());
  std::string path;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    path = rest.substr(slash);
    rest.resize(slash);
  }
  std::string host = rest;
  std::string port = "80";
  if (auto colon = rest.rfind(':'); colon != std::string::npos && rest.back() != ']') {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  asio::ip::tcp::resolver resolver(io_context);
  auto results = resolver.resolve(host, port);
  if (results.empty()) throw std::runtime_error("cannot resolve " + host);
  // Prefer IPv4: "localhost" resolves to ::1 first on some machines, and the server's
  // default --host is 127.0.0.1.
  asio::ip::tcp::endpoint endpoint = results.begin()->endpoint();
  for (const auto& entry : results) {
    if (entry.endpoint().address().is_v4()) {
      endpoint = entry.endpoint();
      break;
    }
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::string full_prefix = path + prefix;
  while (!full_prefix.empty() && full_prefix.back() == '/') full_prefix.pop_back();
  return Target{endpoint, rest, full_prefix};
}

asio::awaitable<boost::system::error_code> connect_to(
    beast::tcp_stream& stream, const Target& target, const std::optional<asio::ip::address>& source,
    SteadyTime deadline) {
  boost::system::error_code ec;
  auto& socket = stream.socket();
  socket.open(target.endpoint.protocol(), ec);
  if (ec) co_return ec;
  if (source) {
#ifdef IP_BIND_ADDRESS_NO_PORT
    // Let connect() choose the port for the full 4-tuple, so the same port may serve
    // several destinations; without it bind() reserves the port for this address alone.
    int one = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    socket.bind(asio::ip::tcp::endpoint(*source, 0), ec);
    if (ec) co_return ec;
  }
  stream.expires_at(deadline);
  co_await stream.async_connect(target.endpoint, asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) socket.set_option(asio::ip::tcp::no_delay(true), ec);
  co_return ec;
}

RequestConnection::RequestConnection(asio::any_io_executor executor, const Target& target,
                                     std::optional<asio::ip::address> source)
    : target_(target), source_(source), stream_(std::move(executor)) {}

void RequestConnection::close() {
  boost::system::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  stream_.close();
  connected_ = false;
}

asio::awaitable<Response> RequestConnection::request(http::verb method, std::string path,
                                                     std::string_view bearer, SteadyTime deadline) {
  const bool reused = connected_;
  Response response = co_await attempt(method, path, bearer, deadline);
  // The server closes idle keep-alive connections; a request that found its reused
  // connection closed never reached it, so sending it again is safe.
  if (response.status == 0 && reused && std::chrono::steady_clock::now() < deadline) {
    response = co_await attempt(method, path, bearer, deadline);
  }
  co_return response;
}

asio::awaitable<Response> RequestConnection::attempt(http::verb method, const std::string& path,
                                                     std::string_view bearer, SteadyTime deadline) {
  Response response;
  boost::system::error_code ec;
  if (!connected_) {
    stream_.close();
    buffer_.clear();
    ec = co_await connect_to(stream_, target_, source_, deadline);
    if (ec) {
      response.error = error_kind("connect", ec);
      co_return response;
    }
    connected_ = true;
  }
  http::request<http::empty_body> request{method, target_.prefix + path, 11};
  request.set(http::field::host, target_.host_header);
  request.set(http::field::user_agent, "waitroom-load-test");
  if (!bearer.empty()) request.set(http::field::authorization, "Bearer " + std::string(bearer));
  request.keep_alive(true);
  request.prepare_payload();
  stream_.expires_at(deadline);
  co_await http::async_write(stream_, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    connected_ = false;
    response.error = error_kind("write", ec);
    co_return response;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBodyBytes);
  parser.header_limit(kMaxHeaderBytes);
  co_await http::async_read(stream_, buffer_, parser,
                            asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    connected_ = false;
    response.error = error_kind("read", ec);
    co_return response;
  }
  auto message = parser.release();
  if (!message.keep_alive()) connected_ = false;
  response.status = static_cast<int>(message.result_int());
  response.body = std::move(message.body());
  co_return response;
}

EventStream::EventStream(asio::any_io_executor executor, const Target& target,
                         std::optional<asio::ip::address> source)
    : target_(target), source_(source), stream_(std::move(executor)) {}

void EventStream::close() {
  boost::system::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  stream_.close();
}

asio::awaitable<std::string> EventStream::open(const std::string& user_id, std::string_view bearer,
                                               SteadyTime deadline) {
  auto ec = co_await connect_to(stream_, target_, source_, deadline);
  if (ec) co_return error_kind("connect", ec);
  std::string request = "GET " + target_.prefix + "/queue/events/" + user_id +
                        " HTTP/1.1\r\nHost: " + target_.host_header +
                        "\r\nAccept: text/event-stream\r\nUser-Agent: waitroom-load-test\r\n";
  if (!bearer.empty()) request += "Authorization: Bearer " + std::string(bearer) + "\r\n";
  request += "\r\n";
  stream_.expires_at(deadline);
  co_await asio::async_write(stream_, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return error_kind("stream write", ec);
  // Headers, then whatever events came with them stay in pending_.
  char chunk[kStreamReadBytes];
  std::size_t header_end;
  while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (pending_.size() > kMaxHeaderBytes) co_return std::string("stream headers too large");
    std::size_t n = co_await stream_.async_read_some(asio::buffer(chunk),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return error_kind("stream headers", ec);
    pending_.append(chunk, n);
  }
  // "HTTP/1.1 200 OK"
  std::string status = pending_.size() > 12 ? pending_.substr(9, 3) : "";
  if (status != "200") co_return "stream http " + status;
  pending_.erase(0, header_end + 4);
  co_return std::string();
}

std::optional<std::string> EventStream::take_event() {
  // Events end with a blank line; the server writes "\n", a proxy may write "\r\n".
  for (;;) {
    std::size_t end = pending_.find("\n\n");
    std::size_t crlf_end = pending_.find("\r\n\r\n");
    std::size_t length = 2;
    if (crlf_end != std::string::npos && (end == std::string::npos || crlf_end < end)) {
      end = crlf_end;
      length = 4;
    }
    if (end == std::string::npos) return std::nullopt;
    std::string block = pending_.substr(0, end);
    pending_.erase(0, end + length);
    std::string data;
    std::size_t pos = 0;
    while (pos < block.size()) {
      std::size_t line_end = block.find('\n', pos);
      if (line_end == std::string::npos) line_end = block.size();
      std::string_view line(block.data() + pos, line_end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.rfind("data:", 0) == 0) {
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (!data.empty()) data += '\n';
        data += line;
      }
      pos = line_end + 1;
    }
    if (!data.empty()) return data;  // a comment (": keepalive") carries no data
  }
}

asio::awaitable<std::optional<std::string>> EventStream::next(SteadyTime deadline) {
  char chunk[kStreamReadBytes];
  for (;;) {
    if (auto event = take_event()) co_return event;
    if (pending_.size() > kMaxEventBytes) {
      ended_by_ = "event too large";
      co_return std::nullopt;
    }
    boost::system::error_code ec;
    stream_.expires_at(deadline);
    std::size_t n = co_await stream_.async_read_some(asio::buffer(chunk),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == beast::error::timeout) {
        ended_by_ = "deadline";
      } else if (ec == asio::error::eof) {
        ended_by_ = "eof";
      } else {
        ended_by_ = ec.message();
      }
      co_return std::nullopt;
    }
    pending_.append(chunk, n);
  }
}

}  // namespace waitroom::loadtest
