// The queue engine's implementation.
//
// User records live in a slab (a deque, so that their addresses never move) indexed by a
// hash map from user id to slot; the map's keys are views of the ids stored in the
// records, so a lookup never allocates. Waiting users are also in a TicketQueue (an
// order-statistics tree keyed by ticket), which gives the head of the queue and any
// user's position in O(log N). Every deadline is an entry in one TimerHeap with lazy
// invalidation: a user record stores, per timer kind, the sequence number of its one
// live entry and the deadline it was armed for, which is never later than the real
// deadline. When an entry pops, the real deadline is recomputed from the record: if it
// moved later the timer is re-armed, otherwise it fires.
//
// Every public operation first runs the timers that are already due at `now` (so a
// confirm that arrives after its draft ran out is refused even if the transport's timer
// is late), then does its work, then offers drafts while a slot is free. Transitions that
// happen inside `advance` take effect at `now`, not at their deadline: after a long
// stall the users at the head of the queue get a full draft, instead of a string of
// drafts that expired while nobody could see them.
//
// Run-time settings: the deadlines of running drafts and sessions keep the duration they
// started with; the activity timeouts (idle, presence), the expiring-soon notice and the
// retention of disconnected records follow the current settings, so changing them
// re-syncs every user's timers (O(N), an admin operation).
#include "engine/engine.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <deque>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "engine/ticket_queue.hpp"
#include "engine/timer_heap.hpp"

namespace waitroom::engine {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::waiting:
      return "waiting";
    case Status::draft:
      return "draft";
    case Status::connected:
      return "connected";
    case Status::disconnected:
      return "disconnected";
  }
  return "unknown";
}

std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::none:
      return "none";
    case Reason::left:
      return "left";
    case Reason::kicked:
      return "kicked";
    case Reason::draft_timeout:
      return "draft_timeout";
    case Reason::session_timeout:
      return "session_timeout";
    case Reason::idle_timeout:
      return "idle_timeout";
    case Reason::abandoned:
      return "abandoned";
  }
  return "unknown";
}

std::string_view to_string(RequeuePolicy policy) {
  switch (policy) {
    case RequeuePolicy::back:
      return "back";
    case RequeuePolicy::front:
      return "front";
  }
  return "unknown";
}

std::int64_t api_position(const UserView& view) {
  switch (view.status) {
    case Status::waiting:
      return static_cast<std::int64_t>(view.position);
    case Status::draft:
      return kDraftPosition;
    case Status::connected:
      return kConnectedPosition;
    case Status::disconnected:
      return 0;
  }
  return 0;
}

namespace {

using detail::Slot;
using detail::Ticket;
using detail::TimerEntry;
using detail::TimerKind;

constexpr std::size_t kind_index(TimerKind kind) {
  return static_cast<std::size_t>(kind);
}

// How many slot releases the wait estimate looks back on, and how many it needs before
// it trusts them over the cold-start formula.
constexpr std::size_t kReleaseWindow = 32;
constexpr std::size_t kMinReleaseSamples = 5;

// Heap entries beyond this many plus twice the live timers trigger a compaction.
constexpr std::size_t kHeapSlack = 64;

struct User {
  std::string id;
  bool in_use = false;
  Status status = Status::disconnected;
  Reason reason = Reason::none;
  bool warned = false;   // the expiring-soon notice of the current draft/session was sent
  bool renewed = false;  // the session was renewed by a heartbeat (session_renewal)
  bool dirty = false;    // listed in dirty_slots since the last take_changes()
  std::uint32_t draft_misses = 0;
  std::uint32_t open_streams = 0;
  Ticket ticket = 0;
  std::uint64_t generation = 0;
  TimePoint joined_at{};        // start of the current place in the queue (for `measured`)
  TimePoint last_seen{};        // last touch / heartbeat / stream change
  TimePoint deadline{};         // draft expiry or session end
  Duration total_duration{0};   // length of the current draft or session
  TimePoint confirmed_at{};     // session start
  TimePoint session_start{};    // confirmed_at, or the last renewal
  TimePoint disconnected_at{};  // for retention
  // Per timer kind: sequence of the one live heap entry (0 = none) and its deadline.
  std::array<std::uint64_t, detail::kTimerKinds> armed_sequence{};
  std::array<TimePoint, detail::kTimerKinds> armed_deadline{};
};

}  // namespace

struct Engine::Impl {
  explicit Impl(Settings s) : settings(s), cap_allowance(s.max_active_users) {}

  Settings settings;
  bool paused = false;

  std::deque<User> users;
  std::vector<Slot> free_slots;
  std::unordered_map<std::string_view, Slot> index;
  detail::TicketQueue queue;
  detail::TimerHeap timers;
  std::size_t live_timers = 0;
  std::uint64_t next_sequence = 1;

  Ticket next_back_ticket = 1;
  Ticket next_front_ticket = 0;
  std::uint64_t next_generation = 1;

  std::size_t draft_count = 0;
  std::size_t connected_count = 0;
  // The largest active+draft count that is legitimate right now: the cap, or more while
  // a lowered cap still has more users than it allows. Shrinks as slots are released.
  std::size_t cap_allowance;

  Counters counters;
  Duration total_wait{0};
  Duration total_session{0};
  std::uint64_t sessions_ended = 0;
  std::uint64_t version = 0;

