// Checks the administrative and lifecycle operations: kick, pause and resume, lowering and
// raising the cap (lowering never kicks and stops admissions until below the new cap),
// update_settings (running deadlines keep their length), rejoining from disconnected, and
// the retention of disconnected records (forgetting them changes the generation).
#include "engine_test_support.hpp"

namespace waitroom::engine::testing {
namespace {

TEST(EngineAdmin, KickDisconnectsAndAdmitsTheNext) {
  Engine engine(small_settings());
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.join("c", kStart);
  engine.confirm("a", kStart);
  engine.take_events();
  auto kicked = engine.kick("a", kStart + 1s);
  EXPECT_EQ(kicked.outcome, Outcome::ok);
  EXPECT_EQ(kicked.previous, Status::connected);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].reason, Reason::kicked);
  EXPECT_EQ(events[1].user_id, "c");
  EXPECT_EQ(engine.counters().kicks, 1u);
  // Kicking or leaving a disconnected user changes nothing.
  EXPECT_EQ(engine.kick("a", kStart + 2s).previous, Status::disconnected);
  EXPECT_EQ(engine.leave("a", kStart + 2s).outcome, Outcome::ok);
  EXPECT_TRUE(engine.take_events().empty());
  EXPECT_EQ(engine.kick("nobody", kStart).outcome, Outcome::unknown_user);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineAdmin, LeaveFromWaitingAndDraft) {
  Engine engine(small_settings());
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.join("c", kStart);
  engine.join("d", kStart);
  std::uint64_t version = engine.queue_version();
  EXPECT_EQ(engine.leave("c", kStart).previous, Status::waiting);
  EXPECT_GT(engine.queue_version(), version);
  EXPECT_EQ(engine.find("d", kStart)->position, 1u);
  EXPECT_EQ(engine.leave("a", kStart).previous, Status::draft);
  EXPECT_EQ(status_of(engine, "d", kStart), Status::draft);
  EXPECT_EQ(engine.counters().leaves, 2u);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineAdmin, JoiningAtTheBackDoesNotMoveAnyone) {
  Settings s = small_settings();
  s.max_active_users = 0;
  Engine engine(s);
  engine.join("a", kStart);
  std::uint64_t version = engine.queue_version();
  engine.join("b", kStart);
  EXPECT_EQ(engine.queue_version(), version);
}

TEST(EngineAdmin, PauseStopsAdmissionsAndResumeAdmitsAtOnce) {
  Engine engine(small_settings());
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.join("c", kStart);
  engine.set_paused(true, kStart);
  EXPECT_TRUE(engine.paused());
  engine.leave("a", kStart + 1s);
  engine.join("d", kStart + 1s);
  EXPECT_EQ(status_of(engine, "c", kStart + 1s), Status::waiting);
  EXPECT_EQ(status_of(engine, "d", kStart + 1s), Status::waiting);
  EXPECT_INVARIANTS(engine);
  engine.take_events();
  engine.set_paused(false, kStart + 2s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::draft);
  EXPECT_EQ(events[0].user_id, "c");
  EXPECT_INVARIANTS(engine);
}

