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
//
// Who acts: the operations on a user's place (join, confirm, leave, heartbeat, opening a
// stream) take the Actor that the HTTP layer built from the request's credentials, and check
// it against the record they act on in the same atomic step as the act (the embedded store
// under its lock, a Redis store in the operation's script). A check made in a separate step
// before the act could pass for a record that is then created, forgotten or re-created by
// someone else: two simultaneous joins of one new id would both get a ticket. A refused
// operation changes nothing and answers `forbidden`.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
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
//
// The Redis store runs the engine inside Redis, so it has no engine::Event to hand over:
// its scripts render each notification and publish it, and every instance receives those
// of the users whose streams it holds (on_notification, in sequence order). The durations
// that the histograms need come back with the reply of the operation that measured them
// (on_measurement, on the instance that ran it). A store that may have missed
// notifications (its subscription was lost) says so, and the sink drops its streams so
// that their clients reconnect and read their state afresh (on_notifications_lost).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_events(const std::vector<engine::Event>& events, std::uint64_t sequence) = 0;
  // `message` is a notification as json_messages.hpp renders it; `position` the waiting
  // position it announces (0: not a waiting message).
  virtual void on_notification(std::string_view /*user_id*/, std::string /*message*/,
                               std::uint64_t /*sequence*/, std::uint64_t /*position*/) {}
  // engine::Event::Kind::draft (the wait) or disconnected (a session's length).
  virtual void on_measurement(engine::Event::Kind /*kind*/, Duration /*measured*/) {}
  virtual void on_notifications_lost() {}
};

// The store cannot answer now: its backend is unreachable or did not answer within its
// timeout. Nothing was acknowledged, although an operation that timed out may still have
// taken effect. The HTTP layer answers 503 with Retry-After.
class Unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What /health reports.
struct Health {
  std::string store;  // "embedded" or "redis"
  bool ok = true;
  std::string detail;  // why not, when not ok
};

// Who acts on a user's place. Plain data, so that any store can check it where it acts.
struct Actor {
  // May act on every generation of the id: the backend API key, open mode, an admin.
  bool any_generation = false;
  // The generation named by each valid ticket for this user id (cookie, bearer).
  std::array<std::optional<std::uint64_t>, 2> generations{};
  // Some valid credential was presented, if only for another user or as the admin token.
  // The store ignores it; it tells a refused caller's 403 from a 401.
  bool has_credentials = false;

  static Actor anyone() { return Actor{.any_generation = true}; }

  // May this actor act on a record of `generation`? nullopt: the id has no record, which
  // any ticket for the id may act on (the operation then answers "unknown user").
  bool may_act_on(std::optional<std::uint64_t> generation) const {
    if (any_generation) return true;
    for (const auto& held : generations) {
      if (held && (!generation || *held == *generation)) return true;
    }
    return false;
  }
};

// A user's state at one instant.
struct Viewed {
  std::optional<engine::UserView> view;  // nullopt: unknown user id (or forbidden)
  TimePoint now{};
  std::uint64_t sequence = 0;  // the store sequence the view reflects
  bool forbidden = false;      // the actor may not act on this id: nothing changed
};

template <class Result>
struct At {
  Result result;  // default-constructed when forbidden
  TimePoint now{};
  bool forbidden = false;  // the actor may not act on this id: nothing changed
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

  // An unknown id may be taken by anyone; an existing record (disconnected but not yet
  // forgotten included) only by an actor that may act on its generation.
  virtual awaitable<At<engine::JoinResult>> join(std::string_view user_id, Actor actor) = 0;
  // These act only for an actor that may act on the record (Actor::may_act_on).
  virtual awaitable<At<engine::ConfirmResult>> confirm(std::string_view user_id, Actor actor) = 0;
  virtual awaitable<At<engine::LeaveResult>> leave(std::string_view user_id, Actor actor) = 0;
  virtual awaitable<At<engine::HeartbeatResult>> heartbeat(std::string_view user_id,
                                                           Actor actor) = 0;
  // The admin's: the HTTP layer checked the admin token; acts on any generation.
  virtual awaitable<At<engine::LeaveResult>> kick(std::string_view user_id) = 0;

  // The user's state without side effects.
  virtual awaitable<Viewed> find(std::string_view user_id) = 0;
  // A status poll: the user's state, and proof of presence (engine touch).
  virtual awaitable<Viewed> poll(std::string_view user_id) = 0;
  // An event stream opened (presence until it closes); answers the state to send first.
  // Checks the actor as confirm does; only a stream that opened is closed.
  virtual awaitable<Viewed> stream_opened(std::string_view user_id, Actor actor) = 0;
  virtual awaitable<void> stream_closed(std::string_view user_id) = 0;
  // Interest in a user's notifications without being a stream (no proof of presence): the
  // gate's watchers, which end a user's proxied traffic with the session. The embedded store
  // hands every notification to its sink anyway; the Redis store subscribes to the user's
  // channel (counted, so each watch needs its unwatch). Throws Unavailable like any call.
  virtual awaitable<void> watch(std::string_view user_id) {
    (void)user_id;
    co_return;
  }
  virtual void unwatch(std::string_view user_id) { (void)user_id; }

  virtual awaitable<std::uint64_t> queue_version() = 0;
  virtual awaitable<Positions> positions(const std::vector<std::string>& user_ids) = 0;

  virtual awaitable<MetricsSnapshot> metrics() = 0;
  virtual awaitable<engine::Snapshot> snapshot() = 0;
  virtual awaitable<engine::Settings> settings() = 0;
  virtual awaitable<void> update_settings(engine::Settings settings) = 0;
  virtual awaitable<bool> set_paused(bool paused) = 0;

  // Whether the store can answer now (always, for the embedded store).
  virtual Health health() const { return Health{"embedded", true, {}}; }

  // Stops the store's timers; operations after stop still answer.
  virtual void stop() = 0;
};

}  // namespace waitroom::store
