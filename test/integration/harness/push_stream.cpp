#include "harness/push_stream.hpp"

#include <array>
#include <atomic>
#include <stdexcept>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "harness/io_deadline.hpp"

namespace waitroom::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

JsonPredicate has_status(std::string status) {
  return [status = std::move(status)](const Json& json) {
    return json.is_object() && json.value("status", Json()) == status;
  };
}

JsonPredicate has_status_reason(std::string status, std::string reason) {
  return [status = std::move(status), reason = std::move(reason)](const Json& json) {
    return json.is_object() && json.value("status", Json()) == status &&
           json.value("reason", Json()) == reason;
  };
}

std::optional<StreamMessage> PushStream::next_message(std::chrono::milliseconds timeout) {
  return queue_.pop(timeout);
}

std::optional<Json> PushStream::next_event(std::chrono::milliseconds timeout) {
  auto message = queue_.pop(timeout);
  if (!message) return std::nullopt;
  return message->json;
}

std::optional<StreamMessage> PushStream::wait_for(const JsonPredicate& predicate,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() < 0) return std::nullopt;
    auto message = queue_.pop(left);
    if (!message) return std::nullopt;
    if (predicate(message->json)) return message;
    skipped_.push_back(message->json);
  }
}

namespace {

void connect_socket(asio::io_context& io, tcp::socket& socket, std::uint16_t port,
                    Clock::time_point deadline) {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  const auto result = detail::run_with_deadline(io, socket, deadline, [&](auto handler) {
    socket.async_connect(endpoint,
                         [handler](boost::system::error_code error) mutable { handler(error, 0); });
  });
  if (result.timed_out || result.error) {
    throw std::runtime_error("connect to port " + std::to_string(port) +
                             " failed: " + (result.timed_out ? "timeout" : result.error.message()));
  }
  socket.set_option(tcp::no_delay(true));
}

HttpResponse to_response(const http::response<http::string_body>& message) {
  HttpResponse response;
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = message.body();
  return response;
}

// Incremental decoder of a chunked body (RFC 9112 §7.1), enough for a test client.
class ChunkedDecoder {
 public:
  // Consumes what it can of `raw`, appending the payload to `out`; false on bad framing.
  bool feed(std::string& raw, std::string& out) {
    for (;;) {
      switch (state_) {
        case State::size: {
          const auto end = raw.find("\r\n");
          if (end == std::string::npos) return raw.size() < 1024;
          const std::string line = raw.substr(0, raw.find_first_of(";\r"));
          raw.erase(0, end + 2);
          std::size_t size = 0;
          try {
            size = std::stoul(line, nullptr, 16);
          } catch (const std::exception&) {
            return false;
          }
          if (size == 0) {
            state_ = State::done;
            return true;
          }
          remaining_ = size;
          state_ = State::data;
          break;
        }
        case State::data: {
          const std::size_t take = std::min(remaining_, raw.size());
          out.append(raw, 0, take);
          raw.erase(0, take);
          remaining_ -= take;
          if (remaining_ > 0) return true;
          state_ = State::crlf;
          break;
        }
        case State::crlf:
          if (raw.size() < 2) return true;
          if (raw.compare(0, 2, "\r\n") != 0) return false;
          raw.erase(0, 2);
          state_ = State::size;
          break;
        case State::done:
          return true;
      }
    }
  }
  bool done() const { return state_ == State::done; }

 private:
  enum class State { size, data, crlf, done } state_ = State::size;
  std::size_t remaining_ = 0;
};

}  // namespace

// --- Server-Sent Events ---------------------------------------------------------------

struct SseStream::Impl {
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  std::array<char, 8192> chunk{};
  bool chunked = false;
  ChunkedDecoder decoder;
  std::string raw;      // bytes as received (chunk framing included when chunked)
  std::string decoded;  // the event-stream text
  std::string data;     // `data:` lines of the event being read
  std::string event_name;
  std::atomic<int> comments{0};
  std::thread reader;

  // Splits `decoded` into lines and dispatches complete events.
  void parse_events(MessageQueue& queue) {
    for (;;) {
      const auto end = decoded.find('\n');
      if (end == std::string::npos) return;
      std::string line = decoded.substr(0, end);
      decoded.erase(0, end + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) {
        if (!data.empty()) {
          if (data.back() == '\n') data.pop_back();
          StreamMessage message{Json::parse(data, nullptr, false), data, event_name, Clock::now()};
          queue.push(std::move(message));
        }
        data.clear();
        event_name.clear();
        continue;
      }
      if (line.front() == ':') {
        ++comments;
        continue;
      }
      const auto colon = line.find(':');
      const std::string field = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (field == "data") {
        data += value;
        data += '\n';
      } else if (field == "event") {
        event_name = value;
      }
    }
  }

  void consume(MessageQueue& queue) {
    if (chunked) {
      if (!decoder.feed(raw, decoded)) {
        queue.close("bad chunked framing");
        return;
      }
    } else {
      decoded += raw;
      raw.clear();
    }
    parse_events(queue);
    if (chunked && decoder.done()) queue.close("end of chunked body");
  }

  void read_more(MessageQueue& queue) {
    socket.async_read_some(asio::buffer(chunk),
                           [this, &queue](boost::system::error_code error, std::size_t bytes) {
                             raw.append(chunk.data(), bytes);
                             consume(queue);
                             if (error) {
                               queue.close(error.message());
                               return;
                             }
                             if (!queue.closed()) read_more(queue);
                           });
  }
};