TEST(EngineAdmin, LoweringTheCapNeverKicksAndWaitsUntilBelowIt) {
  Settings s = small_settings();
  s.max_active_users = 3;
  Engine engine(s);
  for (const char* id : {"a", "b", "c", "d", "e"}) engine.join(id, kStart);
  engine.confirm("a", kStart);
  engine.confirm("b", kStart);
  engine.set_max_active_users(1, kStart + 1s);
  EXPECT_EQ(engine.connected_count() + engine.draft_count(), 3u);
  EXPECT_INVARIANTS(engine);
  engine.leave("a", kStart + 2s);
  EXPECT_EQ(status_of(engine, "d", kStart + 2s), Status::waiting);
  EXPECT_INVARIANTS(engine);
  engine.leave("b", kStart + 3s);
  EXPECT_EQ(status_of(engine, "d", kStart + 3s), Status::waiting);
  EXPECT_INVARIANTS(engine);
  engine.leave("c", kStart + 4s);
  EXPECT_EQ(status_of(engine, "d", kStart + 4s), Status::draft);
  EXPECT_EQ(status_of(engine, "e", kStart + 4s), Status::waiting);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineAdmin, RaisingTheCapAdmitsAtOnce) {
  Settings s = small_settings();
  s.max_active_users = 1;
  Engine engine(s);
  for (const char* id : {"a", "b", "c", "d"}) engine.join(id, kStart);
  engine.take_events();
  engine.set_max_active_users(3, kStart + 1s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].user_id, "b");
  EXPECT_EQ(events[1].user_id, "c");
  EXPECT_EQ(engine.settings().max_active_users, 3u);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineAdmin, UpdateSettingsKeepsRunningDeadlines) {
  Engine engine(small_settings());
  engine.join("a", kStart);
  Settings s = small_settings();
  s.draft_duration = 50s;
  s.max_active_users = 3;
  engine.update_settings(s, kStart + 1s);
  engine.join("b", kStart + 1s);
  EXPECT_EQ(engine.find("a", kStart + 1s)->deadline, kStart + 10s);
  EXPECT_EQ(engine.find("b", kStart + 1s)->deadline, kStart + 51s);
  EXPECT_INVARIANTS(engine);
  // Turning the idle timeout on applies to running sessions from their last activity.
  engine.confirm("a", kStart + 2s);
  s.idle_timeout = 5s;
  engine.update_settings(s, kStart + 3s);
  EXPECT_INVARIANTS(engine);
  engine.advance(kStart + 7s);
  EXPECT_EQ(engine.find("a", kStart + 7s)->reason, Reason::idle_timeout);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineAdmin, RejoinFromDisconnectedGoesToTheBackWithMissesReset) {
  Settings s = small_settings();
  s.max_active_users = 1;
  Engine engine(s);
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.join("c", kStart);
  engine.advance(kStart + 10s);  // a misses once: queue c, a; b drafted
  engine.leave("a", kStart + 11s);
  auto generation = engine.find("a", kStart + 11s)->generation;
  auto rejoin = engine.join("a", kStart + 12s);
  EXPECT_TRUE(rejoin.created);
  ASSERT_TRUE(rejoin.before);
  EXPECT_EQ(rejoin.before->status, Status::disconnected);
  EXPECT_EQ(rejoin.after.status, Status::waiting);
  EXPECT_EQ(rejoin.after.position, 2u);
  EXPECT_EQ(rejoin.after.draft_misses, 0u);
  EXPECT_EQ(rejoin.after.generation, generation);
  EXPECT_EQ(engine.counters().joins, 4u);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineAdmin, DisconnectedRecordsAreForgottenAfterRetention) {
  Engine engine(small_settings());  // retention 1000 s
  engine.join("a", kStart);
  auto generation = engine.find("a", kStart)->generation;
  engine.leave("a", kStart + 1s);
  engine.advance(kStart + 1001s - 1ms);
  ASSERT_TRUE(engine.find("a", kStart + 1001s));
  EXPECT_EQ(engine.user_count(), 1u);
  engine.advance(kStart + 1001s);
  EXPECT_FALSE(engine.find("a", kStart + 1001s));
  EXPECT_EQ(engine.user_count(), 0u);
  EXPECT_INVARIANTS(engine);
  auto again = engine.join("a", kStart + 1002s);
  EXPECT_TRUE(again.created);
  EXPECT_FALSE(again.before);
  EXPECT_NE(again.after.generation, generation);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineAdmin, TouchAndStreamsOfUnknownUsersAreIgnored) {
  Engine engine(small_settings());
  engine.touch("ghost", kStart);
  engine.stream_opened("ghost", kStart);
  engine.stream_closed("ghost", kStart);
  EXPECT_EQ(engine.user_count(), 0u);
  EXPECT_TRUE(engine.take_events().empty());
}

TEST(EngineAdmin, SnapshotListsEveryStateInOrder) {
  Settings s = small_settings();
  Engine engine(s);
  for (const char* id : {"a", "b", "c", "d"}) engine.join(id, kStart);
  engine.confirm("b", kStart);
  Snapshot snap = engine.snapshot();
  EXPECT_EQ(snap.waiting, (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(snap.draft, (std::vector<std::string>{"a"}));
  EXPECT_EQ(snap.connected, (std::vector<std::string>{"b"}));
}

TEST(EngineAdmin, ToStringNames) {
  EXPECT_EQ(to_string(Status::connected), "connected");
  EXPECT_EQ(to_string(Reason::draft_timeout), "draft_timeout");
  EXPECT_EQ(to_string(Reason::abandoned), "abandoned");
  EXPECT_EQ(to_string(RequeuePolicy::front), "front");
  UserView view;
  view.status = Status::draft;
  EXPECT_EQ(api_position(view), kDraftPosition);
  view.status = Status::disconnected;
  EXPECT_EQ(api_position(view), 0);
}

}  // namespace
}  // namespace waitroom::engine::testing
