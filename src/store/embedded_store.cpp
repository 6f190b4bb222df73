// The embedded store: see embedded_store.hpp for the locking, timer, commit and delivery rules.
#include "store/embedded_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <cassert>

namespace waitroom::store {
namespace {

bool same_settings(const engine::Settings& a, const engine::Settings& b) {
  return a.max_active_users == b.max_active_users && a.session_duration == b.session_duration &&
         a.draft_duration == b.draft_duration && a.idle_timeout == b.idle_timeout &&
         a.presence_timeout == b.presence_timeout && a.max_draft_misses == b.max_draft_misses &&
         a.expiring_soon == b.expiring_soon && a.requeue_policy == b.requeue_policy &&
         a.session_renewal == b.session_renewal &&
         a.disconnected_retention == b.disconnected_retention;
}

}  // namespace

EmbeddedStore::EmbeddedStore(boost::asio::any_io_executor executor, const Clock& clock,
                             engine::Settings settings, EventSink& sink,
                             std::optional<JournalOptions> journal)
    : clock_(clock), sink_(sink), engine_(settings) {
  timer_.emplace(std::move(executor));
  if (!journal) {
    // Tracked even without a journal: the sequence (the streams' event ids) must move with
    // the state and only with it, so that a stream that reconnects with a current
    // Last-Event-ID gets no duplicate.
    engine_.track_changes(true);
    return;
  }

  journal_.emplace(std::move(*journal), engine_, clock.now());
  const RecoveryReport& report = journal_->recovery();
  for (const std::string& warning : report.warnings) spdlog::warn("{}", warning);
  sequence_ = report.store_sequence;
  engine_.track_changes(true);
  journal_->on_durable([this](std::uint64_t durable_lsn) {
    std::lock_guard lock(mutex_);
    deliver(durable_lsn);
  });

  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  if (!report.fresh) {
    spdlog::info(
        "recovered {} user(s) ({} waiting, {} draft, {} connected) from {}: snapshot {} B, "
        "{} journal commit(s)",
        report.users, engine_.waiting_count(), engine_.draft_count(), engine_.connected_count(),
        report.snapshot_found ? "snapshot and journal" : "journal", report.snapshot_bytes,
        report.journal_commits);
    if (!same_settings(engine_.settings(), settings)) {
      spdlog::info("the configured settings replace the journaled ones");
      engine_.update_settings(settings, now);
    }
  }
  // Whatever expired while the server was down fires now, and is journaled like any change.
  engine_.advance(now);
  commit(now, false);
}

EmbeddedStore::~EmbeddedStore() {
  stop();
  if (journal_) {
    journal_->sync();
    journal_->on_durable(nullptr);
  }
}

std::uint64_t EmbeddedStore::commit(TimePoint now, bool from_timer) {
  auto events = engine_.take_events();
  std::uint64_t lsn = 0;
  if (!journal_) {
    if (engine_.drop_changes() || !events.empty()) ++sequence_;
    if (!events.empty()) sink_.on_events(events, sequence_);
  } else {
    engine::Changes changes = engine_.take_changes();
    // The sequence moves only with a journaled commit, so that every sequence a client may
    // have seen (an SSE id) is on disk and a restart never hands out a smaller one.
    if (changes.empty() && events.empty()) {
      lsn = journal_->appended_lsn();
    } else {
      lsn = journal_->append(changes, ++sequence_);
    }
    if (!events.empty()) {
      pending_.push_back(PendingEvents{lsn, sequence_, std::move(events)});
      // Events of a commit that is already durable (nothing new to write) go out at once,
      // after any older batch still waiting.
      deliver(journal_->durable_lsn());
    }
    if (journal_->wants_snapshot()) journal_->snapshot(engine_, sequence_);
  }
  if (auto deadline = engine_.next_deadline()) arm(*deadline, now, from_timer);
  return lsn;
}

void EmbeddedStore::deliver(std::uint64_t durable_lsn) {
  while (!pending_.empty() && pending_.front().lsn <= durable_lsn) {
    sink_.on_events(pending_.front().events, pending_.front().sequence);
    pending_.pop_front();
  }
}

awaitable<void> EmbeddedStore::wait_durable(std::uint64_t lsn) {
  boost::system::error_code ec;
  co_await journal_->async_wait_durable(
      lsn, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  // The change happened in memory but could not be made durable: the caller must not
  // acknowledge it. The HTTP layer answers such an exception with a 5xx.
  if (ec) throw boost::system::system_error(ec, "journal");
}

bool EmbeddedStore::permitted(std::string_view user_id, const Actor& actor, bool creates,
                              TimePoint now) {
  // Open mode and the API key: no record to look up (the operation runs the timers itself).
  if (actor.any_generation) return true;
  engine_.advance(now);
  const auto view = engine_.find(user_id, now);
  if (!view) return creates || actor.may_act_on(std::nullopt);
  return actor.may_act_on(view->generation);
}

template <class Result, class Operation>
awaitable<At<Result>> EmbeddedStore::change(Operation operation, std::string_view user_id,
                                            std::optional<Actor> actor, bool creates) {
  std::optional<At<Result>> out;
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    if (actor && !permitted(user_id, *actor, creates, now)) {
      out.emplace(At<Result>{Result{}, now, true});
    } else {
      out.emplace(At<Result>{operation(now), now});
    }
    // Also for a refusal: the timers that the check ran are committed like any change.
    lsn = commit(now, false);
  }
  // Ephemeral, or already durable: answer without a second coroutine frame.
  if (must_wait(lsn)) co_await wait_durable(lsn);
  co_return std::move(*out);
}

void EmbeddedStore::arm(TimePoint deadline, TimePoint now, bool from_timer) {
  if (stopped_ || !timer_) return;
  // A timer already armed at or before this deadline will fire in time and re-arm.
  if (!from_timer && armed_deadline_ && *armed_deadline_ <= deadline) return;
  // From the timer itself, wait at least 1 ms: a wall clock held still must not spin.
  const Duration min_delay{from_timer ? 1 : 0};
  const auto delay = std::max(min_delay, std::chrono::duration_cast<Duration>(deadline - now));
  armed_deadline_ = deadline;
  timer_->expires_after(delay);
  timer_->async_wait([this](boost::system::error_code ec) {
    // Aborted: a re-arm replaced this wait, or the store stopped (and may be gone): do not
    // touch `this`.
    if (ec == boost::asio::error::operation_aborted) return;
    on_timer();
  });
}

void EmbeddedStore::on_timer() {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  armed_deadline_.reset();
  const auto now = clock_.now();
  engine_.advance(now);
  commit(now, true);
}

void EmbeddedStore::advance() {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.advance(now);
  commit(now, false);
}

std::string EmbeddedStore::check_invariants() const {
  std::lock_guard lock(mutex_);
  return engine_.check_invariants();
}

const RecoveryReport& EmbeddedStore::recovery() const {
  assert(journal_);
  return journal_->recovery();
}

JournalStats EmbeddedStore::journal_stats() const {
  assert(journal_);
  return journal_->stats();
}

void EmbeddedStore::sync() {
  assert(journal_);
  journal_->sync();
  std::lock_guard lock(mutex_);
  deliver(journal_->durable_lsn());
}

void EmbeddedStore::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  if (timer_) timer_->cancel();
  armed_deadline_.reset();
}

