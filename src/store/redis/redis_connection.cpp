// One Redis connection: see redis_connection.hpp for pipelining, timeouts and reconnection.
#include "store/redis/redis_connection.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>

namespace waitroom::store::redis {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "redis"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::not_connected:
        return "not connected to Redis";
      case Errc::timed_out:
        return "Redis did not answer in time";
      case Errc::connection_lost:
        return "the connection to Redis was lost";
      case Errc::stopped:
        return "the Redis connection was stopped";
      case Errc::protocol:
        return "Redis protocol error";
    }
    return "redis error";
  }
};

RedisReply convert(const redisReply* reply) {
  RedisReply out;
  switch (reply->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::string;
      out.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::status;
      out.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::error;
      out.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = reply->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.elements.reserve(reply->elements);
      for (std::size_t i = 0; i < reply->elements; ++i) {
        out.elements.push_back(convert(reply->element[i]));
      }
      break;
    default:
      break;  // nil
  }
  return out;
}

bool is_push(const RedisReply& reply, std::string_view kind, std::size_t size) {
  return reply.type == RedisReply::Type::array && reply.size() == size && reply.at(0).text == kind;
}

// Ticks per timeout: the watchdog wakes four times per timeout (at most every 250 ms, at
// least every 5 ms).
Duration tick_length(Duration timeout) {
  return std::clamp(timeout / 4, Duration{5}, Duration{250});
}

}  // namespace

const boost::system::error_category& error_category() {
  static const Category category;
  return category;
}

error_code make_error_code(Errc errc) {
  return {static_cast<int>(errc), error_category()};
}

namespace {

void append_length_line(std::string& out, char kind, std::size_t length) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, length).ptr;
  out += kind;
  out.append(digits, end);
  out += "\r\n";
}

}  // namespace

void append_array_header(std::string& out, std::size_t count) {
  append_length_line(out, '*', count);
}

void append_bulk(std::string& out, std::string_view argument) {
  append_length_line(out, '$', argument.size());
  out += argument;
  out += "\r\n";
}

std::string format_command(const std::vector<std::string>& args) {
  std::size_t size = 16;
  for (const auto& arg : args) size += arg.size() + 16;
  std::string out;
  out.reserve(size);
  append_array_header(out, args.size());
  for (const auto& arg : args) append_bulk(out, arg);
  return out;
}

std::shared_ptr<Connection> Connection::create(asio::any_io_executor executor,
                                               ConnectionOptions options) {
  return std::shared_ptr<Connection>(new Connection(std::move(executor), std::move(options)));
}

Connection::Connection(asio::any_io_executor executor, ConnectionOptions options)
    : strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      socket_(strand_),
      watchdog_(strand_),
      closed_(strand_),
      backoff_(strand_),
      reader_(redisReaderCreate()) {
  if (reader_ == nullptr) throw std::bad_alloc();
}

Connection::~Connection() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

void Connection::start() {
  asio::co_spawn(strand_, run(), asio::detached);
}

void Connection::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->fail(make_error_code(Errc::stopped), self->epoch_, "stopped");
    self->backoff_.cancel();
  });
}

void Connection::abandon() {
  stopped_ = true;
  auto pending = std::move(pending_);
  pending_.clear();
  pending.clear();
}

std::string Connection::last_error() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

void Connection::set_last_error(std::string text) {
  std::lock_guard lock(error_mutex_);
  last_error_ = std::move(text);
}

void Connection::post_enqueue(std::unique_ptr<ReplyCompletion> completion, std::string bytes,
                              std::size_t replies, bool internal) {
  asio::post(strand_, [self = shared_from_this(), completion = std::move(completion),
                       bytes = std::move(bytes), replies, internal]() mutable {
    self->enqueue(std::move(completion), std::move(bytes), replies, internal);
  });
}

void Connection::enqueue(std::unique_ptr<ReplyCompletion> completion, std::string bytes,
                         std::size_t replies, bool internal) {
  if (stopped_) {
    completion->complete(make_error_code(Errc::stopped), {});
    return;
  }
  if (!open_ || (!internal && !ready())) {
    completion->complete(make_error_code(Errc::not_connected), {});
    return;
  }
  output_ += bytes;
  pending_.push_back(Pending{std::move(completion), tick_, std::max<std::size_t>(replies, 1)});
  if (!writing_) start_write();
}