  std::array<TimePoint, kReleaseWindow> releases{};
  std::size_t release_count = 0;  // total recorded; the ring holds the last kReleaseWindow
  std::vector<Event> events;

  // Change tracking for the durable store: a slot is listed once per take_changes() however
  // often it changes, so that a busy user costs one record per commit.
  bool tracking = false;
  bool globals_dirty = false;
  std::vector<Slot> dirty_slots;
  std::vector<std::string> removed;  // ids forgotten (their slot may already be reused)
  std::vector<TimePoint> new_releases;

  void mark(User& user, Slot slot) {
    if (!tracking) return;
    globals_dirty = true;
    if (!user.dirty) {
      user.dirty = true;
      dirty_slots.push_back(slot);
    }
  }

  // ---- records --------------------------------------------------------------------

  const User* lookup(std::string_view id) const {
    auto it = index.find(id);
    return it == index.end() ? nullptr : &users[it->second];
  }
  Slot create(std::string_view id) {
    Slot slot;
    if (free_slots.empty()) {
      slot = static_cast<Slot>(users.size());
      users.emplace_back();
    } else {
      slot = free_slots.back();
      free_slots.pop_back();
    }
    User& user = users[slot];
    const bool listed = user.dirty;  // a reused slot may still be in dirty_slots
    user = User{};
    user.dirty = listed;
    user.id.assign(id);
    user.in_use = true;
    user.generation = next_generation++;
    index.emplace(std::string_view{user.id}, slot);
    mark(user, slot);
    return slot;
  }

  void forget(Slot slot) {
    User& user = users[slot];
    for (std::size_t k = 0; k < detail::kTimerKinds; ++k)
      disarm(user, slot, static_cast<TimerKind>(k));
    if (tracking) {
      globals_dirty = true;
      removed.push_back(user.id);
    }
    index.erase(std::string_view{user.id});
    user.in_use = false;
    user.id.clear();
    free_slots.push_back(slot);
  }

  // ---- events ---------------------------------------------------------------------

  Event& emit(Event::Kind kind, const User& user, TimePoint now) {
    Event& event = events.emplace_back();
    event.kind = kind;
    event.user_id = user.id;
    event.at = now;
    return event;
  }

  // ---- queue ----------------------------------------------------------------------

  void enqueue(User& user, Slot slot, bool at_front) {
    user.ticket = at_front ? next_front_ticket-- : next_back_ticket++;
    user.status = Status::waiting;
    mark(user, slot);
    [[maybe_unused]] bool inserted = queue.insert(user.ticket, slot);
    assert(inserted);
    // Joining at the back moves nobody; jumping the queue moves everyone behind.
    if (at_front) ++version;
  }

  void dequeue(User& user) {
    [[maybe_unused]] bool erased = queue.erase(user.ticket);
    assert(erased);
    ++version;
  }

  // ---- slots ----------------------------------------------------------------------

  std::size_t occupied() const { return draft_count + connected_count; }

  void release_slot(User& user, TimePoint now) {
    if (user.status == Status::draft) --draft_count;
    if (user.status == Status::connected) --connected_count;
    cap_allowance =
        std::max<std::size_t>(settings.max_active_users, std::min(cap_allowance, occupied()));
    releases[release_count % kReleaseWindow] = now;
    ++release_count;
    if (tracking) new_releases.push_back(now);
  }

  void set_cap(std::uint32_t cap) {
    if (tracking) globals_dirty = true;
    settings.max_active_users = cap;
    cap_allowance = std::max<std::size_t>(cap, occupied());
  }

  void offer_drafts(TimePoint now) {
    if (paused) return;
    while (!queue.empty() && occupied() < settings.max_active_users) {
      Slot slot = queue.front().second;
      User& user = users[slot];
      dequeue(user);
      user.status = Status::draft;
      user.deadline = now + settings.draft_duration;
      user.total_duration = settings.draft_duration;
      user.warned = false;
      mark(user, slot);
      ++draft_count;
      ++counters.drafts;
      Duration waited = now - user.joined_at;
      total_wait += waited;
      Event& event = emit(Event::Kind::draft, user, now);
      event.duration = settings.draft_duration;
      event.expires_at = user.deadline;
      event.measured = waited;
      sync_timers(user, slot);
    }
  }

  // ---- timers ---------------------------------------------------------------------

  // The deadline a timer kind should fire at for this user now, if any.
  std::optional<TimePoint> desired(const User& user, TimerKind kind) const {
    switch (kind) {
      case TimerKind::state:
        if (user.status == Status::draft || user.status == Status::connected) return user.deadline;
        if (user.status == Status::disconnected)
          return user.disconnected_at + settings.disconnected_retention;
        return std::nullopt;
      case TimerKind::activity:
        if (user.status == Status::waiting && settings.presence_timeout > Duration::zero() &&
            user.open_streams == 0)
          return user.last_seen + settings.presence_timeout;
        if (user.status == Status::connected && settings.idle_timeout > Duration::zero())
          return user.last_seen + settings.idle_timeout;
        return std::nullopt;
      case TimerKind::warning:
        if ((user.status == Status::draft || user.status == Status::connected) && !user.warned &&
            settings.expiring_soon > Duration::zero() &&
            settings.expiring_soon < user.total_duration)
          return user.deadline - settings.expiring_soon;
        return std::nullopt;
    }
    return std::nullopt;
  }

