// The store: the queue state as the HTTP layer sees it.
//
// Every method is an awaitable because the Redis store and the durable embedded store
// complete asynchronously; the ephemeral embedded store completes at once. A store reads the
// injected Clock itself, so handlers never pass `now`. Results are the engine's own
// result types, plus the instant they were computed at, so that answers (remaining time,
// timestamps) are consistent with the state they describe.
//
// Arguments passed by string_view must outlive the awaited call; that holds when the
// caller co_awaits the call directly, which is the only way the HTTP layer uses them.
//
// Notifications: every operation drains the engine's events and hands them, in order,
// to the EventSink, stamped with a store-wide sequence number that increases with every
// state change. A stream that snapshots a user's state (stream_opened) gets the sequence
// of that snapshot and ignores older notifications, so its first message is never
// followed by a stale one.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"
#include "engine/time.hpp"

namespace waitroom::store {

template <class T>
using awaitable = boost::asio::awaitable<T>;

// Receives the events of each operation, in the order the engine decided them. Called
// with the store's lock held, so that batches arrive in sequence order: an
// implementation must not call back into the store and must not block.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_events(const std::vector<engine::Event>& events, std::uint64_t sequence) = 0;
};

// A user's state at one instant.
struct Viewed {
  std::optional<engine::UserView> view;  // nullopt: unknown user id
  TimePoint now{};
  std::uint64_t sequence = 0;  // the store sequence the view reflects
};

template <class Result>
struct At {
  Result result;
  TimePoint now{};
};

// Positions of several users at once, for coalesced position updates.
struct Positions {
  std::vector<std::optional<engine::UserView>> views;  // parallel to the ids asked for
  std::uint64_t queue_version = 0;
  std::uint64_t sequence = 0;
  TimePoint now{};
};

// Everything /metrics and /queue/metrics report.
struct MetricsSnapshot {
  std::size_t waiting = 0;
  std::size_t draft = 0;
  std::size_t connected = 0;
  std::uint32_t total_slots = 0;
  bool paused = false;
  Duration average_wait{0};
  Duration average_session{0};
  engine::Counters counters;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual awaitable<At<engine::JoinResult>> join(std::string_view user_id) = 0;
  virtual awaitable<At<engine::ConfirmResult>> confirm(std::string_view user_id) = 0;
  virtual awaitable<At<engine::LeaveResult>> leave(std::string_view user_id) = 0;
  virtual awaitable<At<engine::LeaveResult>> kick(std::string_view user_id) = 0;
  virtual awaitable<At<engine::HeartbeatResult>> heartbeat(std::string_view user_id) = 0;

  // The user's state without side effects.
  virtual awaitable<Viewed> find(std::string_view user_id) = 0;
  // A status poll: the user's state, and proof of presence (engine touch).
  virtual awaitable<Viewed> poll(std::string_view user_id) = 0;
  // An event stream opened (presence until it closes); answers the state to send first.
  virtual awaitable<Viewed> stream_opened(std::string_view user_id) = 0;
  virtual awaitable<void> stream_closed(std::string_view user_id) = 0;

  virtual awaitable<std::uint64_t> queue_version() = 0;
  virtual awaitable<Positions> positions(const std::vector<std::string>& user_ids) = 0;

  virtual awaitable<MetricsSnapshot> metrics() = 0;
  virtual awaitable<engine::Snapshot> snapshot() = 0;
  virtual awaitable<engine::Settings> settings() = 0;
  virtual awaitable<void> update_settings(engine::Settings settings) = 0;
  virtual awaitable<bool> set_paused(bool paused) = 0;

  // Stops the store's timers; operations after stop still answer.
  virtual void stop() = 0;
};

}  // namespace waitroom::store
