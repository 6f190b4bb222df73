// The queue engine: the whole waiting-room state machine of DESIGN.md §2.
//
// The engine is pure and deterministic. It does no I/O, starts no thread and reads no
// clock: every operation takes `now`, and the transport layer keeps one timer armed at
// `next_deadline()` that calls `advance(now)`. Given the same sequence of calls with the
// same arguments, two engines end in the same state and emit the same events; the
// simulator (test/sim) relies on that to replay a failure from its seed.
//
// Admission is event-driven: every operation that can free a slot (leave, timeout, kick,
// raising the cap, resume) offers drafts to the head of the queue before it returns.
//
// Everything the outside world must hear about is appended to an event list, drained
// with `take_events()`. Position changes of waiting users are NOT emitted per admission
// (that would cost one event per waiting user); the transport compares `queue_version()`
// and asks `find()` for the positions of the users whose streams are open.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/time.hpp"

namespace waitroom::engine {

enum class Status : std::uint8_t { waiting, draft, connected, disconnected };

// Why a user left a state: carried by disconnections and by a draft requeue.
enum class Reason : std::uint8_t {
  none,
  left,
  kicked,
  draft_timeout,
  session_timeout,
  idle_timeout,
  abandoned,
};

// Where a user whose draft ran out goes back in the queue.
enum class RequeuePolicy : std::uint8_t {
  back,   // behind everyone (default): the draft was theirs and they let it pass
  front,  // ahead of everyone: they get the next free slot again
};

std::string_view to_string(Status status);
std::string_view to_string(Reason reason);
std::string_view to_string(RequeuePolicy policy);

// Every setting that the engine obeys. A zero duration turns the corresponding timeout
// (idle, presence, expiring-soon warning) off; the draft and session durations must be
// positive. The values are checked by the configuration layer, not here.
struct Settings {
  std::uint32_t max_active_users = 50;
  Duration session_duration = std::chrono::seconds{1200};
  Duration draft_duration = std::chrono::seconds{300};
  Duration idle_timeout = std::chrono::seconds{300};
  Duration presence_timeout = std::chrono::seconds{120};
  std::uint32_t max_draft_misses = 2;
  Duration expiring_soon = std::chrono::seconds{60};
  RequeuePolicy requeue_policy = RequeuePolicy::back;
  // When true a heartbeat renews a session to a full SESSION_DURATION from now. Off by
  // default: sessions are capped at SESSION_DURATION from confirmation.
  bool session_renewal = false;
  // How long a disconnected user's record (status, reason, identity generation) is kept
  // before the user id is forgotten and `find` answers nothing.
  Duration disconnected_retention = std::chrono::seconds{3600};
  // Cold-start estimate: until enough admissions have been observed, the wait of the
  // user at position p is estimated as ceil(p / max_active_users) * session_duration.
};

// What one user looks like at one instant.
struct UserView {
  Status status = Status::disconnected;
  Reason reason = Reason::none;  // of the last disconnection or requeue
  std::uint64_t position = 0;    // 1-based while waiting, 0 otherwise
  // Draft expiry while in draft, session end while connected; epoch otherwise.
  TimePoint deadline{};
  Duration total_duration{0};  // draft or session length that `deadline` ends
  std::uint32_t draft_misses = 0;
  // Changes only when a user id is created anew (first join, or join after the record
  // was forgotten). Identity tickets are bound to it, so an old ticket stops working
  // once its user id has been forgotten and taken again.
  std::uint64_t generation = 0;
  Duration estimated_wait{0};  // while waiting
};

// Seed-compatible position codes for states other than waiting (DESIGN.md §3).
constexpr std::int64_t kDraftPosition = -1;
constexpr std::int64_t kConnectedPosition = -2;
// The position as the seed's API reports it: 1..N waiting, -1 draft, -2 connected,
// 0 disconnected.
std::int64_t api_position(const UserView& view);

// A notification for one user, in the order the engine decided it.
struct Event {
  enum class Kind : std::uint8_t {
    waiting,        // joined the queue (position, estimated_wait)
    draft,          // a slot is held for them (duration = draft length, expires_at)
    connected,      // confirmed (duration = session length, expires_at)
    expiring_soon,  // remaining time of a draft or session (session_type)
    requeued,       // draft ran out, back in the queue (reason, position)
    disconnected,   // reason
  };
  Kind kind;
  std::string user_id;
  Reason reason = Reason::none;
  std::uint64_t position = 0;
  Duration estimated_wait{0};
  Duration duration{0};
  TimePoint expires_at{};
  Duration remaining{0};
  Status session_type = Status::draft;  // draft or connected, for expiring_soon
  // For `draft`: how long the user waited since joining. For `disconnected` of a
  // connected user: how long the session lasted. Feeds the metrics histograms.
  Duration measured{0};
  TimePoint at{};
};

struct Counters {
  std::uint64_t joins = 0;       // joins that created a place (not idempotent repeats)
  std::uint64_t drafts = 0;      // drafts offered
  std::uint64_t admissions = 0;  // confirmations
  std::uint64_t leaves = 0;
  std::uint64_t kicks = 0;
  std::uint64_t draft_requeues = 0;
  std::uint64_t draft_timeouts = 0;  // disconnections after MAX_DRAFT_MISSES
  std::uint64_t session_timeouts = 0;
  std::uint64_t idle_timeouts = 0;
  std::uint64_t abandoned = 0;
};

struct JoinResult {
  std::optional<UserView> before;  // nullopt when the id was unknown
  UserView after;
  bool created = false;  // a new place was taken (unknown or disconnected before)
};

enum class Outcome : std::uint8_t { ok, unknown_user, wrong_state };

struct ConfirmResult {
  Outcome outcome = Outcome::ok;  // wrong_state: the user holds no draft
  UserView after;
};

struct LeaveResult {
  Outcome outcome = Outcome::ok;  // unknown_user only
  Status previous = Status::disconnected;
};

struct HeartbeatResult {
  Outcome outcome = Outcome::ok;  // unknown_user, or wrong_state when not connected
  Duration remaining{0};          // time left in the session
};

struct Snapshot {
  std::vector<std::string> waiting;  // in queue order
  std::vector<std::string> draft;
  std::vector<std::string> connected;
};

// ---- durability (DESIGN.md §5) ----------------------------------------------------
//
// The durable store journals the resulting state of each changed user record, never the
// operations: touches and stream changes (proof of presence) are not journaled, so replaying
// operations would diverge. A user record is everything that must survive a restart; what is
// left out (last_seen, open streams, the activity timers) is proof of presence, which
// restarts from the moment of the restore: after an outage everyone gets a fresh idle and
// presence window, since nobody could prove anything while the server was down.

// A timer entry as the engine's heap holds it. Persisting the (deadline, sequence) of the
// state and warning timers makes a restored engine fire them in exactly the same order as
// the original, including ties between equal deadlines. Sequence 0: not armed.
struct ArmedTimer {
  std::uint64_t sequence = 0;
  TimePoint deadline{};
  bool operator==(const ArmedTimer&) const = default;
};

// The durable record of one user id; `forgotten` means the id no longer exists.
struct UserRecord {
  std::string id;
  bool forgotten = false;
  Status status = Status::disconnected;
  Reason reason = Reason::none;
  bool warned = false;
  bool renewed = false;
  std::uint32_t draft_misses = 0;
  std::int64_t ticket = 0;
  std::uint64_t generation = 0;
  TimePoint joined_at{};
  TimePoint deadline{};
  Duration total_duration{0};
  TimePoint confirmed_at{};
  TimePoint session_start{};
  TimePoint disconnected_at{};
  ArmedTimer state_timer;
  ArmedTimer warning_timer;
  bool operator==(const UserRecord&) const = default;
};

// Engine-wide durable state: settings, admission switch, ticket and generation counters, and
// the statistics behind the metrics and the averages.
struct DurableGlobals {
  Settings settings;
  bool paused = false;
  std::int64_t next_back_ticket = 1;
  std::int64_t next_front_ticket = 0;
  std::uint64_t next_generation = 1;
  Counters counters;
  Duration total_wait{0};
  Duration total_session{0};
  std::uint64_t sessions_ended = 0;
};

// What changed since the last take_changes(): the final record of every changed user id
// (removals first, so that a later record of the same id wins when applied in order), the
// globals when anything changed, and the slot releases that feed the wait estimate.
struct Changes {
  std::vector<UserRecord> users;
  std::optional<DurableGlobals> globals;
  std::vector<TimePoint> releases;
  bool empty() const { return users.empty() && !globals && releases.empty(); }
};

class Engine {
 public:
  explicit Engine(Settings settings);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Idempotent for waiting/draft/connected; (re)joins the back of the queue otherwise.
  // A join may be answered with a draft at once when a slot is free.
  JoinResult join(std::string_view user_id, TimePoint now);
  ConfirmResult confirm(std::string_view user_id, TimePoint now);
  LeaveResult leave(std::string_view user_id, TimePoint now);
  LeaveResult kick(std::string_view user_id, TimePoint now);
  // Resets the idle deadline of a connected user; never extends the session unless
  // `session_renewal` is on.
  HeartbeatResult heartbeat(std::string_view user_id, TimePoint now);