  void arm(User& user, Slot slot, TimerKind kind, TimePoint deadline) {
    std::size_t k = kind_index(kind);
    if (user.armed_sequence[k] == 0) ++live_timers;
    std::uint64_t sequence = next_sequence++;
    user.armed_sequence[k] = sequence;
    user.armed_deadline[k] = deadline;
    // The state and warning entries are durable (a restore re-creates them exactly);
    // activity entries are not, so the hot touch path never marks a record.
    if (kind != TimerKind::activity) mark(user, slot);
    timers.push(TimerEntry{deadline, sequence, slot, kind});
    if (timers.size() > 2 * live_timers + kHeapSlack) {
      timers.compact([this](const TimerEntry& entry) { return is_live(entry); });
    }
  }

  void disarm(User& user, Slot slot, TimerKind kind) {
    std::size_t k = kind_index(kind);
    if (user.armed_sequence[k] == 0) return;
    --live_timers;
    user.armed_sequence[k] = 0;
    if (kind != TimerKind::activity) mark(user, slot);
  }

  bool is_live(const TimerEntry& entry) const {
    const User& user = users[entry.slot];
    return user.in_use && user.armed_sequence[kind_index(entry.kind)] == entry.sequence;
  }

  // Makes the heap agree with the record for one timer kind: an entry armed no later
  // than the real deadline exists iff there is a real deadline. An entry armed earlier
  // than the real deadline is left alone (it re-arms when it pops): this is what keeps
  // touch and heartbeat O(1).
  void sync_timer(User& user, Slot slot, TimerKind kind) {
    std::optional<TimePoint> want = desired(user, kind);
    std::size_t k = kind_index(kind);
    if (!want) {
      disarm(user, slot, kind);
    } else if (user.armed_sequence[k] == 0 || user.armed_deadline[k] > *want) {
      arm(user, slot, kind, *want);
    }
  }

  void sync_timers(User& user, Slot slot) {
    sync_timer(user, slot, TimerKind::state);
    sync_timer(user, slot, TimerKind::activity);
    sync_timer(user, slot, TimerKind::warning);
  }

  // In generation (creation) order rather than slot order: the order decides the sequence of
  // the timers armed here, hence which of two equal deadlines fires first, and the Redis
  // store, which has no slots, walks its records in generation order too.
  void resync_all() {
    std::vector<std::pair<std::uint64_t, Slot>> order;
    order.reserve(index.size());
    for (Slot slot = 0; slot < users.size(); ++slot) {
      if (users[slot].in_use) order.emplace_back(users[slot].generation, slot);
    }
    std::sort(order.begin(), order.end());
    for (const auto& [generation, slot] : order) sync_timers(users[slot], slot);
  }

  // Runs every due timer in (deadline, sequence) order, then offers drafts.
  void run_timers(TimePoint now) {
    while (!timers.empty() && timers.top().deadline <= now) {
      TimerEntry entry = timers.top();
      timers.pop();
      if (!is_live(entry)) continue;
      User& user = users[entry.slot];
      disarm(user, entry.slot, entry.kind);
      std::optional<TimePoint> want = desired(user, entry.kind);
      if (!want) continue;
      if (*want != entry.deadline) {
        // The deadline moved (later, by a touch or a renewal): re-arm at the real one,
        // which keeps firing in true deadline order even if it is already due.
        arm(user, entry.slot, entry.kind, *want);
        continue;
      }
      fire(user, entry.slot, entry.kind, now);
    }
    offer_drafts(now);
  }

  void fire(User& user, Slot slot, TimerKind kind, TimePoint now) {
    switch (kind) {
      case TimerKind::state:
        switch (user.status) {
          case Status::draft:
            draft_expired(user, slot, now);
            return;
          case Status::connected:
            ++counters.session_timeouts;
            disconnect(user, slot, Reason::session_timeout, now);
            return;
          case Status::disconnected:
            forget(slot);
            return;
          case Status::waiting:
            return;
        }
        return;
      case TimerKind::activity:
        if (user.status == Status::connected) {
          ++counters.idle_timeouts;
          disconnect(user, slot, Reason::idle_timeout, now);
        } else if (user.status == Status::waiting) {
          ++counters.abandoned;
          disconnect(user, slot, Reason::abandoned, now);
        }
        return;
      case TimerKind::warning: {
        user.warned = true;
        mark(user, slot);
        // A notice that would arrive after the end it announces is pointless.
        if (now < user.deadline) {
          Event& event = emit(Event::Kind::expiring_soon, user, now);
          event.remaining = user.deadline - now;
          event.session_type = user.status;
          event.expires_at = user.deadline;
          event.duration = user.total_duration;
        }
        return;
      }
    }
  }