void Connection::start_write() {
  writing_ = true;
  in_flight_.clear();
  std::swap(in_flight_, output_);
  asio::async_write(socket_, asio::buffer(in_flight_),
                    [self = shared_from_this(), epoch = epoch_](error_code ec, std::size_t) {
                      if (epoch != self->epoch_ || !self->open_) return;
                      self->writing_ = false;
                      if (ec) {
                        self->fail(make_error_code(Errc::connection_lost), epoch,
                                   "write: " + ec.message());
                      } else if (!self->output_.empty()) {
                        self->start_write();
                      }
                    });
}

void Connection::dispatch(RedisReply reply) {
  idle_ticks_ = 0;
  if (options_.subscriber) {
    if (is_push(reply, "message", 3)) {
      if (options_.on_message)
        options_.on_message(reply.at(1).text, std::move(reply.elements[2].text));
      return;
    }
    if (is_push(reply, "pmessage", 4)) {
      if (options_.on_message)
        options_.on_message(reply.at(2).text, std::move(reply.elements[3].text));
      return;
    }
  }
  if (pending_.empty()) {
    fail(make_error_code(Errc::protocol), epoch_, "a reply nobody asked for");
    return;
  }
  auto& front = pending_.front();
  if (--front.replies_left > 0) return;
  auto completion = std::move(front.completion);
  pending_.pop_front();
  completion->complete({}, std::move(reply));
}

void Connection::fail(error_code ec, std::uint64_t epoch, const std::string& why) {
  if (epoch != epoch_) return;
  const bool was_ready = ready();
  ready_.store(false, std::memory_order_release);
  if (open_ && !stopped_) {
    if (was_ready) {
      spdlog::warn("{}: connection to {}:{} lost: {}", options_.name, options_.endpoint.host,
                   options_.endpoint.port, why);
    }
    set_last_error(why);
  }
  open_ = false;
  ++epoch_;  // every handler of the old socket is now stale
  error_code ignored;
  socket_.close(ignored);
  watchdog_.cancel();
  closed_.cancel();
  writing_ = false;
  output_.clear();
  in_flight_.clear();
  redisReaderFree(reader_);
  reader_ = redisReaderCreate();
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& entry : pending) entry.completion->complete(ec, {});
  if (was_ready && options_.on_state) options_.on_state(false);
}

