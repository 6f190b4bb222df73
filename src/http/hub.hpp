// The Hub: user id → the notification streams open for that user.
//
// It is the store's EventSink: every batch of engine events passes through on_events
// (called with the store's lock held, so batches arrive in order). For each event whose
// user has an open stream, the message is built once and handed to each stream, which
// posts it to its own strand; the Hub never does I/O and holds its mutex only to look up
// streams. Events also feed the wait and session histograms.
//
// With the Redis store the notifications arrive already rendered, over pub/sub, for the
// users whose streams this instance holds (on_notification), and the histograms are fed by
// the operations this instance ran (on_measurement).
//
// Position updates of waiting users are coalesced (DESIGN.md §3): one admission moves
// every waiting user, so instead of an event per user per change, run_position_updates
// wakes every position_update_interval, and when the engine's queue_version moved it
// asks the store for the positions of users with open streams and sends one update to
// each whose position differs from the last one it was sent.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/server_metrics.hpp"
#include "http/stream.hpp"
#include "store/store.hpp"

namespace waitroom::http {

class Hub final : public store::EventSink {
 public:
  explicit Hub(ServerMetrics& metrics);

  void add(const std::string& user_id, std::shared_ptr<Stream> stream);
  void remove(const std::string& user_id, const Stream* stream);
  // The position a stream's first message told the user, so that the next coalesced
  // update is sent only when it differs.
  void note_position(const std::string& user_id, std::uint64_t position);

  void on_events(const std::vector<engine::Event>& events, std::uint64_t sequence) override;
  // The Redis store's path: notifications already rendered, durations measured elsewhere.
  void on_notification(std::string_view user_id, std::string message, std::uint64_t sequence,
                       std::uint64_t position) override;
  void on_measurement(engine::Event::Kind kind, Duration measured) override;
  // Drops every open stream: their clients reconnect and get their current state first.
  void on_notifications_lost() override;

  std::size_t open_streams() const;
  // The counted streams (SSE, WebSocket) open for one user.
  std::size_t streams_of(const std::string& user_id) const;
  std::vector<std::string> subscribed_users() const;
  // Sends a waiting update to each user in `users` (parallel to positions.views) who is
  // waiting at a position other than the last one sent. Returns how many were sent.
  std::size_t publish_positions(const std::vector<std::string>& users,
                                const store::Positions& positions);

 private:
  struct Subscriber {
    std::vector<std::shared_ptr<Stream>> streams;
    std::uint64_t last_position = 0;  // 0: none sent, or not waiting
  };
  void deliver_locked(const Subscriber& subscriber, std::string message, std::uint64_t sequence);
  void observe(engine::Event::Kind kind, Duration measured);

  ServerMetrics& metrics_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Subscriber> subscribers_;
  std::size_t open_streams_ = 0;
};

// Runs until the io_context stops: the coalescing loop. A store that cannot answer (Redis
// unreachable) skips a round.
boost::asio::awaitable<void> run_position_updates(store::Store& store, Hub& hub, Duration interval);

}  // namespace waitroom::http
