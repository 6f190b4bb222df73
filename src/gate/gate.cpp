// The gate's admission decision and relay; see gate.hpp.
#include "gate/gate.hpp"

#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <memory>
#include <vector>

#include "gate/headers.hpp"
#include "gate/page.hpp"
#include "http/expect_continue.hpp"
#include "http/json_text.hpp"
#include "http/stream_session_support.hpp"
#include "http/web_routes.hpp"

namespace waitroom::gate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using asio::awaitable;
using beast_http::status;

namespace {

// No limit on relayed bodies. Not boost::none: Beast 1.74 compares a Content-Length with
// the optional limit as `len > limit`, which is true for every length when it is empty.
constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

constexpr auto use_ec = [](boost::system::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
};

http::Response json_answer(unsigned version, status code, std::string_view detail) {
  http::Response response{code, version};
  response.set(beast_http::field::content_type, "application/json");
  response.set(beast_http::field::cache_control, "no-store");
  response.body() = http::detail_json(detail);
  response.prepare_payload();
  return response;
}

http::Response html_answer(unsigned version, status code, std::string html) {
  http::Response response{code, version};
  response.set(beast_http::field::content_type, "text/html; charset=utf-8");
  response.set(beast_http::field::cache_control, "no-store");
  response.body() = std::move(html);
  response.prepare_payload();
  return response;
}

// Writes one of the gate's own answers; a HEAD request gets the header only.
awaitable<bool> write_answer(beast::tcp_stream& stream, http::Response response, bool head,
                             bool keep_alive, Duration timeout) {
  response.keep_alive(keep_alive);
  if (head) {
    const auto length = response.body().size();
    response.body().clear();
    response.content_length(length);
  }
  boost::system::error_code ec;
  stream.expires_after(timeout);
  co_await beast_http::async_write(stream, response, use_ec(ec));
  co_return !ec;
}

bool is_success(unsigned code) {
  return code >= 200 && code < 300;
}

}  // namespace

// The piece of a body in transit: allocated once per exchange and never zeroed (a
// std::vector would clear 64 KiB for every request, most of which carry far less).
class RelayBuffer {
 public:
  void reset(std::size_t bytes) {
    data_.reset(new char[bytes]);
    size_ = bytes;
  }
  char* data() { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
};

// The read kept pending on the client while its answer is awaited (see watch_client).
struct Gate::ClientWatch {
  explicit ClientWatch(asio::any_io_executor executor)
      : strand(executor), done(std::move(executor)) {}
  asio::any_io_executor strand;
  http::Completion done;
  bool stopping = false;
  std::atomic<bool> client_gone{false};  // read by the exchange on another strand
};

// Everything one proxied request needs, on the coroutine frame of on_request_header.
struct Gate::Exchange {
  Exchange(beast::tcp_stream& client_stream, beast::flat_buffer& buffer,
           http::RequestParser&& header_parser)
      : client(client_stream), client_buffer(buffer), request(std::move(header_parser)) {}