  void draft_expired(User& user, Slot slot, TimePoint now) {
    ++user.draft_misses;
    if (user.draft_misses >= settings.max_draft_misses) {
      ++counters.draft_timeouts;
      disconnect(user, slot, Reason::draft_timeout, now);
      return;
    }
    release_slot(user, now);
    ++counters.draft_requeues;
    user.reason = Reason::draft_timeout;
    user.last_seen = now;  // they were present when offered; give presence a fresh start
    enqueue(user, slot, settings.requeue_policy == RequeuePolicy::front);
    std::uint64_t position = queue.position(user.ticket);
    Event& event = emit(Event::Kind::requeued, user, now);
    event.reason = Reason::draft_timeout;
    event.position = position;
    event.estimated_wait = estimate(position, now);
    sync_timers(user, slot);
  }

  // Moves a user of any live state to disconnected; the caller offers drafts after.
  void disconnect(User& user, Slot slot, Reason reason, TimePoint now) {
    Duration measured{0};
    switch (user.status) {
      case Status::waiting:
        dequeue(user);
        break;
      case Status::draft:
        release_slot(user, now);
        break;
      case Status::connected: {
        TimePoint end = reason == Reason::session_timeout ? std::min(now, user.deadline) : now;
        measured = end - user.confirmed_at;
        total_session += measured;
        ++sessions_ended;
        release_slot(user, now);
        break;
      }
      case Status::disconnected:
        return;
    }
    user.status = Status::disconnected;
    user.reason = reason;
    user.disconnected_at = now;
    mark(user, slot);
    Event& event = emit(Event::Kind::disconnected, user, now);
    event.reason = reason;
    event.measured = measured;
    sync_timers(user, slot);
  }

  // ---- estimates ------------------------------------------------------------------

  Duration estimate(std::uint64_t position, TimePoint now) const {
    if (position == 0) return Duration::zero();
    std::size_t samples = std::min(release_count, kReleaseWindow);
    if (samples >= kMinReleaseSamples) {
      // Mean interval between the releases of the window, measured up to now rather
      // than up to the last release, so that the estimate grows when releases stop (a
      // paused room, sessions that all run long).
      TimePoint oldest = releases[(release_count - samples) % kReleaseWindow];
      auto span = std::max<Duration::rep>((now - oldest).count(), 0);
      auto per_slot = static_cast<double>(span) / static_cast<double>(samples - 1);
      return Duration{static_cast<Duration::rep>(per_slot * static_cast<double>(position))};
    }
    std::uint64_t cap = std::max<std::uint64_t>(settings.max_active_users, 1);
    std::uint64_t rounds = (position + cap - 1) / cap;
    return settings.session_duration * static_cast<Duration::rep>(rounds);
  }

  UserView view(const User& user, TimePoint now) const {
    UserView out;
    out.status = user.status;
    out.reason = user.reason;
    out.draft_misses = user.draft_misses;
    out.generation = user.generation;
    if (user.status == Status::waiting) {
      out.position = queue.position(user.ticket);
      out.estimated_wait = estimate(out.position, now);
    } else if (user.status == Status::draft || user.status == Status::connected) {
      out.deadline = user.deadline;
      out.total_duration = user.total_duration;
    }
    return out;
  }

  // ---- operations -----------------------------------------------------------------

  JoinResult join(std::string_view id, TimePoint now) {
    run_timers(now);
    JoinResult result;
    Slot slot;
    auto it = index.find(id);
    if (it != index.end()) {
      slot = it->second;
      User& user = users[slot];
      result.before = view(user, now);
      if (user.status != Status::disconnected) {
        // A refreshed page or a second tab: same place, and proof that they are here.
        if (user.status == Status::waiting) user.last_seen = now;
        sync_timers(user, slot);
        result.after = view(user, now);
        return result;
      }
    } else {
      slot = create(id);
    }
    User& user = users[slot];
    result.created = true;
    ++counters.joins;
    user.draft_misses = 0;
    user.reason = Reason::none;
    user.joined_at = now;
    user.last_seen = now;
    enqueue(user, slot, false);
    std::uint64_t position = queue.position(user.ticket);
    Event& event = emit(Event::Kind::waiting, user, now);
    event.position = position;
    event.estimated_wait = estimate(position, now);
    sync_timers(user, slot);
    offer_drafts(now);
    result.after = view(user, now);
    return result;
  }

  ConfirmResult confirm(std::string_view id, TimePoint now) {
    run_timers(now);
    ConfirmResult result;
    auto it = index.find(id);
    if (it == index.end()) {
      result.outcome = Outcome::unknown_user;
      return result;
    }
    Slot slot = it->second;
    User& user = users[slot];
    if (user.status != Status::draft) {
      result.outcome = Outcome::wrong_state;
      result.after = view(user, now);
      return result;
    }
    --draft_count;
    ++connected_count;
    ++counters.admissions;
    user.status = Status::connected;
    user.reason = Reason::none;
    user.draft_misses = 0;
    user.warned = false;
    user.renewed = false;
    user.confirmed_at = now;
    user.session_start = now;
    user.last_seen = now;
    user.deadline = now + settings.session_duration;
    user.total_duration = settings.session_duration;
    mark(user, slot);
    Event& event = emit(Event::Kind::connected, user, now);
    event.duration = user.total_duration;
    event.expires_at = user.deadline;
    sync_timers(user, slot);
    result.after = view(user, now);
    return result;
  }