asio::awaitable<void> Connection::run() {
  auto self = shared_from_this();
  Duration backoff = options_.min_backoff;
  bool logged_down = false;
  while (!stopped_) {
    error_code ec = co_await connect_once();
    if (!ec) {
      // The watchdog runs from the connect on, so that a handshake with a Redis that accepts
      // connections but does not answer (stopped, overloaded) times out like any command.
      const auto epoch = epoch_;
      asio::co_spawn(strand_, read_loop(epoch), asio::detached);
      asio::co_spawn(strand_, watch(epoch), asio::detached);
      ec = co_await handshake();
      if (!ec && epoch == epoch_ && open_ && !stopped_) {
        ready_.store(true, std::memory_order_release);
        set_last_error({});
        if (logged_down) {
          spdlog::info("{}: connected to {}:{} again", options_.name, options_.endpoint.host,
                       options_.endpoint.port);
        }
        logged_down = false;
        backoff = options_.min_backoff;
        if (options_.on_state) options_.on_state(true);
        // Until fail() (an error, a timeout, stop) cancels the wait.
        while (epoch == epoch_ && open_ && !stopped_) {
          closed_.expires_at(asio::steady_timer::time_point::max());
          error_code wait_ec;
          co_await closed_.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
        }
        continue;  // the connection failed; reconnect at once, then back off
      }
      fail(ec ? ec : make_error_code(Errc::connection_lost), epoch, last_error());
    }
    if (stopped_) break;
    if (!logged_down) {
      spdlog::warn("{}: cannot connect to {}:{}: {} (retrying with backoff)", options_.name,
                   options_.endpoint.host, options_.endpoint.port, last_error());
      logged_down = true;
    }
    backoff_.expires_after(backoff);
    error_code wait_ec;
    co_await backoff_.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

asio::awaitable<error_code> Connection::connect_once() {
  // The connect deadline closes the socket (or cancels the resolver) when it passes; `done`
  // keeps a deadline that fired just as the connect completed from closing the new socket.
  auto resolver = std::make_shared<tcp::resolver>(strand_);
  auto deadline = std::make_shared<asio::steady_timer>(strand_);
  auto done = std::make_shared<bool>(false);
  deadline->expires_after(options_.timeout);
  deadline->async_wait([self = shared_from_this(), resolver, done](error_code ec) {
    if (ec || *done) return;
    resolver->cancel();
    error_code ignored;
    self->socket_.close(ignored);
  });
  error_code ec;
  const auto endpoints = co_await resolver->async_resolve(
      options_.endpoint.host, std::to_string(options_.endpoint.port),
      asio::redirect_error(asio::use_awaitable, ec));
  if (!ec && !stopped_) {
    socket_ = tcp::socket(strand_);
    co_await asio::async_connect(socket_, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  }
  *done = true;
  deadline->cancel();
  if (stopped_) co_return make_error_code(Errc::stopped);
  if (ec) {
    set_last_error(ec == asio::error::operation_aborted ? std::string("connect timed out")
                                                        : ec.message());
    error_code ignored;
    socket_.close(ignored);
    co_return ec;
  }
  socket_.set_option(tcp::no_delay(true), ec);
  ++epoch_;
  open_ = true;
  tick_ = 0;
  idle_ticks_ = 0;
  co_return error_code{};
}

asio::awaitable<RedisReply> Connection::internal_command(Command command, error_code& ec) {
  co_return co_await async_send(std::move(command), true,
                                asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<error_code> Connection::handshake() {
  std::vector<Command> commands;
  if (!options_.endpoint.password.empty()) {
    Command auth{{"AUTH"}};
    if (!options_.endpoint.username.empty()) auth.args.push_back(options_.endpoint.username);
    auth.args.push_back(options_.endpoint.password);
    commands.push_back(std::move(auth));
  }
  if (options_.endpoint.db != 0) {
    commands.push_back({{"SELECT", std::to_string(options_.endpoint.db)}});
  }
  // Redis answers before the connection counts as ready: accepting a TCP connection proves
  // nothing (a stopped Redis still does).
  commands.push_back({{"PING"}});
  if (options_.on_connect) {
    for (auto& command : options_.on_connect()) commands.push_back(std::move(command));
  }
  for (auto& command : commands) {
    const std::string name = command.args.empty() ? "" : command.args[0];
    error_code ec;
    const auto reply = co_await internal_command(std::move(command), ec);
    if (ec) co_return ec;
    if (reply.is_error()) {
      // WRONGPASS, NOAUTH, a database out of range, a script Redis refuses to load: the
      // configuration is wrong, and retrying with backoff shows it in the log and /health.
      set_last_error(name + " refused: " + reply.text);
      co_return make_error_code(Errc::protocol);
    }
  }
  co_return error_code{};
}

asio::awaitable<void> Connection::read_loop(std::uint64_t epoch) {
  auto self = shared_from_this();
  std::vector<char> buffer(16 * 1024);
  for (;;) {
    error_code ec;
    const std::size_t n = co_await socket_.async_read_some(
        asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (epoch != epoch_) co_return;
    if (ec) {
      fail(make_error_code(Errc::connection_lost), epoch,
           ec == asio::error::eof ? std::string("closed by Redis") : "read: " + ec.message());
      co_return;
    }
    if (redisReaderFeed(reader_, buffer.data(), n) != REDIS_OK) {
      fail(make_error_code(Errc::protocol), epoch, "unreadable reply");
      co_return;
    }
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
        fail(make_error_code(Errc::protocol), epoch, "unreadable reply");
        co_return;
      }
      if (raw == nullptr) break;
      RedisReply reply = convert(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      dispatch(std::move(reply));
      if (epoch != epoch_) co_return;
    }
  }
}

asio::awaitable<void> Connection::watch(std::uint64_t epoch) {
  auto self = shared_from_this();
  const Duration tick = tick_length(options_.timeout);
  const std::uint64_t timeout_ticks =
      std::max<std::uint64_t>(1, (options_.timeout.count() + tick.count() - 1) / tick.count());
  while (epoch == epoch_ && open_ && !stopped_) {
    watchdog_.expires_after(tick);
    error_code ec;
    co_await watchdog_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (epoch != epoch_ || !open_ || stopped_) break;
    ++tick_;
    if (!pending_.empty() && tick_ - pending_.front().sent_tick > timeout_ticks) {
      fail(make_error_code(Errc::timed_out), epoch, "no reply within the timeout");
      break;
    }
    if (pending_.empty() && ++idle_ticks_ >= timeout_ticks) {
      // Keep-alive: a peer that died without closing is noticed within two timeouts.
      idle_ticks_ = 0;
      asio::co_spawn(
          strand_,
          [self]() -> asio::awaitable<void> {
            error_code ignored;
            Command ping{{"PING"}};
            co_await self->internal_command(std::move(ping), ignored);
          },
          asio::detached);
    }
  }
}

}  // namespace waitroom::store::redis