  beast::tcp_stream& client;
  beast::flat_buffer& client_buffer;
  beast_http::request_parser<beast_http::buffer_body> request;
  std::string user_id;
  bool navigation = false;
  bool head = false;
  bool websocket = false;
  bool client_keep_alive = false;
  unsigned client_version = 11;
  std::string accept_language;
  UpstreamPool::Lease lease;
  beast::flat_buffer upstream_buffer;
  std::optional<beast_http::response_parser<beast_http::buffer_body>> response;
  RelayBuffer relay_buffer;
  std::shared_ptr<ClientWatch> watch;  // while the answer is awaited and relayed
  gate::Exchange* membership = nullptr;
};

Gate::Gate(http::ServerContext& context, const Clock& clock, GateOptions options)
    : context_(context),
      clock_(clock),
      options_(std::move(options)),
      overlay_tag_("<script src=\"" + options_.prefix + "/assets/overlay.js\" defer></script>"),
      upstream_host_(upstream_authority(options_.upstream.host, options_.upstream.port)),
      traffic_(context.hub, context.store) {
  if (!options_.upstream.host.empty()) pool_.emplace(clock_, options_.upstream);
}

bool Gate::activity_due(const std::string& user_id) {
  const auto now = clock_.now();
  std::lock_guard lock(activity_mutex_);
  // Bounded: once it grows past what the connected users need, forget the stale entries.
  if (last_activity_.size() > 4096) {
    std::erase_if(last_activity_, [&](const auto& entry) {
      return now - entry.second >= options_.activity_interval;
    });
  }
  auto [it, inserted] = last_activity_.try_emplace(user_id, now);
  if (inserted) return true;
  if (now - it->second < options_.activity_interval) return false;
  it->second = now;
  return true;
}

awaitable<Gate::Admission> Gate::admit(const std::optional<http::Identity>& identity) {
  Admission admission;
  std::optional<store::Viewed> viewed;
  if (identity) {
    if (activity_due(identity->user_id)) {
      const auto beat = co_await context_.store.heartbeat(identity->user_id, identity->actor);
      if (!beat.forbidden && beat.result.outcome == engine::Outcome::ok) {
        admission.connected = true;
        co_return admission;
      }
      {
        // Not connected: let the next request check again at once (it may follow a confirm).
        std::lock_guard lock(activity_mutex_);
        last_activity_.erase(identity->user_id);
      }
    }
    viewed = co_await context_.store.find(identity->user_id);
    const auto& view = viewed->view;
    const bool mine = view && identity->actor.may_act_on(view->generation);
    if (mine && view->status == engine::Status::connected) {
      admission.connected = true;
      co_return admission;
    }
    if (mine && view->status == engine::Status::waiting) {
      admission.estimated_wait = view->estimated_wait;
    }
  }
  const auto metrics = co_await context_.store.metrics();
  admission.paused = metrics.paused;
  co_return admission;
}

http::Response Gate::refusal(const RequestHeader& header, const Admission& admission,
                             bool navigation) const {
  const auto version = header.version();
  http::Response response;
  if (navigation) {
    response = http::waiting_room_response(context_, header);
  } else if (admission.paused) {
    response =
        json_answer(version, status::service_unavailable,
                    "admissions are paused; the waiting room is at " + options_.prefix + "/");
    response.set(beast_http::field::retry_after, "30");
  } else {
    response = json_answer(version, status::too_many_requests,
                           "no session for this request; take a place in the waiting room at " +
                               options_.prefix + "/");
    // The estimated wait when known, within reason: clients should come back to re-check.
    std::int64_t seconds = 5;
    if (admission.estimated_wait) {
      seconds = std::clamp<std::int64_t>((admission.estimated_wait->count() + 999) / 1000, 1, 60);
    }
    response.set(beast_http::field::retry_after, std::to_string(seconds));
  }
  response.set("X-Waitroom-Location", options_.prefix + "/");
  return response;
}

awaitable<http::GatewayOutcome> Gate::on_request_header(beast::tcp_stream& stream,
                                                        beast::flat_buffer& buffer,
                                                        http::RequestParser& parser) {
  const auto& header = parser.get().base();
  const std::string_view target = header.target();
  const auto path = target.substr(0, target.find('?'));
  const auto& prefix = options_.prefix;
  if (!pool_ ||
      (path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/'))) {
    co_return http::GatewayOutcome{};  // waitroom's own route
  }
  const auto timeout = context_.limits.keep_alive_timeout;
  const bool head = header.method() == beast_http::verb::head;
  // Answered without reading the body: the connection goes on only if there is none.
  const bool keep_alive = parser.get().keep_alive() && parser.is_done();
  if (header.method() == beast_http::verb::connect || !target.starts_with('/')) {
    auto answer =
        json_answer(header.version(), status::bad_request, "only origin-form requests are proxied");
    co_await write_answer(stream, std::move(answer), head, false, timeout);
    co_return http::GatewayOutcome{true, false};
  }
  std::string error;
  auto identity = http::identify(context_, header, &error);
  if (!error.empty()) {
    auto answer = json_answer(header.version(), status::bad_request, error);
    const bool ok = co_await write_answer(stream, std::move(answer), head, keep_alive, timeout);
    co_return http::GatewayOutcome{true, ok && keep_alive};
  }
  // Enter the registry before checking the session, so that no ending is missed.
  const auto strand = co_await asio::this_coro::executor;
  std::optional<gate::Exchange> membership;
  if (identity) membership.emplace(traffic_, identity->user_id, strand);
  const bool navigation = is_navigation(header);
  if (membership && membership->in_flight() > options_.max_exchanges_per_user) {
    auto answer = json_answer(header.version(), status::too_many_requests,
                              "too many requests in flight for this user");
    answer.set(beast_http::field::retry_after, "1");
    const bool ok = co_await write_answer(stream, std::move(answer), head, keep_alive, timeout);
    co_return http::GatewayOutcome{true, ok && keep_alive};
  }
  // The store is unreachable (Redis): nobody can be admitted or refused with certainty.
  std::optional<Admission> admitted;
  std::string unavailable;
  try {
    if (membership && membership->in_flight() == 1)
      co_await context_.store.watch(identity->user_id);
    admitted = co_await admit(identity);
  } catch (const store::Unavailable& e) {
    unavailable = e.what();
  }
  if (!admitted) {
    auto answer = json_answer(header.version(), status::service_unavailable, unavailable);
    answer.set(beast_http::field::retry_after, "1");
    const bool ok = co_await write_answer(stream, std::move(answer), head, keep_alive, timeout);
    co_return http::GatewayOutcome{true, ok && keep_alive};
  }
  const auto& admission = *admitted;
  if (!admission.connected) {
    const bool ok = co_await write_answer(stream, refusal(header, admission, navigation), head,
                                          keep_alive, timeout);
    co_return http::GatewayOutcome{true, ok && keep_alive};
  }

  const bool expects_continue = http::expects_continue(parser);
  Exchange exchange(stream, buffer, std::move(parser));
  exchange.user_id = identity->user_id;
  exchange.membership = &*membership;
  auto& request = exchange.request.get();
  exchange.request.body_limit(kUnlimited);
  exchange.navigation = navigation;
  exchange.head = head;
  exchange.websocket = is_websocket_upgrade(request);
  exchange.client_keep_alive = request.keep_alive();
  exchange.client_version = request.version();
  exchange.accept_language = std::string(request[beast_http::field::accept_language]);
  exchange.relay_buffer.reset(options_.relay_buffer_bytes);
  const bool chunked = request.chunked();
  boost::system::error_code ec;
  const auto peer = stream.socket().remote_endpoint(ec);
  prepare_upstream_request(
      request.base(),
      {ec ? std::string("unknown") : peer.address().to_string(), exchange.user_id, upstream_host_});
  if (chunked) request.chunked(true);
  // The overlay goes into pages: ask for them uncompressed (pages are small).
  if (navigation) request.erase(beast_http::field::accept_encoding);

  if (expects_continue) {
    stream.expires_after(timeout);
    co_await http::write_continue(stream, ec);
    if (ec) co_return http::GatewayOutcome{true, false};
  }
  const bool client_ok = co_await proxy(exchange);
  membership->on_cancel(nullptr);
  co_return http::GatewayOutcome{true, client_ok && !membership->cancelled()};
}

// Sends the request upstream and relays the answer. True when the client connection may
// carry another request.
awaitable<bool> Gate::proxy(Exchange& exchange) {
  auto& client = exchange.client;
  const auto timeout = context_.limits.keep_alive_timeout;
  auto& lease = exchange.lease;
  exchange.membership->on_cancel([&exchange] {
    exchange.client.close();
    if (exchange.lease.stream) exchange.lease.stream->close();
  });
  const bool has_body = !exchange.request.is_done();
  boost::system::error_code ec;
  // A reused connection that the upstream closed meanwhile fails before any answer; then
  // the request is sent again on a new one, unless part of its body was already consumed.
  for (int attempt = 0; attempt < 2; ++attempt) {
    lease = co_await pool_->acquire(attempt == 0);
    if (!lease.stream) {
      spdlog::warn("gate: upstream {}:{} unreachable: {}", options_.upstream.host,
                   options_.upstream.port, lease.error.message());
      break;
    }
    if (exchange.membership->cancelled()) co_return false;
    auto& upstream = *lease.stream;
    beast_http::serializer<true, beast_http::buffer_body> writer{exchange.request.get()};
    co_await beast_http::async_write_header(upstream, writer, use_ec(ec));
    if (ec && lease.reused && !exchange.membership->cancelled()) {
      lease.stream.reset();
      continue;
    }
    // The body, piece by piece (Beast's relay example).
    auto& body = exchange.request.get().body();
    auto& data = exchange.relay_buffer;
    while (!ec && !writer.is_done()) {
      if (!exchange.request.is_done()) {
        body.data = data.data();
        body.size = data.size();
        client.expires_after(timeout);
        co_await beast_http::async_read_some(client, exchange.client_buffer, exchange.request,
                                             use_ec(ec));
        if (ec == beast_http::error::need_buffer) ec = {};
        if (ec) {
          // The client went away or sent a malformed body: nobody to answer.
          upstream.close();
          co_return false;
        }
        body.size = data.size() - body.size;
        body.data = data.data();
        body.more = !exchange.request.is_done();
        // Beast's buffer_body writes any non-null piece as a chunk, even an empty one (which
        // a chunked peer reads as the end): no data, no piece.
        if (body.size == 0) {
          if (body.more) continue;
          body.data = nullptr;
        }
      } else {
        body.data = nullptr;
        body.size = 0;
        body.more = false;
      }
      co_await beast_http::async_write(upstream, writer, use_ec(ec));
      if (ec == beast_http::error::need_buffer) ec = {};
    }
    if (!ec && !exchange.websocket && !exchange.watch) {
      // From now on the client has nothing to send until the answer is complete: a read
      // that ends means it went away (a closed tab), and the upstream request ends with it.
      exchange.watch = std::make_shared<ClientWatch>(co_await asio::this_coro::executor);
      asio::co_spawn(exchange.watch->strand, watch_client(exchange, exchange.watch),
                     asio::detached);
    }
    if (!ec) {
      exchange.response.emplace();
      exchange.response->header_limit(options_.max_response_header_bytes);
      exchange.response->body_limit(kUnlimited);
      if (exchange.head) exchange.response->skip(true);
      co_await beast_http::async_read_header(upstream, exchange.upstream_buffer, *exchange.response,
                                             use_ec(ec));
      // Interim answers (103 Early Hints; 100 cannot come, Expect was removed) are dropped.
      while (!ec && exchange.response->get().result_int() / 100 == 1 &&
             exchange.response->get().result() != status::switching_protocols) {
        exchange.response.emplace();
        exchange.response->header_limit(options_.max_response_header_bytes);
        exchange.response->body_limit(kUnlimited);
        if (exchange.head) exchange.response->skip(true);
        co_await beast_http::async_read_header(upstream, exchange.upstream_buffer,
                                               *exchange.response, use_ec(ec));
      }
    }
    if (ec && lease.reused && !has_body && exchange.upstream_buffer.size() == 0 &&
        !exchange.membership->cancelled()) {
      lease.stream.reset();
      exchange.response.reset();
      ec = {};
      continue;
    }
    break;
  }
  if (exchange.membership->cancelled()) co_return false;
  if (!lease.stream || ec || !exchange.response) {
    if (exchange.watch && exchange.watch->client_gone) {
      spdlog::debug("gate: the client went away before the upstream answered");
      co_await stop_client_watch(exchange);
      co_return false;
    }
    if (lease.stream && ec) {
      spdlog::warn("gate: upstream failed before answering: {}", ec.message());
      lease.stream->close();
    }
    auto answer =
        exchange.navigation
            ? html_answer(exchange.client_version, status::bad_gateway,
                          upstream_unavailable_page(context_.page, exchange.accept_language))
            : json_answer(exchange.client_version, status::bad_gateway,
                          "the service behind the waiting room does not answer");
    const bool keep = exchange.client_keep_alive && exchange.request.is_done();
    co_await stop_client_watch(exchange);
    const bool written =
        co_await write_answer(client, std::move(answer), exchange.head, keep, timeout);
    const bool again = written && keep;
    co_return again;
  }
  if (exchange.websocket && exchange.response->get().result() == status::switching_protocols) {
    co_await tunnel(exchange);
    co_return false;
  }
  co_return co_await relay_response(exchange);
}

awaitable<void> Gate::watch_client(Exchange& exchange, std::shared_ptr<ClientWatch> watch) {
  // Reads into the connection's buffer: a pipelined next request is kept for the session.
  auto& buffer = exchange.client_buffer;
  boost::system::error_code ec;
  while (buffer.size() < 64 * 1024) {
    const auto n =
        co_await exchange.client.socket().async_read_some(buffer.prepare(4096), use_ec(ec));
    if (ec) break;
    buffer.commit(n);
    // A read that completed just before stop_client_watch's cancel could not be cancelled:
    // never start another one once stopping.
    if (watch->stopping) break;
  }
  if (ec && !watch->stopping) {
    // Gone: end the upstream request too (the relay then fails and closes the connection).
    // A client that only half-closed after its request is taken as gone as well: a closed
    // tab looks the same, and ending the generation for it matters more.
    watch->client_gone = true;
    if (exchange.lease.stream) exchange.lease.stream->close();
  }
  watch->done.set();
}

awaitable<void> Gate::stop_client_watch(Exchange& exchange) {
  if (!exchange.watch) co_return;
  exchange.watch->stopping = true;
  boost::system::error_code ignored;
  exchange.client.socket().cancel(ignored);
  co_await exchange.watch->done.wait();
  exchange.watch.reset();
}

awaitable<bool> Gate::relay_response(Exchange& exchange) {
  auto& client = exchange.client;
  auto& upstream = *exchange.lease.stream;
  auto& parser = *exchange.response;
  auto& response = parser.get();
  const auto timeout = context_.limits.keep_alive_timeout;
  const bool upstream_keep_alive = response.keep_alive();
  const unsigned code = response.result_int();
  const bool no_body = exchange.head || code == 204 || code == 304 || code / 100 == 1;
  const bool length_known = response.has_content_length();

  strip_hop_by_hop(response.base(), false);
  response.version(exchange.client_version == 10 ? 10 : 11);
  bool keep_alive = exchange.client_keep_alive && exchange.request.is_done();
  if (!no_body && !length_known) {
    if (exchange.client_version == 10) {
      keep_alive = false;  // an HTTP/1.0 client reads to the close
    } else {
      response.chunked(true);
    }
  }
  response.keep_alive(keep_alive);

  auto& body = response.body();
  auto& data = exchange.relay_buffer;
  boost::system::error_code ec;

  // A page gets the overlay: read it whole (bounded), insert the tag, send it with its new
  // length. A page too large for that is relayed as it is, starting with what was read.
  std::string page;
  bool page_pending = false;
  const auto encoding = response[beast_http::field::content_encoding];
  const bool page_for_overlay =
      is_success(code) && is_html(response[beast_http::field::content_type]) &&
      (encoding.empty() || iequals(encoding, "identity")) &&
      (!length_known || parser.content_length().value_or(0) <= options_.max_injected_html_bytes);
  const bool injectable = !no_body && page_for_overlay;
  if (exchange.head && length_known && page_for_overlay) {
    // HEAD announces the length that GET would send: the page with the overlay.
    response.content_length(*parser.content_length() + overlay_tag_.size());
  }
  if (injectable) {
    while (!parser.is_done() && page.size() <= options_.max_injected_html_bytes) {
      body.data = data.data();
      body.size = data.size();
      co_await beast_http::async_read_some(upstream, exchange.upstream_buffer, parser, use_ec(ec));
      if (ec == beast_http::error::need_buffer) ec = {};
      if (ec) break;
      page.append(data.data(), data.size() - body.size);
    }
    if (ec) {
      upstream.close();
      co_await stop_client_watch(exchange);
      auto answer = json_answer(exchange.client_version, status::bad_gateway,
                                "the service behind the waiting room failed while answering");
      co_await write_answer(client, std::move(answer), false, false, timeout);
      co_return false;
    }
    if (parser.is_done()) {
      inject_before_body_end(page, overlay_tag_);
      response.content_length(page.size());  // replaces chunked framing
    } else {
      page_pending = true;
    }
  }

  beast_http::serializer<false, beast_http::buffer_body> writer{response};
  // The header goes out alone only when the body is not here yet (a stream's first token
  // may be minutes away); otherwise it leaves with the first piece, in one write.
  if (!injectable && !parser.is_done() && exchange.upstream_buffer.size() == 0) {
    client.expires_after(timeout);
    co_await beast_http::async_write_header(client, writer, use_ec(ec));
  }
  while (!ec && !writer.is_done()) {
    if (injectable && !page_pending) {
      body.data = page.empty() ? nullptr : page.data();
      body.size = page.size();
      body.more = false;
    } else if (page_pending) {
      body.data = page.data();
      body.size = page.size();
      body.more = true;
      page_pending = false;
    } else if (!parser.is_done()) {
      body.data = data.data();
      body.size = data.size();
      co_await beast_http::async_read_some(upstream, exchange.upstream_buffer, parser, use_ec(ec));
      if (ec == beast_http::error::need_buffer) ec = {};
      if (ec) break;
      body.size = data.size() - body.size;
      body.data = data.data();
      body.more = !parser.is_done();
      if (body.size == 0) {  // as for the request body
        if (body.more) continue;
        body.data = nullptr;
      }
    } else {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
    }
    client.expires_after(timeout);
    co_await beast_http::async_write(client, writer, use_ec(ec));
    if (ec == beast_http::error::need_buffer) ec = {};
  }
  client.expires_never();
  co_await stop_client_watch(exchange);
  if (ec || !parser.is_done() || exchange.membership->cancelled()) {
    upstream.close();
    exchange.lease.stream.reset();
    co_return false;
  }
  exchange.membership->on_cancel(nullptr);
  if (upstream_keep_alive && exchange.upstream_buffer.size() == 0) {
    pool_->release(std::move(exchange.lease.stream));
  } else {
    upstream.close();
  }
  exchange.lease.stream.reset();
  co_return keep_alive;
}

namespace {

// Copies bytes one way until either side closes; then closes both, which ends the other
// direction too.
awaitable<void> pump(beast::tcp_stream& from, beast::tcp_stream& to, std::size_t buffer_bytes) {
  std::vector<char> data(buffer_bytes);
  boost::system::error_code ec;
  for (;;) {
    const auto n = co_await from.socket().async_read_some(asio::buffer(data), use_ec(ec));
    if (ec) break;
    co_await asio::async_write(to.socket(), asio::buffer(data.data(), n), use_ec(ec));
    if (ec) break;
  }
  from.close();
  to.close();
}

}  // namespace

awaitable<void> Gate::tunnel(Exchange& exchange) {
  auto& client = exchange.client;
  auto& upstream = *exchange.lease.stream;
  auto& response = exchange.response->get();
  strip_hop_by_hop(response.base(), true);
  response.version(11);
  boost::system::error_code ec;
  beast_http::serializer<false, beast_http::buffer_body> writer{response};
  client.expires_after(context_.limits.keep_alive_timeout);
  co_await beast_http::async_write_header(client, writer, use_ec(ec));
  client.expires_never();
  upstream.expires_never();
  // Bytes that came with the handshakes belong to the tunnel already.
  if (!ec && exchange.client_buffer.size() > 0) {
    co_await asio::async_write(upstream.socket(), exchange.client_buffer.data(), use_ec(ec));
    exchange.client_buffer.consume(exchange.client_buffer.size());
  }
  if (!ec && exchange.upstream_buffer.size() > 0) {
    co_await asio::async_write(client.socket(), exchange.upstream_buffer.data(), use_ec(ec));
    exchange.upstream_buffer.consume(exchange.upstream_buffer.size());
  }
  if (ec || exchange.membership->cancelled()) {
    client.close();
    upstream.close();
    co_return;
  }
  const auto strand = co_await asio::this_coro::executor;
  auto downstream_done = std::make_shared<http::Completion>(strand);
  const auto bytes = options_.relay_buffer_bytes / 4;
  asio::co_spawn(
      strand,
      [&upstream, &client, downstream_done, bytes]() -> awaitable<void> {
        co_await pump(upstream, client, bytes);
        downstream_done->set();
      },
      asio::detached);
  co_await pump(client, upstream, bytes);
  co_await downstream_done->wait();
  exchange.lease.stream.reset();
}

awaitable<http::Response> Gate::forward_auth(const http::Request& request) {
  std::string error;
  const auto identity = http::identify(context_, request, &error);
  if (!error.empty()) {
    auto answer = json_answer(request.version(), status::bad_request, error);
    answer.keep_alive(request.keep_alive());
    co_return answer;
  }
  const auto admission = co_await admit(identity);
  http::Response response;
  if (admission.connected) {
    response = http::Response{status::no_content, request.version()};
    response.set(kUserHeader, identity->user_id);
    response.set(beast_http::field::cache_control, "no-store");
  } else {
    // Traefik and Caddy hand this answer to the client as it is: a browser gets the page.
    response = refusal(request, admission, is_navigation(request));
    response.result(status::unauthorized);
  }
  response.keep_alive(request.keep_alive());
  response.prepare_payload();
  co_return response;
}

}  // namespace waitroom::gate