  LeaveResult end(std::string_view id, TimePoint now, Reason reason) {
    run_timers(now);
    LeaveResult result;
    auto it = index.find(id);
    if (it == index.end()) {
      result.outcome = Outcome::unknown_user;
      return result;
    }
    Slot slot = it->second;
    User& user = users[slot];
    result.previous = user.status;
    if (user.status == Status::disconnected) return result;
    ++(reason == Reason::kicked ? counters.kicks : counters.leaves);
    disconnect(user, slot, reason, now);
    offer_drafts(now);
    return result;
  }

  HeartbeatResult heartbeat(std::string_view id, TimePoint now) {
    run_timers(now);
    HeartbeatResult result;
    auto it = index.find(id);
    if (it == index.end()) {
      result.outcome = Outcome::unknown_user;
      return result;
    }
    Slot slot = it->second;
    User& user = users[slot];
    if (user.status != Status::connected) {
      result.outcome = Outcome::wrong_state;
      return result;
    }
    user.last_seen = now;
    if (settings.session_renewal) {
      // Renewal restarts the session with the length it was confirmed with.
      user.session_start = now;
      user.deadline = now + user.total_duration;
      user.renewed = true;
      user.warned = false;
      mark(user, slot);
    }
    sync_timers(user, slot);
    result.remaining = user.deadline - now;
    return result;
  }

  void touch(std::string_view id, TimePoint now) {
    run_timers(now);
    auto it = index.find(id);
    if (it == index.end()) return;
    User& user = users[it->second];
    if (user.status == Status::disconnected) return;
    user.last_seen = now;
    // Only an activity timer that is not armed at all needs a push; a later deadline is
    // picked up lazily when the armed entry pops.
    if (user.armed_sequence[kind_index(TimerKind::activity)] == 0)
      sync_timer(user, it->second, TimerKind::activity);
  }

  void stream_change(std::string_view id, TimePoint now, bool opened) {
    run_timers(now);
    auto it = index.find(id);
    if (it == index.end()) return;
    User& user = users[it->second];
    if (opened) {
      ++user.open_streams;
    } else if (user.open_streams > 0) {
      --user.open_streams;
    }
    // Opening or closing a stream is itself a sign of presence.
    if (user.status != Status::disconnected) user.last_seen = now;
    sync_timer(user, it->second, TimerKind::activity);
  }

  // ---- durability -----------------------------------------------------------------

  UserRecord record_of(const User& user) const {
    UserRecord out;
    out.id = user.id;
    out.status = user.status;
    out.reason = user.reason;
    out.warned = user.warned;
    out.renewed = user.renewed;
    out.draft_misses = user.draft_misses;
    out.ticket = user.ticket;
    out.generation = user.generation;
    out.joined_at = user.joined_at;
    out.deadline = user.deadline;
    out.total_duration = user.total_duration;
    out.confirmed_at = user.confirmed_at;
    out.session_start = user.session_start;
    out.disconnected_at = user.disconnected_at;
    for (TimerKind kind : {TimerKind::state, TimerKind::warning}) {
      std::size_t k = kind_index(kind);
      ArmedTimer& timer = kind == TimerKind::state ? out.state_timer : out.warning_timer;
      timer.sequence = user.armed_sequence[k];
      if (timer.sequence != 0) timer.deadline = user.armed_deadline[k];
    }
    return out;
  }

  DurableGlobals globals_of() const {
    return DurableGlobals{.settings = settings,
                          .paused = paused,
                          .next_back_ticket = next_back_ticket,
                          .next_front_ticket = next_front_ticket,
                          .next_generation = next_generation,
                          .counters = counters,
                          .total_wait = total_wait,
                          .total_session = total_session,
                          .sessions_ended = sessions_ended};
  }

  Changes take_changes() {
    Changes out;
    out.users.reserve(removed.size() + dirty_slots.size());
    for (std::string& id : removed) {
      UserRecord& record = out.users.emplace_back();
      record.id = std::move(id);
      record.forgotten = true;
    }
    removed.clear();
    for (Slot slot : dirty_slots) {
      User& user = users[slot];
      user.dirty = false;
      if (user.in_use) out.users.push_back(record_of(user));
    }
    dirty_slots.clear();
    if (globals_dirty) out.globals = globals_of();
    globals_dirty = false;
    // Only the last window of releases can matter to the estimate.
    if (new_releases.size() > kReleaseWindow)
      new_releases.erase(new_releases.begin(), new_releases.end() - kReleaseWindow);
    out.releases = std::move(new_releases);
    new_releases.clear();
    return out;
  }

  bool drop_changes() {
    const bool any =
        !removed.empty() || !dirty_slots.empty() || globals_dirty || !new_releases.empty();
    removed.clear();
    for (Slot slot : dirty_slots) users[slot].dirty = false;
    dirty_slots.clear();
    globals_dirty = false;
    new_releases.clear();
    return any;
  }