  // Proof of life: a connected user's proxied request (idle timeout), a waiting user's
  // status poll (presence timeout). Unknown users are ignored.
  void touch(std::string_view user_id, TimePoint now);
  // A waiting user with at least one open event stream is present until it closes.
  void stream_opened(std::string_view user_id, TimePoint now);
  void stream_closed(std::string_view user_id, TimePoint now);

  // Runs every timer whose deadline is <= now, in deadline order (ties by sequence).
  void advance(TimePoint now);
  // The earliest instant at which `advance` has work; nullopt when no timer is set.
  std::optional<TimePoint> next_deadline() const;

  // Run-time administration. Lowering the cap never removes anyone; it only stops
  // admissions until active + draft is below it. Resuming or raising admits at once.
  void set_max_active_users(std::uint32_t max_active_users, TimePoint now);
  void set_paused(bool paused, TimePoint now);
  // Replaces every setting; running deadlines keep the duration they started with.
  void update_settings(const Settings& settings, TimePoint now);

  std::optional<UserView> find(std::string_view user_id, TimePoint now) const;
  Duration estimated_wait(std::uint64_t position, TimePoint now) const;

  const Settings& settings() const;
  bool paused() const;
  std::size_t waiting_count() const;
  std::size_t draft_count() const;
  std::size_t connected_count() const;
  // Number of user records, including disconnected ones not yet forgotten.
  std::size_t user_count() const;
  const Counters& counters() const;
  // Mean wait (join to draft) and session length observed so far; zero before any.
  Duration average_wait() const;
  Duration average_session() const;
  // Bumped whenever some waiting user's position may have changed.
  std::uint64_t queue_version() const;

