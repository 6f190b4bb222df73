// One connection to Redis over Boost.Asio, with hiredis doing only the protocol: commands are
// encoded by redisFormatCommandArgv and replies parsed by a redisReader fed with the bytes
// the socket read (NOTES-toolchain.md). No thread per request and no blocking call.
//
// Pipelining: any number of callers may have commands in flight at once. A command is
// formatted by its caller, then appended on the connection's strand to an output buffer
// and its completion to a FIFO; one write is in flight at a time and carries everything
// appended meanwhile, so that a burst of concurrent requests costs one write() and one
// read(). Replies come back in order, so each one completes the front of the FIFO.
//
// Failures: a connect and every command have a deadline (`timeout`): a watchdog ticking
// four times per timeout fails the connection when the oldest command has waited longer,
// which bounds any wait to about 1.25 timeouts. A failed connection completes every
// command in flight with an error (the caller answers 503: a command that timed out may
// still have run, which is why nothing is acknowledged on its strength), then reconnects
// with exponential backoff (50 ms doubling up to max_backoff). While it is down, a command
// fails at once with not_connected instead of queueing: better a fast 503 than a hang. An
// idle connection sends a PING every `timeout` so that a dead peer is noticed even without
// traffic (the subscriber connection may be idle for long).
//
// On every (re)connection, before it accepts commands, the connection sends AUTH and
// SELECT when configured, a PING, then the commands of `on_connect` (the subscriptions, on a
// subscriber), and only then counts as ready.
//
// Subscriber mode: published messages (["message", channel, payload] and pmessage) are not
// replies: they go to on_message, and the subscription confirmations complete the FIFO like
// any reply. Everything runs on the connection's strand; the callbacks too.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/time.hpp"
#include "store/redis/completion.hpp"
#include "store/redis/redis_reply.hpp"

struct redisReader;

namespace waitroom::store::redis {

enum class Errc {
  not_connected = 1,  // the connection is down (reconnecting): the command was not sent
  timed_out,          // no reply within the timeout: the connection was dropped
  connection_lost,    // the connection failed while the command was in flight
  stopped,            // the connection was stopped
  protocol,           // Redis sent something hiredis could not parse
};
const boost::system::error_category& error_category();
boost::system::error_code make_error_code(Errc errc);

struct Endpoint {
  std::string host = "localhost";
  std::uint16_t port = 6379;
  unsigned db = 0;
  std::string username;  // a Redis 6 ACL user; empty: the default user
  std::string password;  // empty: no AUTH
};

struct Command {
  std::vector<std::string> args;
  std::size_t replies = 1;  // SUBSCRIBE a b c answers three times
};

// The RESP encoding of commands: an array header, then each argument as a bulk string.
// Written here rather than by redisFormatCommandArgv, whose sprintf per argument cost more
// than the rest of encoding a call; the Redis store appends an operation's arguments one by
// one, without a vector of strings.
void append_array_header(std::string& out, std::size_t count);
void append_bulk(std::string& out, std::string_view argument);
std::string format_command(const std::vector<std::string>& args);

struct ConnectionOptions {
  Endpoint endpoint;
  Duration timeout{2000};
  Duration min_backoff{50};
  Duration max_backoff{2000};
  std::string name = "redis";  // in log lines
  bool subscriber = false;
  std::function<std::vector<Command>()> on_connect;
  std::function<void(std::string_view channel, std::string payload)> on_message;
  // Ready (true) or lost (false), each time it changes.
  std::function<void(bool ready)> on_state;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  static std::shared_ptr<Connection> create(boost::asio::any_io_executor executor,
                                            ConnectionOptions options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts connecting (and reconnecting until stop()).
  void start();
  // Fails what is in flight with `stopped`, closes, and stops reconnecting.
  void stop();
  // Drops the completions still waiting, without running them. Only when no thread runs the
  // io_context any more (after io_context::shutdown): a completion holds its caller's
  // coroutine, which may hold this connection, and that cycle would never be freed.
  void abandon();
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Why the connection is down (empty while it is up).
  std::string last_error() const;

  // Sends one command; completes with its reply (an error reply is a reply, not an error
  // code), or with an Errc when the connection could not deliver one.
  template <class Token>
  auto async_execute(Command command, Token&& token) {
    return async_send(std::move(command), false, std::forward<Token>(token));
  }
  // The same, for a command already encoded (one reply).
  template <class Token>
  auto async_execute_encoded(std::string bytes, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, RedisReply)>(
        [self = shared_from_this()](auto handler, std::string bytes) {
          self->post_enqueue(
              make_completion<boost::system::error_code, RedisReply>(std::move(handler)),
              std::move(bytes), 1, false);
        },
        token, std::move(bytes));
  }

 private:
  // `internal`: a handshake or keep-alive command, sent before the connection is ready.
  template <class Token>
  auto async_send(Command command, bool internal, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, RedisReply)>(
        [self = shared_from_this(), internal](auto handler, std::string bytes,
                                              std::size_t replies) {
          self->post_enqueue(
              make_completion<boost::system::error_code, RedisReply>(std::move(handler)),
              std::move(bytes), replies, internal);
        },
        token, format_command(command.args), command.replies);
  }

  using ReplyCompletion = Completion<boost::system::error_code, RedisReply>;
  struct Pending {
    std::unique_ptr<ReplyCompletion> completion;
    std::uint64_t sent_tick;
    std::size_t replies_left;
  };

  Connection(boost::asio::any_io_executor executor, ConnectionOptions options);

  void post_enqueue(std::unique_ptr<ReplyCompletion> completion, std::string bytes,
                    std::size_t replies, bool internal);
  // The rest runs on the strand.
  void enqueue(std::unique_ptr<ReplyCompletion> completion, std::string bytes, std::size_t replies,
               bool internal);
  void start_write();
  void dispatch(RedisReply reply);
  void fail(boost::system::error_code ec, std::uint64_t epoch, const std::string& why);
  void set_last_error(std::string text);
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<boost::system::error_code> connect_once();
  boost::asio::awaitable<boost::system::error_code> handshake();
  boost::asio::awaitable<RedisReply> internal_command(Command command,
                                                      boost::system::error_code& ec);
  boost::asio::awaitable<void> read_loop(std::uint64_t epoch);
  boost::asio::awaitable<void> watch(std::uint64_t epoch);

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  ConnectionOptions options_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer watchdog_;
  boost::asio::steady_timer closed_;  // run() waits on it while the connection is up
  boost::asio::steady_timer backoff_;
  redisReader* reader_ = nullptr;
  std::deque<Pending> pending_;
  std::string output_;     // appended while a write is in flight
  std::string in_flight_;  // the bytes of the write in flight
  bool writing_ = false;
  bool open_ = false;        // the socket is connected (handshake included)
  bool stopped_ = false;     // strand copy of the stop request
  std::uint64_t epoch_ = 0;  // one per successful connect; stale handlers compare it
  std::uint64_t tick_ = 0;   // watchdog ticks, the clock of the timeouts
  std::uint64_t idle_ticks_ = 0;
  std::atomic<bool> ready_{false};
  mutable std::mutex error_mutex_;
  std::string last_error_ = "not connected yet";
};

}  // namespace waitroom::store::redis

namespace boost::system {
template <>
struct is_error_code_enum<waitroom::store::redis::Errc> : std::true_type {};
}  // namespace boost::system
