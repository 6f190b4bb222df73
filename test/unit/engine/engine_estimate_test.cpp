// Checks the wait estimate (cold start from the cap and session length, then from the
// observed interval between slot releases, always non-decreasing in position), the wait
// and session averages, the `measured` field, and the order in which events are emitted.
#include "engine_test_support.hpp"

namespace waitroom::engine::testing {
namespace {

TEST(EngineEstimate, ColdStartUsesCapAndSessionLength) {
  Engine engine(small_settings());  // cap 2, session 100 s
  EXPECT_EQ(engine.estimated_wait(0, kStart), 0s);
  EXPECT_EQ(engine.estimated_wait(1, kStart), 100s);
  EXPECT_EQ(engine.estimated_wait(2, kStart), 100s);
  EXPECT_EQ(engine.estimated_wait(3, kStart), 200s);
  for (const char* id : {"a", "b", "c", "d", "e"}) engine.join(id, kStart);
  auto e = engine.find("e", kStart);
  EXPECT_EQ(e->position, 3u);
  EXPECT_EQ(e->estimated_wait, 200s);
}

TEST(EngineEstimate, LearnsFromObservedReleases) {
  Settings s = small_settings();
  s.max_active_users = 1;
  s.session_duration = 1000s;
  s.draft_duration = 1000s;
  Engine engine(s);
  for (int i = 0; i < 10; ++i) engine.join("u" + std::to_string(i), kStart);
  // Four releases are not enough to trust.
  for (int k = 1; k <= 4; ++k)
    engine.leave("u" + std::to_string(k - 1), kStart + std::chrono::seconds{10 * k});
  EXPECT_EQ(engine.estimated_wait(3, kStart + 40s), 3000s);
  engine.leave("u4", kStart + 50s);
  // Releases every 10 s: position p waits about p * 10 s.
  EXPECT_EQ(engine.estimated_wait(3, kStart + 50s), 30s);
  EXPECT_EQ(engine.find("u6", kStart + 50s)->estimated_wait, 10s);
  // When releases stop the estimate grows with the time since the oldest one.
  EXPECT_EQ(engine.estimated_wait(1, kStart + 90s), 20s);
}

TEST(EngineEstimate, NonDecreasingInPosition) {
  Settings s = small_settings();
  s.max_active_users = 7;
  Engine engine(s);
  auto check = [&](TimePoint now) {
    Duration previous{0};
    for (std::uint64_t p = 1; p < 2000; ++p) {
      Duration wait = engine.estimated_wait(p, now);
      ASSERT_GE(wait, previous) << p;
      previous = wait;
    }
  };
  check(kStart);
  for (int i = 0; i < 40; ++i) engine.join("u" + std::to_string(i), kStart);
  for (int i = 0; i < 20; ++i) {
    engine.leave("u" + std::to_string(i), kStart + std::chrono::milliseconds{i * 777});
  }
  check(kStart + 20s);
}

TEST(EngineEstimate, AveragesAndMeasured) {
  Settings s = small_settings();
  s.draft_duration = 1000s;
  Engine engine(s);
  EXPECT_EQ(engine.average_wait(), 0s);
  EXPECT_EQ(engine.average_session(), 0s);
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.join("c", kStart);
  engine.confirm("a", kStart);
  engine.take_events();
  engine.leave("a", kStart + 40s);  // c waited 40 s, a's session lasted 40 s
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].measured, 40s);
  EXPECT_EQ(events[1].measured, 40s);
  EXPECT_EQ(engine.average_wait(), 13333ms);  // (0 + 0 + 40 s) / 3
  EXPECT_EQ(engine.average_session(), 40s);
  EXPECT_EQ(engine.counters().drafts, 3u);
  EXPECT_EQ(engine.counters().admissions, 1u);
}

TEST(EngineEvents, JoinEmitsWaitingThenDraft) {
  Engine engine(small_settings());
  engine.join("a", kStart);
  auto events = engine.take_events();
  EXPECT_EQ(kinds(events), (std::vector{Event::Kind::waiting, Event::Kind::draft}));
  EXPECT_EQ(events[0].position, 1u);
  EXPECT_EQ(events[1].duration, 10s);
  EXPECT_EQ(events[1].expires_at, kStart + 10s);
  EXPECT_EQ(events[1].at, kStart);
  engine.confirm("a", kStart + 1s);
  events = engine.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::connected);
  EXPECT_EQ(events[0].duration, 100s);
  EXPECT_EQ(events[0].expires_at, kStart + 101s);
  EXPECT_TRUE(engine.take_events().empty());
}

TEST(EngineEvents, DueTimersRunBeforeTheOperationThatFindsThem) {
  Settings s = small_settings();
  s.max_active_users = 1;
  Engine engine(s);
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.take_events();
  // a's draft ended at +10 s; nobody called advance, but a late confirm is still refused.
  EXPECT_EQ(engine.confirm("a", kStart + 10s).outcome, Outcome::wrong_state);
  auto events = engine.take_events();
  EXPECT_EQ(kinds(events), (std::vector{Event::Kind::requeued, Event::Kind::draft}));
  EXPECT_EQ(events[1].user_id, "b");
  EXPECT_INVARIANTS(engine);
}

TEST(EngineEvents, DraftsFollowTheDisconnectionsOfOneAdvance) {
  Settings s = small_settings();
  s.max_draft_misses = 1;
  Engine engine(s);
  for (const char* id : {"a", "b", "c", "d"}) engine.join(id, kStart);
  engine.take_events();
  engine.advance(kStart + 10s);
  auto events = engine.take_events();
  EXPECT_EQ(kinds(events), (std::vector{Event::Kind::disconnected, Event::Kind::disconnected,
                                        Event::Kind::draft, Event::Kind::draft}));
  EXPECT_EQ(events[0].user_id, "a");
  EXPECT_EQ(events[1].user_id, "b");
  EXPECT_EQ(events[2].user_id, "c");
  EXPECT_EQ(events[3].user_id, "d");
}

}  // namespace
}  // namespace waitroom::engine::testing
