// Pieces shared by the SSE and WebSocket sessions: registering a stream with the Hub and
// the store for as long as it is open, and waiting for the session's reader coroutine to
// finish before the socket it reads from goes away.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>

#include "http/json_messages.hpp"
#include "http/server.hpp"
#include "http/stream_channel.hpp"

namespace waitroom::http {

// Signals, on one strand, that a helper coroutine has finished.
class Completion {
 public:
  explicit Completion(boost::asio::any_io_executor strand)
      : timer_(strand, boost::asio::steady_timer::time_point::max()) {}
  void set() {
    done_ = true;
    timer_.cancel();
  }
  boost::asio::awaitable<void> wait() {
    while (!done_) {
      boost::system::error_code ec;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
  }

 private:
  boost::asio::steady_timer timer_;
  bool done_ = false;
};

// The Hub registration of one stream: added on construction, removed (and the channel
// closed) on destruction, which also covers a session destroyed at shutdown.
class HubRegistration {
 public:
  HubRegistration(Hub& hub, std::string user_id, std::shared_ptr<StreamChannel> channel)
      : hub_(hub), user_id_(std::move(user_id)), channel_(std::move(channel)) {
    hub_.add(user_id_, channel_);
  }
  ~HubRegistration() {
    channel_->close();
    hub_.remove(user_id_, channel_.get());
  }
  HubRegistration(const HubRegistration&) = delete;
  HubRegistration& operator=(const HubRegistration&) = delete;

 private:
  Hub& hub_;
  std::string user_id_;
  std::shared_ptr<StreamChannel> channel_;
};

// Tells the store the stream is open and queues the user's current state as the first
// message, unless the client says (SSE Last-Event-ID) that it already holds the state as of
// the current store sequence: sequences are journaled, so an id from before a restart is
// never mistaken for a current one. False when the store refused `actor` (nothing was
// opened, so nothing is to be closed, and nothing has been sent yet: the caller answers
// refusal_for). Called with the stream's Hub registration in place, so that no
// notification newer than the first message is missed.
inline boost::asio::awaitable<bool> open_stream(ServerContext& context, const std::string& user_id,
                                                const store::Actor& actor, StreamChannel& channel,
                                                std::optional<std::uint64_t> last_event_id = {}) {
  const auto viewed = co_await context.store.stream_opened(user_id, actor);
  if (viewed.forbidden) co_return false;
  if (last_event_id && *last_event_id == viewed.sequence) {
    channel.skip_first(viewed.sequence);
  } else {
    channel.set_first(state_message(user_id, viewed.view, viewed.now), viewed.sequence);
  }
  if (viewed.view && viewed.view->status == engine::Status::waiting) {
    context.hub.note_position(user_id, viewed.view->position);
  }
  co_return true;
}

}  // namespace waitroom::http
