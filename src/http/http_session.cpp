// One HTTP connection: read a request, answer it, repeat while keep-alive holds.
//
// The session is one coroutine on the connection's strand (Beast's advanced server, in
// coroutine form). Requests on a connection are answered one at a time, in order, so
// pipelining is bounded by construction: at most one parsed request and whatever the
// client already sent (less than one read) are held. Limits: the wait for a request's
// first byte is the keep-alive idle timeout (the header timeout for the first request),
// reading the rest of the request is bounded by the header timeout, headers by
// max_header_bytes (431), bodies by max_body_bytes (413). A request for a stream (SSE,
// WebSocket) hands the socket over to that session for the rest of the connection, unless
// the store refuses to open the stream for the caller: then it is answered 401/403 like any
// other request and the connection goes on. When the store's backend (Redis) cannot answer,
// any route gets 503 with Retry-After and the connection goes on. A HEAD request is routed
// like a GET (router.hpp) and gets that answer's header alone, whatever the route.
#include <spdlog/spdlog.h>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <charconv>
#include <limits>

#include "http/api.hpp"
#include "http/expect_continue.hpp"
#include "http/server.hpp"
#include "http/sessions.hpp"

namespace waitroom::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;

namespace {

// Decrements the connection count when the session ends, however it ends.
struct ConnectionSlot {
  std::atomic<std::size_t>& connections;
  ~ConnectionSlot() { connections.fetch_sub(1, std::memory_order_relaxed); }
};

// An answer to a request that could not be parsed; the connection closes after it.
Response parse_failure(beast_http::status status, std::string_view detail) {
  Response response{status, 11};
  response.set(beast_http::field::content_type, "application/json");
  response.set(beast_http::field::connection, "close");
  response.body() = "{\"detail\":\"";
  response.body() += detail;
  response.body() += "\"}";
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

bool lacks_host(const RequestParser::value_type& header) {
  return header.version() == 11 && header.find(beast_http::field::host) == header.end();
}

std::optional<Response> answer_to_read_error(const beast::error_code& ec) {
  if (ec == beast_http::error::header_limit) {
    return parse_failure(beast_http::status::request_header_fields_too_large,
                         "request headers too large");
  }
  if (ec == beast_http::error::body_limit) {
    return parse_failure(beast_http::status::payload_too_large, "request body too large");
  }
  if (ec.category() == beast_http::make_error_code(beast_http::error::end_of_stream).category() &&
      ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message) {
    return parse_failure(beast_http::status::bad_request, "malformed request");
  }
  return std::nullopt;  // the peer went away or timed out: nothing to answer
}

// Serialises a response into `out` (appended). Our responses are small and complete, so
// one contiguous write beats Beast's serializer and its buffer sequences.
void serialize(const Response& response, std::string& out) {
  out += response.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(response.result_int());
  out += ' ';
  out += response.reason();
  out += "\r\n";
  for (const auto& field : response) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
  out += response.body();
}

}  // namespace

asio::awaitable<void> run_http_session(asio::ip::tcp::socket socket, ServerContext& context) {
  ConnectionSlot slot{context.connections};
  const auto& limits = context.limits;
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  std::string out;  // the serialised response, reused across requests
  bool first = true;
  for (;;) {
    beast::error_code ec;
    RequestParser parser;
    parser.header_limit(std::uint32_t(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    // With a gate, the header is read first: a request for the upstream is handed over
    // before its body (which may be large and is streamed, not buffered) is read.
    bool header_checked = context.gateway == nullptr || !context.gateway->proxies();
    parser.eager(header_checked);
    // The body limit is the gate's to decide then (the header's Content-Length is checked
    // against the limit as soon as the header is parsed).
    if (!header_checked) parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    GatewayOutcome gateway_outcome;

    // Parse what is buffered; read only when the parser needs more. The wait for the first
    // byte of a request is the keep-alive idle time (the header timeout for the first
    // request of a connection); once a request has begun, the rest must come within the
    // header timeout.
    bool started = buffer.size() > 0;
    bool request_deadline_armed = false;
    bool peer_gone = false;
    // Beast's header limit lets a header of many short fields grow past it (20 KB of
    // "X: y" lines passed a limit of 8 KB): the bytes it consumed are counted here too.
    std::size_t header_bytes = 0;
    bool missing_host = false;
    bool continue_answered = false;
    // Twice when the gate hands a request back after its header: then the rest is read.
    for (bool reading = true; reading;) {
      reading = false;
      while (!parser.is_done()) {
        if (!header_checked && parser.is_header_done()) break;
        if (buffer.size() > 0) {
          const bool had_header = parser.is_header_done();
          const auto used = parser.put(buffer.data(), ec);
          buffer.consume(used);
          if (!parser.is_header_done()) header_bytes += used;
          if (!had_header && parser.is_header_done() && lacks_host(parser.get())) {
            missing_host = true;  // RFC 9112 §3.2: 400 whatever the route, before anything else
            break;
          }
          if (ec == beast_http::error::need_more) {
            ec = {};
          } else if (ec || parser.is_done()) {
            break;
          } else if (used > 0) {
            continue;
          }
        }
        if (!parser.is_header_done() && header_bytes + buffer.size() > limits.max_header_bytes) {
          ec = beast_http::error::header_limit;
          break;
        }
        if (buffer.size() >= limits.max_header_bytes + limits.max_body_bytes + 4096) {
          ec = beast_http::error::header_limit;
          break;
        }
        // About to wait for the body of a request that passed every check of its header.
        if (header_checked && !continue_answered && expects_continue(parser)) {
          continue_answered = true;
          co_await write_continue(stream, ec);  // within the request's running deadline
          if (ec) {
            peer_gone = true;
            break;
          }
        }
        // The header timeout is one deadline for the whole request, armed once when it
        // begins: re-arming it at every read would let a client trickling one header line
        // at a time hold the connection forever.
        if (!started) {
          stream.expires_after(first ? limits.header_timeout : limits.keep_alive_timeout);
        } else if (!request_deadline_armed) {
          stream.expires_after(limits.header_timeout);
          request_deadline_armed = true;
        }
        const auto n = co_await stream.async_read_some(
            buffer.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          peer_gone = true;  // closed, reset or timed out: there is no one to answer
          break;
        }
        buffer.commit(n);
        started = true;
      }
      if (!ec && !peer_gone && !missing_host && !header_checked) {
        header_checked = true;
        gateway_outcome = co_await context.gateway->on_request_header(stream, buffer, parser);
        if (!gateway_outcome.taken) {
          // Waitroom's own route: read the rest of the request as usual.
          parser.eager(true);
          parser.body_limit(limits.max_body_bytes);
          const auto length = parser.content_length();
          if (length && *length > limits.max_body_bytes) {
            ec = beast_http::error::body_limit;
          } else {
            reading = true;
          }
        }
      }
    }
    first = false;
    if (gateway_outcome.taken) {
      if (!gateway_outcome.keep_alive) break;
      continue;
    }
    if (ec || peer_gone || missing_host) {
      std::optional<Response> answer;
      if (missing_host) {
        answer = parse_failure(beast_http::status::bad_request,
                               "an HTTP/1.1 request needs a Host header");
      } else if (ec && !peer_gone) {
        answer = answer_to_read_error(ec);
      }
      if (answer) {
        out.clear();
        serialize(*answer, out);
        stream.expires_after(limits.header_timeout);
        co_await asio::async_write(stream, asio::buffer(out),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      break;
    }

    Request& request = parser.get();
    const auto match = context.router.match(request.method(), request.target());
    out.clear();
    bool keep_alive = request.keep_alive();
    // The store's backend (Redis) is unreachable or too slow: 503 with Retry-After, whatever
    // the route. Caught here so that the session and its connection go on.
    std::optional<Response> unavailable;
    bool answered = false;
    const bool head = request.method() == beast_http::verb::head;
    if (match.kind == RouteMatch::Kind::found && match.route == RouteId::status && !head) {
      try {
        answered = co_await answer_status(context, request, match.parameter, out);
      } catch (const store::Unavailable& e) {
        out.clear();
        unavailable = unavailable_response(request, e.what());
      }
    }
    if (answered) {
      // answered on the fast path
    } else {
      std::optional<Response> response = std::move(unavailable);
      if (response) {
        // the store could not answer the status poll
      } else if (match.kind == RouteMatch::Kind::not_found) {
        response = error_response(request, beast_http::status::not_found, "not found");
      } else if (match.kind == RouteMatch::Kind::method_not_allowed) {
        response =
            error_response(request, beast_http::status::method_not_allowed, "method not allowed");
        response->set(beast_http::field::allow, match.allow);
      } else if (match.route == RouteId::events || match.route == RouteId::websocket) {
        const bool websocket = match.route == RouteId::websocket;
        if (websocket && !beast::websocket::is_upgrade(request)) {
          response = error_response(request, beast_http::status::upgrade_required,
                                    "WebSocket upgrade required");
        } else {
          auto admission = admit_stream(context, request, match);
          if (admission.refusal) {
            response = std::move(admission.refusal);
          } else if (websocket) {
            // A store that cannot open the stream throws before the upgrade is accepted.
            std::optional<std::string> failure;
            try {
              if (co_await run_websocket_session(stream, request, admission.user_id,
                                                 admission.actor, context)) {
                co_return;
              }
            } catch (const store::Unavailable& e) {
              failure = e.what();
            }
            response = failure ? unavailable_response(request, *failure)
                               : refusal_for(request, admission.actor);
          } else {
            // The stream only writes from now on: give back the read buffer, which would
            // otherwise stay allocated for as long as the user waits.
            buffer.clear();
            buffer.shrink_to_fit();
            std::string().swap(out);
            // A reconnecting EventSource repeats the last id it saw.
            std::optional<std::uint64_t> last_event_id;
            if (auto it = request.find("Last-Event-ID"); it != request.end()) {
              std::uint64_t value = 0;
              const auto text = it->value();
              const auto [end, error] =
                  std::from_chars(text.data(), text.data() + text.size(), value);
              if (error == std::errc{} && end == text.data() + text.size()) last_event_id = value;
            }
            // A store that cannot open the stream throws before anything is written.
            std::optional<std::string> failure;
            try {
              if (co_await run_sse_session(stream, admission.user_id, admission.actor, context,
                                           last_event_id)) {
                co_return;
              }
            } catch (const store::Unavailable& e) {
              failure = e.what();
            }
            response = failure ? unavailable_response(request, *failure)
                               : refusal_for(request, admission.actor);
          }
        }
      } else {
        try {
          response = co_await handle_api(context, request, match);
        } catch (const store::Unavailable& e) {
          response = unavailable_response(request, e.what());
        } catch (const std::exception& e) {
          spdlog::error("internal error on {} {}: {}", std::string_view(request.method_string()),
                        std::string_view(request.target()), e.what());
        }
        if (!response) {
          response =
              error_response(request, beast_http::status::internal_server_error, "internal error");
        }
      }
      keep_alive = response->keep_alive();
      // HEAD: the GET answer's header, its Content-Length included, without the body.
      if (head) response->body().clear();
      serialize(*response, out);
    }

    stream.expires_after(limits.keep_alive_timeout);
    co_await asio::async_write(stream, asio::buffer(out),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

}  // namespace waitroom::http