  // Upserts or deletes one record in the slab and the index only; the queue, the counts
  // and the timers are rebuilt once by restore_finish.
  void restore_record(const UserRecord& record) {
    auto it = index.find(record.id);
    if (record.forgotten) {
      if (it == index.end()) return;
      Slot slot = it->second;
      index.erase(it);
      users[slot].in_use = false;
      users[slot].id.clear();
      free_slots.push_back(slot);
      return;
    }
    Slot slot;
    if (it != index.end()) {
      slot = it->second;
    } else if (free_slots.empty()) {
      slot = static_cast<Slot>(users.size());
      users.emplace_back();
    } else {
      slot = free_slots.back();
      free_slots.pop_back();
    }
    User& user = users[slot];
    if (it == index.end()) {
      user = User{};
      user.id = record.id;
      user.in_use = true;
      index.emplace(std::string_view{user.id}, slot);
    }
    user.status = record.status;
    user.reason = record.reason;
    user.warned = record.warned;
    user.renewed = record.renewed;
    user.draft_misses = record.draft_misses;
    user.ticket = record.ticket;
    user.generation = record.generation;
    user.joined_at = record.joined_at;
    user.deadline = record.deadline;
    user.total_duration = record.total_duration;
    user.confirmed_at = record.confirmed_at;
    user.session_start = record.session_start;
    user.disconnected_at = record.disconnected_at;
    // Parked in the arm fields until restore_finish pushes them into the heap.
    user.armed_sequence[kind_index(TimerKind::state)] = record.state_timer.sequence;
    user.armed_deadline[kind_index(TimerKind::state)] = record.state_timer.deadline;
    user.armed_sequence[kind_index(TimerKind::warning)] = record.warning_timer.sequence;
    user.armed_deadline[kind_index(TimerKind::warning)] = record.warning_timer.deadline;
  }

  std::string restore_finish(const DurableGlobals& globals, std::span<const TimePoint> restored,
                             TimePoint now) {
    settings = globals.settings;
    paused = globals.paused;
    next_back_ticket = globals.next_back_ticket;
    next_front_ticket = globals.next_front_ticket;
    next_generation = globals.next_generation;
    counters = globals.counters;
    total_wait = globals.total_wait;
    total_session = globals.total_session;
    sessions_ended = globals.sessions_ended;
    release_count = 0;
    for (TimePoint at : restored) releases[release_count++ % kReleaseWindow] = at;

    // The queue, the counts, and the largest sequence of a persisted timer entry.
    std::uint64_t max_sequence = 0;
    std::vector<TimerEntry> entries;
    for (Slot slot = 0; slot < users.size(); ++slot) {
      User& user = users[slot];
      if (!user.in_use) continue;
      if (user.generation >= next_generation)
        return "user " + user.id + " has a generation beyond the generation counter";
      switch (user.status) {
        case Status::waiting:
          if (user.ticket >= next_back_ticket || user.ticket <= next_front_ticket)
            return "waiting user " + user.id + " has a ticket outside the ticket counters";
          if (!queue.insert(user.ticket, slot))
            return "two waiting users hold ticket " + std::to_string(user.ticket);
          break;
        case Status::draft:
          ++draft_count;
          break;
        case Status::connected:
          ++connected_count;
          break;
        case Status::disconnected:
          break;
      }
      user.last_seen = now;
      user.open_streams = 0;
      for (TimerKind kind : {TimerKind::state, TimerKind::warning}) {
        std::size_t k = kind_index(kind);
        std::uint64_t sequence = std::exchange(user.armed_sequence[k], 0);
        std::optional<TimePoint> want = desired(user, kind);
        // A persisted entry is kept only if it is one the engine could hold: armed no later
        // than the real deadline. Anything else is re-armed below from the record.
        if (sequence == 0 || !want || user.armed_deadline[k] > *want) continue;
        user.armed_sequence[k] = sequence;
        ++live_timers;
        max_sequence = std::max(max_sequence, sequence);
        entries.push_back(TimerEntry{user.armed_deadline[k], sequence, slot, kind});
      }
    }
    // One heap build instead of N pushes: O(N).
    timers.push_all(entries);
    next_sequence = max_sequence + 1;
    cap_allowance = std::max<std::size_t>(settings.max_active_users, occupied());
    // Everything else (activity timers from now, any persisted entry that was dropped) is
    // armed in slot order with sequences after every restored one.
    resync_all();
    ++version;
    // What was rebuilt is the durable state itself: nothing to journal again.
    for (Slot slot : dirty_slots) users[slot].dirty = false;
    dirty_slots.clear();
    removed.clear();
    new_releases.clear();
    globals_dirty = false;
    return {};
  }

  std::string check() const;
};

// ---- invariants ---------------------------------------------------------------------

