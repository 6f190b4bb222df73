// Checks every timer-driven transition on a fake clock: draft timeout with the back and
// front requeue policies, MAX_DRAFT_MISSES, session timeout, idle timeout (reset by
// heartbeat and touch), presence timeout with and without an open stream, expiring-soon
// notices for drafts and sessions, the session cap under heartbeats, and renewal.
#include "engine_test_support.hpp"

namespace waitroom::engine::testing {
namespace {

TEST(EngineTimers, DraftTimeoutRequeuesAtTheBack) {
  Settings s = small_settings();
  s.max_active_users = 1;
  Engine engine(s);
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.join("c", kStart);
  engine.take_events();
  engine.advance(kStart + 10s - 1ms);
  EXPECT_TRUE(engine.take_events().empty());
  engine.advance(kStart + 10s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Event::Kind::requeued);
  EXPECT_EQ(events[0].user_id, "a");
  EXPECT_EQ(events[0].reason, Reason::draft_timeout);
  EXPECT_EQ(events[0].position, 3u);
  EXPECT_EQ(events[1].kind, Event::Kind::draft);
  EXPECT_EQ(events[1].user_id, "b");
  auto a = engine.find("a", kStart + 10s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, Status::waiting);
  EXPECT_EQ(a->position, 2u);
  EXPECT_EQ(a->draft_misses, 1u);
  EXPECT_EQ(a->reason, Reason::draft_timeout);
  EXPECT_EQ(engine.snapshot().waiting, (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(engine.counters().draft_requeues, 1u);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineTimers, DraftTimeoutRequeuesAtTheFrontAndGetsTheSlotAgain) {
  Settings s = small_settings();
  s.max_active_users = 1;
  s.requeue_policy = RequeuePolicy::front;
  Engine engine(s);
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.take_events();
  engine.advance(kStart + 10s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Event::Kind::requeued);
  EXPECT_EQ(events[0].position, 1u);
  EXPECT_EQ(events[1].kind, Event::Kind::draft);
  EXPECT_EQ(events[1].user_id, "a");
  EXPECT_EQ(status_of(engine, "b", kStart + 10s), Status::waiting);
  EXPECT_INVARIANTS(engine);
  // The second miss in a row disconnects a and hands the slot to b.
  engine.advance(kStart + 20s);
  events = engine.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Event::Kind::disconnected);
  EXPECT_EQ(events[0].reason, Reason::draft_timeout);
  EXPECT_EQ(events[1].user_id, "b");
  EXPECT_EQ(engine.counters().draft_timeouts, 1u);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineTimers, MaxDraftMissesCountsMissesInARow) {
  Settings s = small_settings();
  s.max_active_users = 1;
  s.max_draft_misses = 2;
  Engine engine(s);
  engine.join("a", kStart);
  engine.advance(kStart + 10s);  // miss 1, drafted again at once (queue empty)
  EXPECT_EQ(status_of(engine, "a", kStart + 10s), Status::draft);
  // Confirming resets the count: the next draft may be missed once more.
  ASSERT_EQ(engine.confirm("a", kStart + 11s).outcome, Outcome::ok);
  EXPECT_EQ(engine.find("a", kStart + 11s)->draft_misses, 0u);
  engine.leave("a", kStart + 12s);
  engine.join("a", kStart + 13s);
  engine.advance(kStart + 23s);  // miss 1
  EXPECT_EQ(status_of(engine, "a", kStart + 23s), Status::draft);
  engine.advance(kStart + 33s);  // miss 2
  auto a = engine.find("a", kStart + 33s);
  EXPECT_EQ(a->status, Status::disconnected);
  EXPECT_EQ(a->reason, Reason::draft_timeout);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineTimers, SessionTimeout) {
  Engine engine(small_settings());
  engine.join("a", kStart);
  engine.confirm("a", kStart + 1s);
  engine.take_events();
  engine.advance(kStart + 101s - 1ms);
  EXPECT_EQ(status_of(engine, "a", kStart + 101s), Status::connected);
  engine.advance(kStart + 101s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::disconnected);
  EXPECT_EQ(events[0].reason, Reason::session_timeout);
  EXPECT_EQ(events[0].measured, 100s);
  EXPECT_EQ(engine.counters().session_timeouts, 1u);
  EXPECT_EQ(engine.average_session(), 100s);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineTimers, SessionTimeoutAfterALongStallMeasuresTheSessionLength) {
  Engine engine(small_settings());
  engine.join("a", kStart);
  engine.confirm("a", kStart);
  engine.take_events();
  engine.advance(kStart + 5000s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].measured, 100s);
}

TEST(EngineTimers, IdleTimeoutIsResetByHeartbeatAndTouch) {
  Settings s = small_settings();
  s.idle_timeout = 30s;
  s.draft_duration = 1000s;
  Engine engine(s);
  engine.join("a", kStart);
  engine.join("b", kStart);
  engine.join("c", kStart);
  engine.confirm("a", kStart);
  EXPECT_EQ(engine.heartbeat("a", kStart + 20s).outcome, Outcome::ok);  // idle at +50 s
  engine.advance(kStart + 49s);
  EXPECT_EQ(status_of(engine, "a", kStart + 49s), Status::connected);
  engine.touch("a", kStart + 49s);  // idle at +79 s
  engine.advance(kStart + 79s - 1ms);
  EXPECT_EQ(status_of(engine, "a", kStart + 79s), Status::connected);
  EXPECT_INVARIANTS(engine);
  engine.take_events();
  engine.advance(kStart + 79s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Event::Kind::disconnected);
  EXPECT_EQ(events[0].reason, Reason::idle_timeout);
  EXPECT_EQ(events[0].measured, 79s);
  // The freed slot goes to c in the same call.
  EXPECT_EQ(events[1].kind, Event::Kind::draft);
  EXPECT_EQ(events[1].user_id, "c");
  EXPECT_EQ(engine.counters().idle_timeouts, 1u);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineTimers, IdleTimeoutZeroIsOff) {
  Engine engine(small_settings());  // idle_timeout = 0
  engine.join("a", kStart);
  engine.confirm("a", kStart);
  engine.advance(kStart + 99s);
  EXPECT_EQ(status_of(engine, "a", kStart + 99s), Status::connected);
}

class Presence : public ::testing::Test {
 protected:
  // No slot at all, so that everybody stays in the queue.
  Presence() : engine_(settings()) {}
  static Settings settings() {
    Settings s = small_settings();
    s.max_active_users = 0;
    s.presence_timeout = 30s;
    return s;
  }
  Engine engine_;
};

TEST_F(Presence, WaitingUserWithoutPollIsAbandoned) {
  engine_.join("a", kStart);
  engine_.join("b", kStart);
  engine_.touch("a", kStart + 20s);
  engine_.advance(kStart + 30s);
  EXPECT_EQ(status_of(engine_, "a", kStart + 30s), Status::waiting);
  auto b = engine_.find("b", kStart + 30s);
  EXPECT_EQ(b->status, Status::disconnected);
  EXPECT_EQ(b->reason, Reason::abandoned);
  EXPECT_EQ(engine_.find("a", kStart + 30s)->position, 1u);
  engine_.advance(kStart + 50s - 1ms);
  EXPECT_EQ(status_of(engine_, "a", kStart + 50s), Status::waiting);
  engine_.advance(kStart + 50s);
  EXPECT_EQ(status_of(engine_, "a", kStart + 50s), Status::disconnected);
  EXPECT_EQ(engine_.counters().abandoned, 2u);
  EXPECT_INVARIANTS(engine_);
}

TEST_F(Presence, AnOpenStreamKeepsAWaitingUserPresent) {
  engine_.join("a", kStart);
  engine_.stream_opened("a", kStart + 5s);
  engine_.stream_opened("a", kStart + 6s);  // a second tab
  engine_.advance(kStart + 1000s);
  EXPECT_EQ(status_of(engine_, "a", kStart + 1000s), Status::waiting);
  EXPECT_INVARIANTS(engine_);
  engine_.stream_closed("a", kStart + 1000s);
  engine_.advance(kStart + 2000s);
  EXPECT_EQ(status_of(engine_, "a", kStart + 2000s), Status::waiting);
  // The last stream closing starts the presence clock from that moment.
  engine_.stream_closed("a", kStart + 2000s);
  engine_.stream_closed("a", kStart + 2000s);  // one too many: ignored
  EXPECT_INVARIANTS(engine_);
  engine_.advance(kStart + 2030s - 1ms);
  EXPECT_EQ(status_of(engine_, "a", kStart + 2030s), Status::waiting);
  engine_.advance(kStart + 2030s);
  EXPECT_EQ(engine_.find("a", kStart + 2030s)->reason, Reason::abandoned);
  EXPECT_INVARIANTS(engine_);
}

TEST_F(Presence, IdempotentJoinCountsAsPresence) {
  engine_.join("a", kStart);
  engine_.join("a", kStart + 25s);
  engine_.advance(kStart + 54s);
  EXPECT_EQ(status_of(engine_, "a", kStart + 54s), Status::waiting);
  engine_.advance(kStart + 55s);
  EXPECT_EQ(status_of(engine_, "a", kStart + 55s), Status::disconnected);
}

TEST(EngineTimers, ExpiringSoonForDraftAndSessionOnce) {
  Settings s = small_settings();
  s.expiring_soon = 3s;
  Engine engine(s);
  engine.join("a", kStart);
  engine.take_events();
  engine.advance(kStart + 7s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::expiring_soon);
  EXPECT_EQ(events[0].session_type, Status::draft);
  EXPECT_EQ(events[0].remaining, 3s);
  engine.advance(kStart + 8s);
  EXPECT_TRUE(engine.take_events().empty());
  engine.confirm("a", kStart + 8s);
  engine.take_events();
  engine.advance(kStart + 105s - 1ms);  // the session ends at +108 s
  EXPECT_TRUE(engine.take_events().empty());
  engine.advance(kStart + 105s);
  events = engine.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::expiring_soon);
  EXPECT_EQ(events[0].session_type, Status::connected);
  EXPECT_EQ(events[0].remaining, 3s);
  EXPECT_EQ(events[0].expires_at, kStart + 108s);
}

TEST(EngineTimers, ExpiringSoonIsSkippedWhenNotShorterThanTheDuration) {
  Settings s = small_settings();
  s.expiring_soon = 10s;  // equal to draft_duration: no draft notice
  Engine engine(s);
  engine.join("a", kStart);
  engine.take_events();
  engine.advance(kStart + 9s);
  EXPECT_TRUE(engine.take_events().empty());
  engine.confirm("a", kStart + 9s);
  engine.take_events();
  engine.advance(kStart + 99s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::expiring_soon);
  EXPECT_EQ(events[0].remaining, 10s);
}

TEST(EngineTimers, HeartbeatNeverExtendsTheSession) {
  Settings s = small_settings();
  s.idle_timeout = 30s;
  Engine engine(s);
  engine.join("a", kStart);
  engine.confirm("a", kStart);
  for (int t = 20; t <= 80; t += 20) {
    auto beat = engine.heartbeat("a", kStart + std::chrono::seconds{t});
    EXPECT_EQ(beat.outcome, Outcome::ok);
    EXPECT_EQ(beat.remaining, std::chrono::seconds{100 - t});
  }
  EXPECT_EQ(engine.find("a", kStart + 80s)->deadline, kStart + 100s);
  EXPECT_INVARIANTS(engine);
  engine.advance(kStart + 100s);
  EXPECT_EQ(engine.find("a", kStart + 100s)->reason, Reason::session_timeout);
  EXPECT_EQ(engine.heartbeat("a", kStart + 100s).outcome, Outcome::wrong_state);
  EXPECT_EQ(engine.heartbeat("nobody", kStart + 100s).outcome, Outcome::unknown_user);
}

TEST(EngineTimers, RenewalPolicyRenewsToAFullSession) {
  Settings s = small_settings();
  s.session_renewal = true;
  s.expiring_soon = 5s;
  Engine engine(s);
  engine.join("a", kStart);
  engine.confirm("a", kStart);
  engine.take_events();
  engine.advance(kStart + 96s);  // the first notice
  EXPECT_EQ(engine.take_events().size(), 1u);
  auto beat = engine.heartbeat("a", kStart + 96s);
  EXPECT_EQ(beat.remaining, 100s);
  engine.advance(kStart + 100s);
  EXPECT_EQ(status_of(engine, "a", kStart + 100s), Status::connected);
  EXPECT_INVARIANTS(engine);
  engine.advance(kStart + 191s);  // a fresh notice for the renewed session
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::expiring_soon);
  engine.advance(kStart + 196s);
  EXPECT_EQ(engine.find("a", kStart + 196s)->reason, Reason::session_timeout);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineTimers, TimersFireInDeadlineOrderAcrossABigJump) {
  Settings s = small_settings();
  s.max_draft_misses = 1;
  Engine engine(s);
  engine.join("b", kStart + 5s);
  engine.join("a", kStart + 6s);
  engine.confirm("b", kStart + 7s);  // b's session ends at +107 s, a's draft at +16 s
  engine.take_events();
  engine.advance(kStart + 10000s);
  auto events = engine.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].user_id, "a");
  EXPECT_EQ(events[0].reason, Reason::draft_timeout);
  EXPECT_EQ(events[1].user_id, "b");
  EXPECT_EQ(events[1].reason, Reason::session_timeout);
  EXPECT_INVARIANTS(engine);
}

TEST(EngineTimers, NextDeadlineIsNeverLate) {
  Settings s = small_settings();
  s.idle_timeout = 30s;
  Engine engine(s);
  EXPECT_FALSE(engine.next_deadline());
  engine.join("a", kStart);
  EXPECT_EQ(engine.next_deadline(), kStart + 10s);
  engine.confirm("a", kStart + 1s);
  // The touch moves the idle deadline later; next_deadline may still be the old one.
  engine.touch("a", kStart + 20s);
  ASSERT_TRUE(engine.next_deadline());
  EXPECT_LE(*engine.next_deadline(), kStart + 50s);
  while (engine.next_deadline() && *engine.next_deadline() < kStart + 50s) {
    engine.advance(*engine.next_deadline());
  }
  EXPECT_EQ(status_of(engine, "a", kStart + 50s), Status::connected);
  engine.advance(kStart + 50s);
  EXPECT_EQ(engine.find("a", kStart + 50s)->reason, Reason::idle_timeout);
}

}  // namespace
}  // namespace waitroom::engine::testing
