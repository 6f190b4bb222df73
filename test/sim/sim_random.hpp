// The seeded randomness shared by the engine simulator and the Redis store's comparison
// test: our own helpers over the raw generator (std distributions differ between standard
// libraries, and a seed must replay the same run everywhere), and random engine settings.
#pragma once

#include <cstdint>
#include <random>

#include "engine/engine.hpp"

namespace waitroom::sim {

class Random {
 public:
  explicit Random(std::uint64_t seed) : generator_(seed) {}
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : generator_() % n; }
  bool chance(std::uint64_t percent) { return below(100) < percent; }
  Duration millis(std::int64_t from, std::int64_t to) {
    return Duration{from +
                    static_cast<std::int64_t>(below(static_cast<std::uint64_t>(to - from + 1)))};
  }

 private:
  std::mt19937_64 generator_;
};

inline engine::Settings random_settings(Random& random) {
  using std::chrono::milliseconds;
  engine::Settings s;
  s.max_active_users = static_cast<std::uint32_t>(random.below(8));  // 0 happens: a closed room
  s.session_duration = random.millis(1'000, 120'000);
  s.draft_duration = random.millis(500, 30'000);
  s.idle_timeout = random.chance(30) ? milliseconds{0} : random.millis(1'000, 60'000);
  s.presence_timeout = random.chance(30) ? milliseconds{0} : random.millis(1'000, 60'000);
  s.max_draft_misses = static_cast<std::uint32_t>(1 + random.below(3));
  s.expiring_soon = random.chance(20) ? milliseconds{0} : random.millis(100, 40'000);
  s.requeue_policy = random.chance(50) ? engine::RequeuePolicy::back : engine::RequeuePolicy::front;
  s.session_renewal = random.chance(25);
  s.disconnected_retention = random.millis(0, 300'000);
  return s;
}

}  // namespace waitroom::sim
