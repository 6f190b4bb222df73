// The outgoing side shared by the SSE and WebSocket sessions: a bounded queue of messages
// that lives on the connection's strand, and a timer used to wake the writer.
//
// This is the Beast chat example's "one write in flight plus a queue": the session's
// writer loop pops one message, writes it, and when the queue is empty waits on the wake
// timer (armed at the next keep-alive). deliver() may be called from any thread; it posts
// to the strand, appends, and cancels the timer. A client that lets more than
// `max_queued` messages pile up is too slow to follow the queue: the channel closes and
// calls `on_overflow` so that the session drops the connection (the client reconnects and
// gets the current state first).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <optional>
#include <vector>

#include "engine/time.hpp"
#include "http/stream.hpp"

namespace waitroom::http {

class StreamChannel final : public Stream, public std::enable_shared_from_this<StreamChannel> {
 public:
  using Executor = boost::asio::any_io_executor;

  StreamChannel(Executor strand, std::size_t max_queued, std::function<void()> on_overflow);

  void deliver(std::shared_ptr<const std::string> message, std::uint64_t sequence) override;
  // Closes the channel and its connection, as an overflow does.
  void drop() override;

  // The rest runs on the strand only.

  // The first message: the state as of store sequence `sequence`; queued messages older
  // than it are dropped.
  void set_first(std::string message, std::uint64_t sequence);
  // Like set_first, for a client that already holds the state as of `sequence` (an SSE
  // reconnect whose Last-Event-ID is current): nothing is re-sent, older messages drop.
  void skip_first(std::uint64_t sequence);
  // The next message to write, if any.
  std::optional<std::shared_ptr<const std::string>> pop();
  // The same, with the store sequence it reflects (the SSE event id).
  struct Entry {
    std::shared_ptr<const std::string> message;
    std::uint64_t sequence;
  };
  std::optional<Entry> pop_entry();
  // Waits until a message is queued, the channel closes, or `keepalive` elapses. Returns
  // true when the wait ran out (time for a keep-alive).
  boost::asio::awaitable<bool> wait(Duration keepalive);
  void close();
  bool closed() const { return closed_; }

 private:
  struct Pending {
    std::shared_ptr<const std::string> message;
    std::uint64_t sequence;  // ordering key: the first message sorts after its snapshot
    std::uint64_t id;        // the store sequence the message reflects
  };
  Executor strand_;
  boost::asio::steady_timer wake_;
  // A vector, not a deque: an idle stream's queue is empty, and libstdc++'s deque allocates
  // a 512-byte block up front, per stream. At most max_queued entries, so erasing at the
  // front costs little.
  std::vector<Pending> queue_;
  std::size_t max_queued_;
  std::function<void()> on_overflow_;
  std::uint64_t first_sequence_ = 0;
  bool closed_ = false;
};

}  // namespace waitroom::http
