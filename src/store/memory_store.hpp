// The embedded store: one engine::Engine in this process, behind one mutex.
//
// Operations are short (the engine is O(log N) per call), so a plain mutex held for the
// call is cheaper than funnelling every request through one strand, and no lock is ever
// held across I/O. One steady_timer is armed at the engine's next deadline; it is re-armed
// after an operation only when that deadline moved earlier, and when it fires it calls
// advance(now) and re-arms itself. A timer that fires early (the deadline moved later, or
// the wall clock was held still) finds nothing to do and simply re-arms.
//
// The timer is only touched with the mutex held, which serialises it as Asio requires.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <optional>

#include "store/store.hpp"

namespace waitroom::store {

class MemoryStore final : public Store {
 public:
  MemoryStore(boost::asio::any_io_executor executor, const Clock& clock, engine::Settings settings,
              EventSink& sink);
  ~MemoryStore() override;

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

  // Runs the engine's due timers now; what the timer does, callable from tests.
  void advance();
  // Checks the engine's invariants (empty when they hold); for tests.
  std::string check_invariants() const;

 private:
  // Drains the engine's events to the sink and re-arms the timer; mutex_ held.
  void after_change(TimePoint now, bool from_timer);
  void arm(TimePoint deadline, TimePoint now, bool from_timer);
  void on_timer(boost::system::error_code ec);

  const Clock& clock_;
  EventSink& sink_;
  mutable std::mutex mutex_;
  engine::Engine engine_;
  std::uint64_t sequence_ = 0;
  std::optional<boost::asio::steady_timer> timer_;
  std::optional<TimePoint> armed_deadline_;
  bool stopped_ = false;
};

}  // namespace waitroom::store
