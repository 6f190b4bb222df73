// Shared helpers for the journal tests: a temporary data directory, a seeded random
// workload over the engine (the simulator's idea), and an exact comparison of two engines.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace waitroom::store::testing {

using namespace std::chrono_literals;
using engine::Engine;

inline const TimePoint kStart{Duration{1'700'000'000'000}};

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "waitroom-journal-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Random operations on an engine, from a seed, so that a failure replays.
class Workload {
 public:
  Workload(std::uint64_t seed, std::size_t ids) : random_(seed) {
    for (std::size_t i = 0; i < ids; ++i) ids_.push_back("user-" + std::to_string(i));
  }
  const std::vector<std::string>& ids() const { return ids_; }

  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : random_() % n; }

  // Settings with every timer kind in play except the activity timers, which a restore
  // restarts by design (they are compared separately).
  engine::Settings settings() {
    engine::Settings s;
    s.max_active_users = static_cast<std::uint32_t>(1 + below(4));
    s.session_duration = Duration{static_cast<std::int64_t>(2'000 + below(20'000))};
    s.draft_duration = Duration{static_cast<std::int64_t>(500 + below(5'000))};
    s.idle_timeout = 0ms;
    s.presence_timeout = 0ms;
    s.max_draft_misses = static_cast<std::uint32_t>(1 + below(3));
    s.expiring_soon = below(4) == 0 ? 0ms : Duration{static_cast<std::int64_t>(100 + below(2'000))};
    s.requeue_policy = below(2) == 0 ? engine::RequeuePolicy::back : engine::RequeuePolicy::front;
    s.session_renewal = below(3) == 0;
    s.disconnected_retention = Duration{static_cast<std::int64_t>(below(30'000))};
    return s;
  }

  // One random operation at `now`; may move `now` forward.
  void step(Engine& engine, TimePoint& now) {
    const std::string& id = ids_[below(ids_.size())];
    switch (below(12)) {
      case 0:
      case 1:
      case 2:
        engine.join(id, now);
        break;
      case 3:
      case 4:
        engine.confirm(id, now);
        break;
      case 5:
        engine.leave(id, now);
        break;
      case 6:
        if (below(4) == 0) engine.kick(id, now);
        break;
      case 7:
        engine.heartbeat(id, now);
        break;
      case 8:
        engine.touch(id, now);
        break;
      case 9:
        if (below(20) == 0) {
          engine.set_max_active_users(static_cast<std::uint32_t>(below(5)), now);
        } else if (below(20) == 0) {
          engine.set_paused(!engine.paused(), now);
        } else if (below(30) == 0) {
          engine::Settings s = settings();
          engine.update_settings(s, now);
        }
        break;
      default:
        now += Duration{static_cast<std::int64_t>(below(below(10) == 0 ? 20'000 : 500))};
        engine.advance(now);
        break;
    }
  }

 private:
  std::mt19937_64 random_;
  std::vector<std::string> ids_;
};

inline std::vector<engine::UserRecord> records_of(const Engine& engine) {
  std::vector<engine::UserRecord> out;
  engine.for_each_record([&](const engine::UserRecord& r) { out.push_back(r); });
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

inline bool same_view(const engine::UserView& a, const engine::UserView& b) {
  return a.status == b.status && a.reason == b.reason && a.position == b.position &&
         a.deadline == b.deadline && a.total_duration == b.total_duration &&
         a.draft_misses == b.draft_misses && a.generation == b.generation &&
         a.estimated_wait == b.estimated_wait;
}

inline bool same_event(const engine::Event& a, const engine::Event& b) {
  return a.kind == b.kind && a.user_id == b.user_id && a.reason == b.reason &&
         a.position == b.position && a.estimated_wait == b.estimated_wait &&
         a.duration == b.duration && a.expires_at == b.expires_at && a.remaining == b.remaining &&
         a.session_type == b.session_type && a.measured == b.measured && a.at == b.at;
}

// Everything observable and durable must match: every record (with its armed state and
// warning timers), the queue order, every view, the globals and the counts.
// Timer sequence numbers are equal right after a restore; afterwards only their relative
// order matters (the original has armed more activity timers), so `same_sequences` is off.
inline void expect_same(const Engine& a, const Engine& b, const std::vector<std::string>& ids,
                        TimePoint now, const std::string& context, bool same_sequences = true) {
  SCOPED_TRACE(context);
  EXPECT_EQ(b.check_invariants(), "");
  auto ra = records_of(a);
  auto rb = records_of(b);
  ASSERT_EQ(ra.size(), rb.size());
  for (std::size_t i = 0; i < ra.size(); ++i) {
    if (!same_sequences) {
      for (auto* r : {&ra[i], &rb[i]}) {
        r->state_timer.sequence = r->state_timer.sequence != 0 ? 1 : 0;
        r->warning_timer.sequence = r->warning_timer.sequence != 0 ? 1 : 0;
      }
    }
    EXPECT_TRUE(ra[i] == rb[i]) << "record of " << ra[i].id;
  }
  auto sa = a.snapshot();
  auto sb = b.snapshot();
  EXPECT_EQ(sa.waiting, sb.waiting);
  EXPECT_EQ(sa.draft, sb.draft);
  EXPECT_EQ(sa.connected, sb.connected);
  for (const std::string& id : ids) {
    auto va = a.find(id, now);
    auto vb = b.find(id, now);
    ASSERT_EQ(va.has_value(), vb.has_value()) << id;
    if (va) {
      EXPECT_TRUE(same_view(*va, *vb)) << id;
    }
  }
  auto ga = a.durable_globals();
  auto gb = b.durable_globals();
  EXPECT_EQ(ga.next_back_ticket, gb.next_back_ticket);
  EXPECT_EQ(ga.next_front_ticket, gb.next_front_ticket);
  EXPECT_EQ(ga.next_generation, gb.next_generation);
  EXPECT_EQ(ga.paused, gb.paused);
  EXPECT_EQ(ga.settings.max_active_users, gb.settings.max_active_users);
  EXPECT_EQ(ga.counters.joins, gb.counters.joins);
  EXPECT_EQ(ga.total_wait, gb.total_wait);
  EXPECT_EQ(a.recent_releases(), b.recent_releases());
  EXPECT_EQ(a.average_session(), b.average_session());
}

}  // namespace waitroom::store::testing