SseStream::SseStream(std::uint16_t port, std::string_view user_id, const Headers& headers,
                     std::chrono::milliseconds timeout)
    : SseStream(TargetTag{}, port, "/queue/events/" + url_encode(user_id), headers, timeout) {}

std::unique_ptr<SseStream> SseStream::open_target(std::uint16_t port, std::string target,
                                                  const Headers& headers) {
  return std::unique_ptr<SseStream>(new SseStream(TargetTag{}, port, std::move(target), headers,
                                                  std::chrono::milliseconds{5000}));
}

SseStream::SseStream(TargetTag, std::uint16_t port, std::string target, const Headers& headers,
                     std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  auto& io = impl_->io;
  auto& socket = impl_->socket;
  const auto deadline = Clock::now() + timeout;
  connect_socket(io, socket, port, deadline);

  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.set(http::field::accept, "text/event-stream");
  request.set(http::field::user_agent, "waitroom-integration-test");
  for (const auto& [name, value] : headers) request.insert(name, value);
  const auto written = detail::run_with_deadline(
      io, socket, deadline, [&](auto handler) { http::async_write(socket, request, handler); });
  if (written.timed_out || written.error) {
    throw std::runtime_error("SSE request " + target + " could not be sent");
  }

  http::response_parser<http::string_body> parser;
  parser.body_limit(1u << 20);
  const auto header = detail::run_with_deadline(io, socket, deadline, [&](auto handler) {
    http::async_read_header(socket, impl_->buffer, parser, handler);
  });
  if (header.timed_out) throw std::runtime_error("SSE " + target + ": no answer header in time");
  if (header.error) {
    throw std::runtime_error("SSE " + target + ": reading the answer: " + header.error.message());
  }
  if (parser.get().result_int() != 200) {
    // A refusal: read its (small) body so that the test can look at the JSON.
    detail::run_with_deadline(io, socket, deadline, [&](auto handler) {
      http::async_read(socket, impl_->buffer, parser, handler);
    });
    response_ = to_response(parser.get());
    queue_.close("refused");
    return;
  }
  response_ = to_response(parser.get());
  response_.body.clear();
  open_ = true;
  impl_->chunked = parser.chunked();
  // Whatever followed the header in the same read is the start of the body.
  impl_->raw = beast::buffers_to_string(impl_->buffer.data());
  impl_->buffer.consume(impl_->buffer.size());
  impl_->consume(queue_);
  impl_->read_more(queue_);
  io.restart();
  impl_->reader = std::thread([this] { impl_->io.run(); });
}

SseStream::~SseStream() {
  if (impl_->reader.joinable()) {
    asio::post(impl_->io, [this] {
      boost::system::error_code ignored;
      impl_->socket.close(ignored);
    });
    impl_->reader.join();
  }
}

int SseStream::comments_seen() const {
  return impl_->comments.load();
}

// --- WebSocket ------------------------------------------------------------------------

struct WsClient::Impl {
  asio::io_context io;
  websocket::stream<tcp::socket> ws{io};
  beast::flat_buffer buffer;
  std::thread reader;
  std::atomic<int> close_code{0};

  void read_more(MessageQueue& queue) {
    ws.async_read(buffer, [this, &queue](boost::system::error_code error, std::size_t) {
      if (error) {
        close_code = static_cast<int>(ws.reason().code);
        queue.close(error.message());
        return;
      }
      std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      queue.push(StreamMessage{Json::parse(text, nullptr, false), text, "", Clock::now()});
      read_more(queue);
    });
  }
};

WsClient::WsClient(std::uint16_t port, std::string_view user_id, const Headers& headers,
                   std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  auto& io = impl_->io;
  auto& socket = impl_->ws.next_layer();
  const auto deadline = Clock::now() + timeout;
  connect_socket(io, socket, port, deadline);
  impl_->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    req.set(http::field::user_agent, "waitroom-integration-test");
    for (const auto& [name, value] : headers) req.insert(name, value);
  }));
  websocket::response_type handshake_response;
  const std::string target = "/ws/" + url_encode(user_id);
  const auto result = detail::run_with_deadline(io, socket, deadline, [&](auto handler) {
    impl_->ws.async_handshake(
        handshake_response, "127.0.0.1:" + std::to_string(port), target,
        [handler](boost::system::error_code error) mutable { handler(error, 0); });
  });
  if (result.timed_out) throw std::runtime_error("WebSocket handshake " + target + " timed out");
  response_ = to_response(handshake_response);
  if (result.error) {
    if (response_.status == 0) {
      throw std::runtime_error("WebSocket handshake " + target + ": " + result.error.message());
    }
    queue_.close("refused");
    return;
  }
  open_ = true;
  impl_->read_more(queue_);
  io.restart();
  impl_->reader = std::thread([this] { impl_->io.run(); });
}

WsClient::~WsClient() {
  if (impl_->reader.joinable()) {
    // An abrupt close, like a browser tab going away; the reader then ends.
    asio::post(impl_->io, [this] {
      boost::system::error_code ignored;
      impl_->ws.next_layer().close(ignored);
    });
    impl_->reader.join();
  }
}

int WsClient::close_code() const {
  return impl_->close_code.load();
}

}  // namespace waitroom::test
