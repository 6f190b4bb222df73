// The durable embedded store: the memory store's engine, mutex and single timer, with every
// state change journaled and made durable before anyone hears of it (DESIGN.md §5, issue 4).
//
// An operation runs under the mutex as in the memory store, then takes the engine's changes
// and appends them to the journal as one commit (still under the mutex, so that commit order
// is state order), and releases the mutex before it waits: the fdatasync is shared by every
// operation that committed meanwhile (group commit), and no lock is held across I/O. The
// answer leaves only once its commit is durable. An operation that changed nothing durable
// (an idempotent join, a stream opening) still waits for the last commit appended before
// it, because its answer may describe that commit's state.
//
// Notifications follow the same rule: the events of a commit wait in a queue, and the
// journal's writer hands them to the EventSink, in order and with the store's lock held,
// right after their commit became durable. The store sequence of each batch is journaled,
// so that sequence numbers (the SSE event ids) keep increasing across restarts.
//
// Reads (find, poll, positions, metrics) do not wait: they may describe a commit that is
// still in flight, which is harmless because nothing was acknowledged on its strength.
//
// On construction the store recovers the data directory (Journal), applies the configured
// settings if they differ from the journaled ones (the configuration given at start-up wins,
// as with any restart that changes a setting), and runs the timers that expired during the
// outage; their notifications are delivered once durable, and clients that reconnect get
// their current state anyway.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <mutex>
#include <optional>

#include "store/journal.hpp"
#include "store/store.hpp"

namespace waitroom::store {

class DurableStore final : public Store {
 public:
  // Throws RecoveryError when the data directory cannot be trusted or is in use.
  DurableStore(boost::asio::any_io_executor executor, const Clock& clock, engine::Settings settings,
               EventSink& sink, JournalOptions options);
  ~DurableStore() override;

  awaitable<At<engine::JoinResult>> join(std::string_view user_id) override;
  awaitable<At<engine::ConfirmResult>> confirm(std::string_view user_id) override;
  awaitable<At<engine::LeaveResult>> leave(std::string_view user_id) override;
  awaitable<At<engine::LeaveResult>> kick(std::string_view user_id) override;
  awaitable<At<engine::HeartbeatResult>> heartbeat(std::string_view user_id) override;
  awaitable<Viewed> find(std::string_view user_id) override;
  awaitable<Viewed> poll(std::string_view user_id) override;
  awaitable<Viewed> stream_opened(std::string_view user_id) override;
  awaitable<void> stream_closed(std::string_view user_id) override;
  awaitable<std::uint64_t> queue_version() override;
  awaitable<Positions> positions(const std::vector<std::string>& user_ids) override;
  awaitable<MetricsSnapshot> metrics() override;
  awaitable<engine::Snapshot> snapshot() override;
  awaitable<engine::Settings> settings() override;
  awaitable<void> update_settings(engine::Settings settings) override;
  awaitable<bool> set_paused(bool paused) override;
  void stop() override;

  const RecoveryReport& recovery() const { return journal_.recovery(); }
  JournalStats journal_stats() const { return journal_.stats(); }
  // Runs the engine's due timers now; what the timer does, callable from tests.
  void advance();
  std::string check_invariants() const;
  // Blocks until every commit so far is durable and its events delivered (tests).
  void sync();

 private:
  struct PendingEvents {
    std::uint64_t lsn;
    std::uint64_t sequence;
    std::vector<engine::Event> events;
  };

  // Journals the engine's changes, queues its events, re-arms the timer; mutex_ held.
  // Answers the LSN that must be durable before the caller may answer.
  std::uint64_t commit(TimePoint now, bool from_timer);
  // Delivers queued events whose commit is durable; mutex_ held.
  void deliver(std::uint64_t durable_lsn);
  awaitable<void> durable(std::uint64_t lsn);
  void arm(TimePoint deadline, TimePoint now, bool from_timer);
  void on_timer(boost::system::error_code ec);

  const Clock& clock_;
  EventSink& sink_;
  mutable std::mutex mutex_;
  engine::Engine engine_;
  std::uint64_t sequence_ = 0;
  std::deque<PendingEvents> pending_;
  // After the engine (it recovers into it) and the queue its writer delivers from.
  Journal journal_;
  std::optional<boost::asio::steady_timer> timer_;
  std::optional<TimePoint> armed_deadline_;
  bool stopped_ = false;
};

}  // namespace waitroom::store
