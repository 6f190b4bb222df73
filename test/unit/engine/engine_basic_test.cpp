// Checks the engine's main path: join (idempotent), drafts offered at once while slots are
// free, positions 1..N, confirm, leave admitting the next user, and the invariants after
// each step.
#include "engine_test_support.hpp"

namespace waitroom::engine::testing {
namespace {

TEST(EngineBasic, JoinIsIdempotentAndDraftsAtOnceWhenSlotsAreFree) {
  Engine engine(small_settings());
  auto first = engine.join("a", kStart);
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(first.before.has_value());
  EXPECT_EQ(first.after.status, Status::draft);
  auto again = engine.join("a", kStart + 1s);
  EXPECT_FALSE(again.created);
  ASSERT_TRUE(again.before.has_value());
  EXPECT_EQ(again.before->status, Status::draft);
  EXPECT_EQ(again.after.status, Status::draft);
  EXPECT_EQ(engine.draft_count(), 1u);
  EXPECT_EQ(engine.counters().joins, 1u);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineBasic, FiftyDraftsAndPositionsOneToTen) {
  Settings s = small_settings();
  s.max_active_users = 50;
  Engine engine(s);
  for (int i = 0; i < 60; ++i) engine.join("u" + std::to_string(i), kStart);
  EXPECT_EQ(engine.draft_count(), 50u);
  EXPECT_EQ(engine.waiting_count(), 10u);
  for (int i = 50; i < 60; ++i) {
    auto view = engine.find("u" + std::to_string(i), kStart);
    ASSERT_TRUE(view);
    EXPECT_EQ(view->status, Status::waiting);
    EXPECT_EQ(view->position, static_cast<std::uint64_t>(i - 49));
    EXPECT_EQ(api_position(*view), i - 49);
  }
  EXPECT_INVARIANTS(engine);
}

TEST(EngineBasic, ConfirmWithoutDraftIsWrongState) {
  Engine engine(small_settings());
  EXPECT_EQ(engine.confirm("nobody", kStart).outcome, Outcome::unknown_user);
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.join("c", kStart);
  EXPECT_EQ(engine.confirm("c", kStart).outcome, Outcome::wrong_state);
  auto ok = engine.confirm("a", kStart + 1s);
  EXPECT_EQ(ok.outcome, Outcome::ok);
  EXPECT_EQ(ok.after.status, Status::connected);
  EXPECT_EQ(ok.after.deadline, kStart + 101s);
  EXPECT_EQ(api_position(ok.after), kConnectedPosition);
  EXPECT_EQ(engine.confirm("a", kStart + 2s).outcome, Outcome::wrong_state);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineBasic, LeaveOfConnectedAdmitsTheNext) {
  Engine engine(small_settings());
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.join("c", kStart);
  engine.confirm("a", kStart);
  engine.take_events();
  auto left = engine.leave("a", kStart + 5s);
  EXPECT_EQ(left.outcome, Outcome::ok);
  EXPECT_EQ(left.previous, Status::connected);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Event::Kind::disconnected);
  EXPECT_EQ(events[0].reason, Reason::left);
  EXPECT_EQ(events[0].measured, 5s);
  EXPECT_EQ(events[1].kind, Event::Kind::draft);
  EXPECT_EQ(events[1].user_id, "c");
  EXPECT_EQ(events[1].measured, 5s);
  EXPECT_EQ(status_of(engine, "c", kStart + 5s), Status::draft);
  EXPECT_EQ(engine.leave("zz", kStart).outcome, Outcome::unknown_user);
  EXPECT_INVARIANTS(engine);
}

}  // namespace
}  // namespace waitroom::engine::testing