  Snapshot snapshot() const;

  std::vector<Event> take_events();

  // ---- durability ----
  // Change tracking is off by default, so that an ephemeral engine pays one predictable
  // branch per state change and nothing else.
  void track_changes(bool on);
  Changes take_changes();
  // Whether anything changed since the last take or drop, forgetting what it was.
  bool drop_changes();

  // The whole durable state, for a snapshot. `visit` is called once per user record.
  DurableGlobals durable_globals() const;
  std::vector<TimePoint> recent_releases() const;  // oldest first, at most 32
  void for_each_record(const std::function<void(const UserRecord&)>& visit) const;

  // Rebuilding an engine: only on a fresh engine (no operation yet). restore_record applies
  // records in journal order (last writer wins per id; a forgotten record deletes the id);
  // restore_finish then installs the globals and releases, rebuilds the queue and the
  // timers and answers an error description (empty when the state is consistent). The
  // activity timers restart from `now`. It runs no timer: call advance(now) afterwards, so
  // that whatever expired during the outage fires and is announced.
  // A hint before restoring about this many records: sizes the id index once.
  void reserve(std::size_t users);
  void restore_record(const UserRecord& record);
  std::string restore_finish(const DurableGlobals& globals, std::span<const TimePoint> releases,
                             TimePoint now);
  std::string restore(std::span<const UserRecord> records, const DurableGlobals& globals,
                      std::span<const TimePoint> releases, TimePoint now);

  // Checks every invariant of DESIGN.md §2 and the internal indexes against each
  // other; returns a description of the first violation, or an empty string. O(N):
  // for tests and the simulator.
  std::string check_invariants() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace waitroom::engine
