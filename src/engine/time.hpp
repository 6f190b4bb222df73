// Time as the engine sees it: wall-clock milliseconds since the Unix epoch.
//
// Deadlines are kept in wall-clock time (not a monotonic clock) so that a draft or session
// deadline means the same instant after a restart. The engine never reads a clock: every
// operation receives `now`. Only src/cli constructs a real clock; tests use ManualClock.
#pragma once

#include <chrono>
#include <cstdint>

namespace waitroom {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::sys_time<std::chrono::milliseconds>;

// The one clock interface. Implementations must never go backwards: the system clock
// is wrapped so that a step back of the wall clock holds time still instead.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// A clock that moves only when told to; for tests and the simulator.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{Duration{1'700'000'000'000}}) : now_(start) {}
  TimePoint now() const override { return now_; }
  void advance(Duration by) { now_ += by; }
  void set(TimePoint to) { now_ = to; }

 private:
  TimePoint now_;
};

inline std::int64_t to_unix_ms(TimePoint t) {
  return t.time_since_epoch().count();
}

}  // namespace waitroom