std::string Engine::Impl::check() const {
  // The stream is only built on failure: this runs after every simulator step.
  auto fail = [](auto&&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    return out.str();
  };

  // The index and the slab agree.
  std::size_t in_use = 0;
  Slot slot = 0;
  for (auto user_it = users.begin(); user_it != users.end(); ++user_it, ++slot) {
    const User& user = *user_it;
    if (!user.in_use) continue;
    ++in_use;
    auto it = index.find(std::string_view{user.id});
    if (it == index.end() || it->second != slot) return fail("user ", user.id, " not indexed");
  }
  if (in_use != index.size()) return fail("index has ", index.size(), " ids, slab ", in_use);
  if (in_use + free_slots.size() != users.size()) return fail("free list out of sync");

  // Each user in exactly one state, and the counts match.
  std::size_t waiting = 0, drafts = 0, connected = 0;
  for (const User& user : users) {
    if (!user.in_use) continue;
    switch (user.status) {
      case Status::waiting:
        ++waiting;
        if (!queue.contains(user.ticket)) return fail("waiting user ", user.id, " not queued");
        break;
      case Status::draft:
        ++drafts;
        break;
      case Status::connected:
        ++connected;
        if (user.deadline != user.session_start + user.total_duration)
          return fail("session of ", user.id, " does not end session_duration after its start");
        if (!user.renewed && user.session_start != user.confirmed_at)
          return fail("session of ", user.id, " was extended without renewal");
        break;
      case Status::disconnected:
        break;
    }
  }
  if (waiting != queue.size()) return fail(waiting, " waiting users, queue holds ", queue.size());
  if (drafts != draft_count) return fail("draft count ", draft_count, " != ", drafts);
  if (connected != connected_count)
    return fail("connected count ", connected_count, " != ", connected);

  // The queue: no duplicates, ticket order, positions exactly 1..N.
  std::vector<bool> seen(users.size(), false);
  Ticket previous = std::numeric_limits<Ticket>::min();
  std::size_t index_in_queue = 0;
  std::string error;
  queue.for_each([&](Ticket ticket, Slot slot) {
    if (!error.empty()) return;
    ++index_in_queue;
    const User& user = users[slot];
    if (seen[slot]) {
      error = "user " + user.id + " queued twice";
    } else if (!user.in_use || user.status != Status::waiting || user.ticket != ticket) {
      error = "queue entry " + std::to_string(ticket) + " is not a waiting user with that ticket";
    } else if (ticket <= previous) {
      error = "queue out of ticket order";
    } else if (queue.position(ticket) != index_in_queue) {
      error = "position of " + user.id + " is not " + std::to_string(index_in_queue);
    }
    seen[slot] = true;
    previous = ticket;
  });
  if (!error.empty()) return error;

  // Capacity: never more than the cap, except what a lowered cap left over. The allowance
  // only grows when the cap is set and shrinks with every release, so a draft offered
  // while active+draft >= cap would show up here as a count above it.
  if (cap_allowance < settings.max_active_users) return fail("cap allowance below the cap");
  if (occupied() > cap_allowance)
    return fail("active+draft ", occupied(), " exceeds cap ", settings.max_active_users,
                " (allowance ", cap_allowance, ")");
  // Admission is event-driven: a free slot never coexists with a waiting user.
  if (!paused && occupied() < settings.max_active_users && !queue.empty())
    return fail("a slot is free and ", queue.size(), " users wait");

  // Timers: every deadline a user has is armed no later than it, and is in the heap.
  // A live entry is one whose sequence its user still holds, so each armed timer has at
  // most one; marking the kinds found per slot shows that each has exactly one.
  std::vector<std::uint8_t> in_heap(users.size(), 0);
  std::size_t live = 0;
  for (const TimerEntry& entry : timers.entries()) {
    if (is_live(entry)) {
      ++live;
      in_heap[entry.slot] |= static_cast<std::uint8_t>(1u << kind_index(entry.kind));
      if (users[entry.slot].armed_deadline[kind_index(entry.kind)] != entry.deadline)
        return fail("heap entry of ", users[entry.slot].id, " has the wrong deadline");
    }
  }
  if (live != live_timers) return fail("live timers ", live_timers, ", heap holds ", live);
  slot = 0;
  for (auto user_it = users.begin(); user_it != users.end(); ++user_it, ++slot) {
    const User& user = *user_it;
    if (!user.in_use) continue;
    for (std::size_t k = 0; k < detail::kTimerKinds; ++k) {
      auto kind = static_cast<TimerKind>(k);
      std::optional<TimePoint> want = desired(user, kind);
      std::uint64_t sequence = user.armed_sequence[k];
      if (want && sequence == 0) return fail("timer ", k, " of ", user.id, " not armed");
      if (!want && sequence != 0) return fail("timer ", k, " of ", user.id, " armed for nothing");
      if (!want) continue;
      if (user.armed_deadline[k] > *want)
        return fail("timer ", k, " of ", user.id, " armed after its deadline");
      if ((in_heap[slot] & (1u << k)) == 0)
        return fail("timer ", k, " of ", user.id, " not in heap");
    }
  }
  return {};
}

// ---- the public face ----------------------------------------------------------------

Engine::Engine(Settings settings) : impl_(std::make_unique<Impl>(settings)) {}
Engine::~Engine() = default;

JoinResult Engine::join(std::string_view user_id, TimePoint now) {
  return impl_->join(user_id, now);
}
ConfirmResult Engine::confirm(std::string_view user_id, TimePoint now) {
  return impl_->confirm(user_id, now);
}
LeaveResult Engine::leave(std::string_view user_id, TimePoint now) {
  return impl_->end(user_id, now, Reason::left);
}
LeaveResult Engine::kick(std::string_view user_id, TimePoint now) {
  return impl_->end(user_id, now, Reason::kicked);
}
HeartbeatResult Engine::heartbeat(std::string_view user_id, TimePoint now) {
  return impl_->heartbeat(user_id, now);
}
void Engine::touch(std::string_view user_id, TimePoint now) {
  impl_->touch(user_id, now);
}
void Engine::stream_opened(std::string_view user_id, TimePoint now) {
  impl_->stream_change(user_id, now, true);
}
void Engine::stream_closed(std::string_view user_id, TimePoint now) {
  impl_->stream_change(user_id, now, false);
}

