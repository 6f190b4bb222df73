// The durable embedded store: see durable_store.hpp for the commit and delivery rules, and
// memory_store.hpp for the timer (the same design: one steady_timer at the engine's next
// deadline, only touched with the mutex held).
#include "store/durable_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

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

DurableStore::DurableStore(boost::asio::any_io_executor executor, const Clock& clock,
                           engine::Settings settings, EventSink& sink, JournalOptions options)
    : clock_(clock),
      sink_(sink),
      engine_(settings),
      journal_(std::move(options), engine_, clock.now()) {
  const RecoveryReport& report = journal_.recovery();
  for (const std::string& warning : report.warnings) spdlog::warn("{}", warning);
  sequence_ = report.store_sequence;
  engine_.track_changes(true);
  timer_.emplace(std::move(executor));
  journal_.on_durable([this](std::uint64_t durable_lsn) {
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
        journal_.recovery().snapshot_found ? "snapshot and journal" : "journal",
        report.snapshot_bytes, report.journal_commits);
    if (!same_settings(engine_.settings(), settings)) {
      spdlog::info("the configured settings replace the journaled ones");
      engine_.update_settings(settings, now);
    }
  }
  // Whatever expired while the server was down fires now, and is journaled like any change.
  engine_.advance(now);
  commit(now, false);
}

DurableStore::~DurableStore() {
  stop();
  journal_.sync();
  journal_.on_durable(nullptr);
}

std::uint64_t DurableStore::commit(TimePoint now, bool from_timer) {
  auto events = engine_.take_events();
  engine::Changes changes = engine_.take_changes();
  // The sequence moves only with a journaled commit, so that every sequence a client may
  // have seen (an SSE id) is on disk and a restart never hands out a smaller one.
  std::uint64_t lsn;
  if (changes.empty() && events.empty()) {
    lsn = journal_.appended_lsn();
  } else {
    lsn = journal_.append(changes, ++sequence_);
  }
  if (!events.empty()) {
    pending_.push_back(PendingEvents{lsn, sequence_, std::move(events)});
    // Events of a commit that is already durable (nothing new to write) go out at once,
    // after any older batch still waiting.
    deliver(journal_.durable_lsn());
  }
  if (journal_.wants_snapshot()) journal_.snapshot(engine_, sequence_);
  if (auto deadline = engine_.next_deadline()) arm(*deadline, now, from_timer);
  return lsn;
}

void DurableStore::deliver(std::uint64_t durable_lsn) {
  while (!pending_.empty() && pending_.front().lsn <= durable_lsn) {
    sink_.on_events(pending_.front().events, pending_.front().sequence);
    pending_.pop_front();
  }
}

awaitable<void> DurableStore::durable(std::uint64_t lsn) {
  if (journal_.durable_lsn() >= lsn) co_return;
  boost::system::error_code ec;
  co_await journal_.async_wait_durable(lsn,
                                       boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  // The change happened in memory but could not be made durable: the caller must not
  // acknowledge it. The HTTP layer answers such an exception with a 5xx.
  if (ec) throw boost::system::system_error(ec, "journal");
}

void DurableStore::arm(TimePoint deadline, TimePoint now, bool from_timer) {
  if (stopped_ || !timer_) return;
  if (!from_timer && armed_deadline_ && *armed_deadline_ <= deadline) return;
  const Duration min_delay{from_timer ? 1 : 0};
  const auto delay = std::max(min_delay, std::chrono::duration_cast<Duration>(deadline - now));
  armed_deadline_ = deadline;
  timer_->expires_after(delay);
  timer_->async_wait([this](boost::system::error_code ec) {
    // Aborted: a re-arm replaced this wait, or the store stopped (and may be gone): do not
    // touch `this`.
    if (ec == boost::asio::error::operation_aborted) return;
    on_timer(ec);
  });
}

void DurableStore::on_timer(boost::system::error_code) {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  armed_deadline_.reset();
  const auto now = clock_.now();
  engine_.advance(now);
  commit(now, true);
}

void DurableStore::advance() {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.advance(now);
  commit(now, false);
}

std::string DurableStore::check_invariants() const {
  std::lock_guard lock(mutex_);
  return engine_.check_invariants();
}

void DurableStore::sync() {
  journal_.sync();
  std::lock_guard lock(mutex_);
  deliver(journal_.durable_lsn());
}

void DurableStore::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  if (timer_) timer_->cancel();
  armed_deadline_.reset();
}

