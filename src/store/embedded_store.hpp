// The embedded store: one engine::Engine in this process, behind one mutex, made durable by
// an optional journal (DESIGN.md §5, issue 4).
//
// Operations are short (the engine is O(log N) per call), so a plain mutex held for the
// call is cheaper than funnelling every request through one strand, and no lock is ever
// held across I/O. One steady_timer is armed at the engine's next deadline; it is re-armed
// after an operation only when that deadline moved earlier, and when it fires it calls
// advance(now) and re-arms itself. A timer that fires early (the deadline moved later, or
// the wall clock was held still) finds nothing to do and simply re-arms. The timer is only
// touched with the mutex held, which serialises it as Asio requires.
//
// Durable (a JournalOptions given, the default of `waitroom serve`): an operation runs under
// the mutex, then takes the engine's changes and appends them to the journal as one commit
// (still under the mutex, so that commit order is state order), and releases the mutex
// before it waits: the fdatasync is shared by every operation that committed meanwhile
// (group commit). The answer leaves only once its commit is durable. An operation that
// changed nothing durable (an idempotent join, a stream opening) still waits for the last
// commit appended before it, because its answer may describe that commit's state.
// Notifications follow the same rule: the events of a commit wait in a queue, and the
// journal's writer hands them to the EventSink, in order and with the store's lock held,
// right after their commit became durable. The store sequence of each batch is journaled,
// so that sequence numbers (the SSE event ids) keep increasing across restarts. On
// construction the store recovers the data directory (Journal), applies the configured
// settings if they differ from the journaled ones (the configuration given at start-up
// wins, as with any restart that changes a setting), and runs the timers that expired
// during the outage.
//
// Ephemeral (no journal, `--ephemeral`): the same operations answer at once and hand their
// events to the sink straight away; the engine tracks no changes, so it pays nothing for
// durability.
//
// Reads (find, poll, positions, metrics) never wait: they may describe a commit that is
// still in flight, which is harmless because nothing was acknowledged on its strength.
//
// An operation on a user's place runs the due timers, then checks its Actor against the
// record as it now stands, then acts, all under one hold of the mutex: nothing can create,
// forget or re-create the record between the check and the act.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <mutex>
#include <optional>

#include "store/journal.hpp"
#include "store/store.hpp"

namespace waitroom::store {

class EmbeddedStore final : public Store {
 public:
  // Durable when `journal` is given. Throws RecoveryError when the data directory cannot be
  // trusted or is in use.
  EmbeddedStore(boost::asio::any_io_executor executor, const Clock& clock,
                engine::Settings settings, EventSink& sink,
                std::optional<JournalOptions> journal = std::nullopt);
  ~EmbeddedStore() override;

  awaitable<At<engine::JoinResult>> join(std::string_view user_id, Actor actor) override;
  awaitable<At<engine::ConfirmResult>> confirm(std::string_view user_id, Actor actor) override;
  awaitable<At<engine::LeaveResult>> leave(std::string_view user_id, Actor actor) override;
  awaitable<At<engine::LeaveResult>> kick(std::string_view user_id) override;
  awaitable<At<engine::HeartbeatResult>> heartbeat(std::string_view user_id, Actor actor) override;
  awaitable<Viewed> find(std::string_view user_id) override;
  awaitable<Viewed> poll(std::string_view user_id) override;
  awaitable<Viewed> stream_opened(std::string_view user_id, Actor actor) override;
  awaitable<void> stream_closed(std::string_view user_id) override;
  awaitable<std::uint64_t> queue_version() override;
  awaitable<Positions> positions(const std::vector<std::string>& user_ids) override;
  awaitable<MetricsSnapshot> metrics() override;
  awaitable<engine::Snapshot> snapshot() override;
  awaitable<engine::Settings> settings() override;
  awaitable<void> update_settings(engine::Settings settings) override;
  awaitable<bool> set_paused(bool paused) override;
  void stop() override;

  // Runs the engine's due timers now; what the timer does, callable from tests.
  void advance();
  // Checks the engine's invariants (empty when they hold); for tests.
  std::string check_invariants() const;

  // Durable only (they assert a journal).
  const RecoveryReport& recovery() const;
  JournalStats journal_stats() const;
  // Blocks until every commit so far is durable and its events delivered (tests).
  void sync();

 private:
  struct PendingEvents {
    std::uint64_t lsn;
    std::uint64_t sequence;
    std::vector<engine::Event> events;
  };

  // Runs one operation on the engine under the mutex (unless `actor` may not act on
  // `user_id`: then the record stays untouched and the answer is forbidden), commits, and
  // waits for durability outside the lock. No actor: nothing to check (admin, settings).
  template <class Result, class Operation>
  awaitable<At<Result>> change(Operation operation, std::string_view user_id = {},
                               std::optional<Actor> actor = std::nullopt, bool creates = false);
  // Whether `actor` may act on `user_id` (`creates`: an unknown id is free to take); mutex_
  // held. Runs the due timers before it looks, so that the record checked is the one the
  // operation will find.
  bool permitted(std::string_view user_id, const Actor& actor, bool creates, TimePoint now);
  // Hands the engine's events on (at once, or queued until durable), journals its changes
  // and re-arms the timer; mutex_ held. Answers the LSN that must be durable before the
  // caller may answer (0 when ephemeral).
  std::uint64_t commit(TimePoint now, bool from_timer);
  // Delivers queued events whose commit is durable; mutex_ held.
  void deliver(std::uint64_t durable_lsn);
  bool must_wait(std::uint64_t lsn) const { return journal_ && journal_->durable_lsn() < lsn; }
  awaitable<void> wait_durable(std::uint64_t lsn);
  void arm(TimePoint deadline, TimePoint now, bool from_timer);
  void on_timer();

  const Clock& clock_;
  EventSink& sink_;
  mutable std::mutex mutex_;
  engine::Engine engine_;
  std::uint64_t sequence_ = 0;
  std::deque<PendingEvents> pending_;
  // After the engine (it recovers into it) and the queue its writer delivers from.
  std::optional<Journal> journal_;
  std::optional<boost::asio::steady_timer> timer_;
  std::optional<TimePoint> armed_deadline_;
  bool stopped_ = false;
};

}  // namespace waitroom::store
