// The embedded store: see memory_store.hpp for the locking and timer design.
#include "store/memory_store.hpp"

#include <algorithm>

namespace waitroom::store {

MemoryStore::MemoryStore(boost::asio::any_io_executor executor, const Clock& clock,
                         engine::Settings settings, EventSink& sink)
    : clock_(clock), sink_(sink), engine_(settings) {
  timer_.emplace(std::move(executor));
}

MemoryStore::~MemoryStore() = default;

void MemoryStore::after_change(TimePoint now, bool from_timer) {
  ++sequence_;
  auto events = engine_.take_events();
  if (!events.empty()) sink_.on_events(events, sequence_);
  if (auto deadline = engine_.next_deadline()) arm(*deadline, now, from_timer);
}

void MemoryStore::arm(TimePoint deadline, TimePoint now, bool from_timer) {
  if (stopped_ || !timer_) return;
  // A timer already armed at or before this deadline will fire in time and re-arm.
  if (!from_timer && armed_deadline_ && *armed_deadline_ <= deadline) return;
  // From the timer itself, wait at least 1 ms: a wall clock held still must not spin.
  const Duration min_delay{from_timer ? 1 : 0};
  const auto delay = std::max(min_delay, std::chrono::duration_cast<Duration>(deadline - now));
  armed_deadline_ = deadline;
  timer_->expires_after(delay);
  timer_->async_wait([this](boost::system::error_code ec) { on_timer(ec); });
}

void MemoryStore::on_timer(boost::system::error_code ec) {
  // Aborted: a re-arm replaced this wait, or the store stopped.
  if (ec == boost::asio::error::operation_aborted) return;
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  armed_deadline_.reset();
  const auto now = clock_.now();
  engine_.advance(now);
  after_change(now, true);
}

void MemoryStore::advance() {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.advance(now);
  after_change(now, false);
}

std::string MemoryStore::check_invariants() const {
  std::lock_guard lock(mutex_);
  return engine_.check_invariants();
}

void MemoryStore::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  if (timer_) timer_->cancel();
  armed_deadline_.reset();
}

awaitable<At<engine::JoinResult>> MemoryStore::join(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  At<engine::JoinResult> out{engine_.join(user_id, now), now};
  after_change(now, false);
  co_return out;
}

awaitable<At<engine::ConfirmResult>> MemoryStore::confirm(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  At<engine::ConfirmResult> out{engine_.confirm(user_id, now), now};
  after_change(now, false);
  co_return out;
}

awaitable<At<engine::LeaveResult>> MemoryStore::leave(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  At<engine::LeaveResult> out{engine_.leave(user_id, now), now};
  after_change(now, false);
  co_return out;
}

awaitable<At<engine::LeaveResult>> MemoryStore::kick(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  At<engine::LeaveResult> out{engine_.kick(user_id, now), now};
  after_change(now, false);
  co_return out;
}

awaitable<At<engine::HeartbeatResult>> MemoryStore::heartbeat(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  At<engine::HeartbeatResult> out{engine_.heartbeat(user_id, now), now};
  after_change(now, false);
  co_return out;
}

awaitable<Viewed> MemoryStore::find(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  co_return Viewed{engine_.find(user_id, now), now, sequence_};
}

awaitable<Viewed> MemoryStore::poll(std::string_view user_id) {
  // The hot path (GET /queue/status): one lock, no allocation besides the view. A touch
  // only moves a presence or idle deadline later, so it never needs to re-arm the timer
  // (an early firing re-arms itself) and emits no event.
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.touch(user_id, now);
  co_return Viewed{engine_.find(user_id, now), now, sequence_};
}

awaitable<Viewed> MemoryStore::stream_opened(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.stream_opened(user_id, now);
  after_change(now, false);
  co_return Viewed{engine_.find(user_id, now), now, sequence_};
}

awaitable<void> MemoryStore::stream_closed(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.stream_closed(user_id, now);
  after_change(now, false);
  co_return;
}

awaitable<std::uint64_t> MemoryStore::queue_version() {
  std::lock_guard lock(mutex_);
  co_return engine_.queue_version();
}

awaitable<Positions> MemoryStore::positions(const std::vector<std::string>& user_ids) {
  std::lock_guard lock(mutex_);
  Positions out;
  out.now = clock_.now();
  out.views.reserve(user_ids.size());
  for (const auto& id : user_ids) out.views.push_back(engine_.find(id, out.now));
  out.queue_version = engine_.queue_version();
  out.sequence = sequence_;
  co_return out;
}

awaitable<MetricsSnapshot> MemoryStore::metrics() {
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

awaitable<engine::Snapshot> MemoryStore::snapshot() {
  std::lock_guard lock(mutex_);
  co_return engine_.snapshot();
}

awaitable<engine::Settings> MemoryStore::settings() {
  std::lock_guard lock(mutex_);
  co_return engine_.settings();
}

awaitable<void> MemoryStore::update_settings(engine::Settings settings) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.update_settings(settings, now);
  after_change(now, false);
  co_return;
}

awaitable<bool> MemoryStore::set_paused(bool paused) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  engine_.set_paused(paused, now);
  after_change(now, false);
  co_return engine_.paused();
}

}  // namespace waitroom::store