awaitable<At<engine::JoinResult>> DurableStore::join(std::string_view user_id) {
  std::optional<At<engine::JoinResult>> out;
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    out.emplace(At<engine::JoinResult>{engine_.join(user_id, now), now});
    lsn = commit(now, false);
  }
  co_await durable(lsn);
  co_return std::move(*out);
}

awaitable<At<engine::ConfirmResult>> DurableStore::confirm(std::string_view user_id) {
  std::optional<At<engine::ConfirmResult>> out;
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    out.emplace(At<engine::ConfirmResult>{engine_.confirm(user_id, now), now});
    lsn = commit(now, false);
  }
  co_await durable(lsn);
  co_return std::move(*out);
}

awaitable<At<engine::LeaveResult>> DurableStore::leave(std::string_view user_id) {
  std::optional<At<engine::LeaveResult>> out;
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    out.emplace(At<engine::LeaveResult>{engine_.leave(user_id, now), now});
    lsn = commit(now, false);
  }
  co_await durable(lsn);
  co_return std::move(*out);
}

awaitable<At<engine::LeaveResult>> DurableStore::kick(std::string_view user_id) {
  std::optional<At<engine::LeaveResult>> out;
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    out.emplace(At<engine::LeaveResult>{engine_.kick(user_id, now), now});
    lsn = commit(now, false);
  }
  co_await durable(lsn);
  co_return std::move(*out);
}

awaitable<At<engine::HeartbeatResult>> DurableStore::heartbeat(std::string_view user_id) {
  std::optional<At<engine::HeartbeatResult>> out;
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    out.emplace(At<engine::HeartbeatResult>{engine_.heartbeat(user_id, now), now});
    lsn = commit(now, false);
  }
  co_await durable(lsn);
  co_return std::move(*out);
}

awaitable<Viewed> DurableStore::find(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  co_return Viewed{engine_.find(user_id, now), now, sequence_};
}

awaitable<Viewed> DurableStore::poll(std::string_view user_id) {
  // The hot path: a touch changes nothing durable (presence is not journaled), so a poll
  // neither commits nor waits. Timers that the touch ran are committed by the next commit.
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.touch(user_id, now);
  co_return Viewed{engine_.find(user_id, now), now, sequence_};
}

awaitable<Viewed> DurableStore::stream_opened(std::string_view user_id) {
  // The first message of a stream is a state that must be durable: wait for it.
  std::optional<Viewed> out;
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    engine_.stream_opened(user_id, now);
    lsn = commit(now, false);
    out.emplace(Viewed{engine_.find(user_id, now), now, sequence_});
  }
  co_await durable(lsn);
  co_return std::move(*out);
}

awaitable<void> DurableStore::stream_closed(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.stream_closed(user_id, now);
  commit(now, false);
  co_return;
}

awaitable<std::uint64_t> DurableStore::queue_version() {
  std::lock_guard lock(mutex_);
  co_return engine_.queue_version();
}

awaitable<Positions> DurableStore::positions(const std::vector<std::string>& user_ids) {
  std::lock_guard lock(mutex_);
  Positions out;
  out.now = clock_.now();
  out.views.reserve(user_ids.size());
  for (const auto& id : user_ids) out.views.push_back(engine_.find(id, out.now));
  out.queue_version = engine_.queue_version();
  out.sequence = sequence_;
  co_return out;
}

awaitable<MetricsSnapshot> DurableStore::metrics() {
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

awaitable<engine::Snapshot> DurableStore::snapshot() {
  std::lock_guard lock(mutex_);
  co_return engine_.snapshot();
}

awaitable<engine::Settings> DurableStore::settings() {
  std::lock_guard lock(mutex_);
  co_return engine_.settings();
}

awaitable<void> DurableStore::update_settings(engine::Settings settings) {
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    engine_.update_settings(settings, now);
    lsn = commit(now, false);
  }
  co_await durable(lsn);
}

awaitable<bool> DurableStore::set_paused(bool paused) {
  std::uint64_t lsn;
  bool out;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    engine_.set_paused(paused, now);
    lsn = commit(now, false);
    out = engine_.paused();
  }
  co_await durable(lsn);
  co_return out;
}

}  // namespace waitroom::store