void Engine::advance(TimePoint now) {
  impl_->run_timers(now);
}

std::optional<TimePoint> Engine::next_deadline() const {
  // The top entry may be stale or armed early; an early wake-up only costs a pop.
  if (impl_->timers.empty()) return std::nullopt;
  return impl_->timers.top().deadline;
}

void Engine::set_max_active_users(std::uint32_t max_active_users, TimePoint now) {
  impl_->run_timers(now);
  impl_->set_cap(max_active_users);
  impl_->offer_drafts(now);
}

void Engine::set_paused(bool paused, TimePoint now) {
  impl_->run_timers(now);
  impl_->paused = paused;
  if (impl_->tracking) impl_->globals_dirty = true;
  impl_->offer_drafts(now);
}

void Engine::update_settings(const Settings& settings, TimePoint now) {
  impl_->run_timers(now);
  const Settings& old = impl_->settings;
  bool timers_changed = old.idle_timeout != settings.idle_timeout ||
                        old.presence_timeout != settings.presence_timeout ||
                        old.expiring_soon != settings.expiring_soon ||
                        old.disconnected_retention != settings.disconnected_retention;
  std::uint32_t cap = settings.max_active_users;
  impl_->settings = settings;
  impl_->set_cap(cap);
  if (timers_changed) impl_->resync_all();
  // A lower max_draft_misses applies at the next miss, not retroactively.
  impl_->offer_drafts(now);
}

std::optional<UserView> Engine::find(std::string_view user_id, TimePoint now) const {
  const User* user = impl_->lookup(user_id);
  if (user == nullptr) return std::nullopt;
  return impl_->view(*user, now);
}

Duration Engine::estimated_wait(std::uint64_t position, TimePoint now) const {
  return impl_->estimate(position, now);
}

const Settings& Engine::settings() const {
  return impl_->settings;
}
bool Engine::paused() const {
  return impl_->paused;
}
std::size_t Engine::waiting_count() const {
  return impl_->queue.size();
}
std::size_t Engine::draft_count() const {
  return impl_->draft_count;
}
std::size_t Engine::connected_count() const {
  return impl_->connected_count;
}
std::size_t Engine::user_count() const {
  return impl_->index.size();
}
const Counters& Engine::counters() const {
  return impl_->counters;
}

Duration Engine::average_wait() const {
  if (impl_->counters.drafts == 0) return Duration::zero();
  return impl_->total_wait / static_cast<Duration::rep>(impl_->counters.drafts);
}

Duration Engine::average_session() const {
  if (impl_->sessions_ended == 0) return Duration::zero();
  return impl_->total_session / static_cast<Duration::rep>(impl_->sessions_ended);
}

std::uint64_t Engine::queue_version() const {
  return impl_->version;
}

Snapshot Engine::snapshot() const {
  Snapshot out;
  out.waiting.reserve(impl_->queue.size());
  impl_->queue.for_each([&](Ticket, Slot slot) { out.waiting.push_back(impl_->users[slot].id); });
  for (const User& user : impl_->users) {
    if (!user.in_use) continue;
    if (user.status == Status::draft) out.draft.push_back(user.id);
    if (user.status == Status::connected) out.connected.push_back(user.id);
  }
  // Slab order depends on slot reuse; sorted ids make the answer stable.
  std::sort(out.draft.begin(), out.draft.end());
  std::sort(out.connected.begin(), out.connected.end());
  return out;
}

std::vector<Event> Engine::take_events() {
  return std::exchange(impl_->events, {});
}

void Engine::track_changes(bool on) {
  impl_->tracking = on;
}

Changes Engine::take_changes() {
  return impl_->take_changes();
}

bool Engine::drop_changes() {
  return impl_->drop_changes();
}

DurableGlobals Engine::durable_globals() const {
  return impl_->globals_of();
}

std::vector<TimePoint> Engine::recent_releases() const {
  std::size_t samples = std::min(impl_->release_count, kReleaseWindow);
  std::vector<TimePoint> out;
  out.reserve(samples);
  for (std::size_t i = impl_->release_count - samples; i < impl_->release_count; ++i)
    out.push_back(impl_->releases[i % kReleaseWindow]);
  return out;
}

void Engine::for_each_record(const std::function<void(const UserRecord&)>& visit) const {
  for (const User& user : impl_->users) {
    if (user.in_use) visit(impl_->record_of(user));
  }
}

void Engine::reserve(std::size_t users) {
  impl_->index.reserve(users);
}

void Engine::restore_record(const UserRecord& record) {
  impl_->restore_record(record);
}

std::string Engine::restore_finish(const DurableGlobals& globals,
                                   std::span<const TimePoint> releases, TimePoint now) {
  return impl_->restore_finish(globals, releases, now);
}

std::string Engine::restore(std::span<const UserRecord> records, const DurableGlobals& globals,
                            std::span<const TimePoint> releases, TimePoint now) {
  for (const UserRecord& record : records) impl_->restore_record(record);
  return impl_->restore_finish(globals, releases, now);
}

std::string Engine::check_invariants() const {
  return impl_->check();
}

}  // namespace waitroom::engine