awaitable<At<engine::JoinResult>> EmbeddedStore::join(std::string_view user_id, Actor actor) {
  return change<engine::JoinResult>(
      [this, user_id](TimePoint now) { return engine_.join(user_id, now); }, user_id, actor, true);
}

awaitable<At<engine::ConfirmResult>> EmbeddedStore::confirm(std::string_view user_id, Actor actor) {
  return change<engine::ConfirmResult>(
      [this, user_id](TimePoint now) { return engine_.confirm(user_id, now); }, user_id, actor,
      false);
}

awaitable<At<engine::LeaveResult>> EmbeddedStore::leave(std::string_view user_id, Actor actor) {
  return change<engine::LeaveResult>(
      [this, user_id](TimePoint now) { return engine_.leave(user_id, now); }, user_id, actor,
      false);
}

awaitable<At<engine::LeaveResult>> EmbeddedStore::kick(std::string_view user_id) {
  return change<engine::LeaveResult>(
      [this, user_id](TimePoint now) { return engine_.kick(user_id, now); });
}

awaitable<At<engine::HeartbeatResult>> EmbeddedStore::heartbeat(std::string_view user_id,
                                                                Actor actor) {
  return change<engine::HeartbeatResult>(
      [this, user_id](TimePoint now) { return engine_.heartbeat(user_id, now); }, user_id, actor,
      false);
}

