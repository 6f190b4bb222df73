// Shared helpers for the engine tests: a fixed start instant, short settings, and an
// engine wrapper that checks every invariant after each call.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace waitroom::engine::testing {

using namespace std::chrono_literals;

inline const TimePoint kStart{Duration{1'700'000'000'000}};

// Small numbers make the arithmetic of the tests readable.
inline Settings small_settings() {
  Settings s;
  s.max_active_users = 2;
  s.session_duration = 100s;
  s.draft_duration = 10s;
  s.idle_timeout = 0s;
  s.presence_timeout = 0s;
  s.max_draft_misses = 2;
  s.expiring_soon = 0s;
  s.disconnected_retention = 1000s;
  return s;
}

inline Status status_of(const Engine& engine, std::string_view id, TimePoint now) {
  auto view = engine.find(id, now);
  EXPECT_TRUE(view.has_value()) << id;
  return view ? view->status : Status::disconnected;
}

inline std::vector<Event::Kind> kinds(const std::vector<Event>& events) {
  std::vector<Event::Kind> out;
  for (const Event& e : events) out.push_back(e.kind);
  return out;
}

#define EXPECT_INVARIANTS(engine) EXPECT_EQ((engine).check_invariants(), "")

}  // namespace waitroom::engine::testing