awaitable<Viewed> EmbeddedStore::find(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  co_return Viewed{engine_.find(user_id, now), now, sequence_};
}

awaitable<Viewed> EmbeddedStore::poll(std::string_view user_id) {
  // The hot path (GET /queue/status): one lock, no allocation besides the view, no
  // durability wait. A touch only moves a presence or idle deadline later (and is not
  // journaled), so it never needs to re-arm the timer (an early firing re-arms itself) and
  // emits no event; timers that the touch ran are committed by the next commit.
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.touch(user_id, now);
  co_return Viewed{engine_.find(user_id, now), now, sequence_};
}

awaitable<Viewed> EmbeddedStore::stream_opened(std::string_view user_id, Actor actor) {
  // The first message of a stream is a state that must be durable: wait for it.
  std::optional<Viewed> out;
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    const bool allowed = permitted(user_id, actor, false, now);
    if (allowed) engine_.stream_opened(user_id, now);
    lsn = commit(now, false);
    if (allowed) {
      out.emplace(Viewed{engine_.find(user_id, now), now, sequence_});
    } else {
      out.emplace(Viewed{std::nullopt, now, sequence_, true});
    }
  }
  if (must_wait(lsn)) co_await wait_durable(lsn);
  co_return std::move(*out);
}

awaitable<void> EmbeddedStore::stream_closed(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.stream_closed(user_id, now);
  commit(now, false);
  co_return;
}

awaitable<std::uint64_t> EmbeddedStore::queue_version() {
  std::lock_guard lock(mutex_);
  co_return engine_.queue_version();
}

awaitable<Positions> EmbeddedStore::positions(const std::vector<std::string>& user_ids) {
  std::lock_guard lock(mutex_);
  Positions out;
  out.now = clock_.now();
  out.views.reserve(user_ids.size());
  for (const auto& id : user_ids) out.views.push_back(engine_.find(id, out.now));
  out.queue_version = engine_.queue_version();
  out.sequence = sequence_;
  co_return out;
}

awaitable<MetricsSnapshot> EmbeddedStore::metrics() {
  std::lock_guard lock(mutex_);
  MetricsSnapshot out;
  out.waiting = engine_.waiting_count();
  out.draft = engine_.draft_count();
  out.connected = engine_.connected_count();
  out.total_slots = engine_.settings().max_active_users;
  out.paused = engine_.paused();
  out.average_wait = engine_.average_wait();
  out.average_session = engine_.average_session();
  out.counters = engine_.counters();
  co_return out;
}

awaitable<engine::Snapshot> EmbeddedStore::snapshot() {
  std::lock_guard lock(mutex_);
  co_return engine_.snapshot();
}

awaitable<engine::Settings> EmbeddedStore::settings() {
  std::lock_guard lock(mutex_);
  co_return engine_.settings();
}

awaitable<void> EmbeddedStore::update_settings(engine::Settings settings) {
  co_await change<bool>([this, &settings](TimePoint now) {
    engine_.update_settings(settings, now);
    return true;
  });
}

awaitable<bool> EmbeddedStore::set_paused(bool paused) {
  const auto done = co_await change<bool>([this, paused](TimePoint now) {
    engine_.set_paused(paused, now);
    return engine_.paused();
  });
  co_return done.result;
}

}  // namespace waitroom::store
