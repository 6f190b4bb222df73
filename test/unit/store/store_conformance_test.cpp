// The store conformance suite (DESIGN.md §5: "the same behaviour tests run against both
// stores"): every test here runs unchanged against the embedded store without a journal
// (--ephemeral), with its journal (durable), and against the Redis store on a real
// redis-server (its engine called as a function, and as a script), each on a ManualClock. It checks
// that operations answer the engine's results, that notifications reach the sink in order with
// increasing sequences and in the exact shapes of DESIGN.md §3, that the store's own timer fires
// the due deadlines (drafts that run out and are requeued or dropped, sessions, idle and presence
// timeouts, the expiring-soon notice, forgotten records), that positions, snapshots, metrics and
// settings agree, that a paused room or a lowered cap admits nobody and kicks nobody, and that an
// operation checks who acts against the record it acts on, atomically, changing nothing when it
// refuses, and that operations in flight at once are each answered as if alone (the Redis store
// batches them).
#include <gtest/gtest.h>

#include <set>

#include "store_test_support.hpp"

namespace waitroom::store::testing {
namespace {

using namespace std::chrono_literals;
using engine::Status;

// Acts on any generation, as the API key does: most tests are about the operations.
const Actor kAnyone = Actor::anyone();

engine::Settings base_settings() {
  engine::Settings settings;
  settings.max_active_users = 1;
  settings.draft_duration = 50ms;
  settings.session_duration = 10s;
  settings.idle_timeout = 0s;
  settings.presence_timeout = 0s;
  settings.expiring_soon = 0s;
  settings.disconnected_retention = 3600s;
  return settings;
}

class StoreConformanceTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void open(engine::Settings settings = base_settings()) {
    harness_.emplace(GetParam(), settings, clock_);
  }
  void TearDown() override {
    if (harness_ && harness_->redis_store() != nullptr) {
      EXPECT_EQ(harness_->check_invariants(), "");
    }
    harness_.reset();
  }

  Store& store() { return harness_->store(); }
  RecordingSink& sink() { return harness_->sink(); }
  template <class T>
  T run(awaitable<T> operation) {
    return harness_->run(std::move(operation));
  }
  void run(awaitable<void> operation) { harness_->run(std::move(operation)); }
  Status status(std::string_view id) {
    auto viewed = run(store().find(id));
    EXPECT_TRUE(viewed.view.has_value()) << id;
    return viewed.view ? viewed.view->status : Status::disconnected;
  }
  // Moves the injected clock, then runs what became due.
  void pass(Duration duration) {
    clock_.advance(duration);
    harness_->advance();
  }
  std::vector<std::string> messages_for(std::string_view id) {
    harness_->sync();
    std::vector<std::string> out;
    for (const auto& notification : sink().all()) {
      if (notification.user_id == id) out.push_back(notification.message);
    }
    return out;
  }

  ManualClock clock_;
  std::optional<StoreHarness> harness_;
};

TEST_P(StoreConformanceTest, OperationsAnswerEngineResults) {
  open();
  auto joined = run(store().join("u1", kAnyone));
  EXPECT_TRUE(joined.result.created);
  EXPECT_FALSE(joined.result.before);
  EXPECT_EQ(joined.result.after.status, Status::draft);
  EXPECT_EQ(joined.now, clock_.now());

  auto second = run(store().join("u2", kAnyone));
  EXPECT_EQ(second.result.after.status, Status::waiting);
  EXPECT_EQ(second.result.after.position, 1u);
  // A second join is idempotent: same place, nothing created.
  auto again = run(store().join("u2", kAnyone));
  EXPECT_FALSE(again.result.created);
  EXPECT_EQ(again.result.before->status, Status::waiting);
  EXPECT_EQ(again.result.after.position, 1u);

  EXPECT_EQ(run(store().confirm("u2", kAnyone)).result.outcome, engine::Outcome::wrong_state);
  EXPECT_EQ(run(store().confirm("nobody", kAnyone)).result.outcome, engine::Outcome::unknown_user);
  const auto confirmed = run(store().confirm("u1", kAnyone));
  EXPECT_EQ(confirmed.result.after.status, Status::connected);
  EXPECT_EQ(confirmed.result.after.deadline, clock_.now() + 10s);
  EXPECT_EQ(confirmed.result.after.total_duration, 10s);
  clock_.advance(1s);
  const auto beat = run(store().heartbeat("u1", kAnyone));
  EXPECT_EQ(beat.result.outcome, engine::Outcome::ok);
  EXPECT_EQ(beat.result.remaining, 9s);
  EXPECT_EQ(run(store().heartbeat("u2", kAnyone)).result.outcome, engine::Outcome::wrong_state);
  EXPECT_EQ(run(store().leave("u1", kAnyone)).result.previous, Status::connected);
  EXPECT_EQ(run(store().leave("u1", kAnyone)).result.previous, Status::disconnected);
  EXPECT_EQ(run(store().leave("nobody", kAnyone)).result.outcome, engine::Outcome::unknown_user);

  // u1 left: the slot went to u2 at once, and the sink heard it.
  harness_->sync();
  EXPECT_TRUE(sink().saw("disconnected", "u1", "left"));
  EXPECT_TRUE(sink().saw("draft", "u2"));
  EXPECT_EQ(run(store().poll("u2")).view->status, Status::draft);
  EXPECT_FALSE(run(store().find("nobody")).view);
  EXPECT_EQ(harness_->check_invariants(), "");
}

TEST_P(StoreConformanceTest, NotificationsHaveTheSeedShapesAndIncreasingSequences) {
  auto settings = base_settings();
  settings.draft_duration = 300s;
  settings.session_duration = 1200500ms;
  settings.expiring_soon = 60s;
  open(settings);
  clock_.set(TimePoint{Duration{1'768'923'000'000}});  // 2026-01-20T15:30:00Z
  run(store().join("u1", kAnyone));
  run(store().join("u2", kAnyone));
  run(store().confirm("u1", kAnyone));
  pass(1200500ms - 60s);  // u1's session: the expiring-soon notice
  run(store().leave("u1", kAnyone));
  const std::vector<std::string> expected_u1{
      R"({"user_id":"u1","status":"waiting","position":1,"estimated_wait":1201})",
      R"({"user_id":"u1","status":"draft","duration":300,"expires_at":"2026-01-20T15:35:00.000Z"})",
      R"({"user_id":"u1","status":"connected","session_duration":1200.5,"expires_at":"2026-01-20T15:50:00.500Z"})",
      R"({"user_id":"u1","status":"expiring_soon","remaining_time":60,"session_type":"active"})",
      R"({"user_id":"u1","status":"disconnected","reason":"left"})"};
  EXPECT_EQ(messages_for("u1"), expected_u1);
  const std::vector<std::string> expected_u2{
      R"({"user_id":"u2","status":"waiting","position":1,"estimated_wait":1201})",
      R"({"user_id":"u2","status":"draft","duration":300,"expires_at":"2026-01-20T15:54:00.500Z"})"};
  EXPECT_EQ(messages_for("u2"), expected_u2);
  EXPECT_FALSE(sink().sequence_went_back());
  const auto all = sink().all();
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_GE(all[i].sequence, all[i - 1].sequence);
}

TEST_P(StoreConformanceTest, TimerRunsAdvanceAtTheNextDeadline) {
  open();
  run(store().join("u1", kAnyone));
  run(store().join("u2", kAnyone));
  ASSERT_EQ(status("u1"), Status::draft);
  // The draft deadline is 50 ms away on the injected clock; move it past, then let the
  // store's own timer fire (nobody calls advance).
  clock_.advance(60ms);
  EXPECT_TRUE(harness_->run_until([&] { return sink().saw("draft", "u2"); }, 3000ms));
  EXPECT_TRUE(sink().saw("waiting", "u1", "draft_timeout"));
  EXPECT_EQ(harness_->check_invariants(), "");
}

TEST_P(StoreConformanceTest, EarlyTimerChangesNothing) {
  open();
  run(store().join("u1", kAnyone));
  // The clock does not move: the timer may fire in real time but finds nothing due.
  harness_->run_for(150ms);
  EXPECT_EQ(status("u1"), Status::draft);
  harness_->sync();
  EXPECT_FALSE(sink().saw("waiting", "u1", "draft_timeout"));
}

TEST_P(StoreConformanceTest, MissedDraftsRequeueAtTheBackThenDisconnect) {
  auto settings = base_settings();
  settings.max_draft_misses = 2;
  open(settings);
  run(store().join("a", kAnyone));
  run(store().join("b", kAnyone));
  run(store().join("c", kAnyone));
  pass(60ms);  // a misses: back of the queue, b gets the draft
  EXPECT_EQ(status("b"), Status::draft);
  auto a = run(store().find("a")).view;
  EXPECT_EQ(a->status, Status::waiting);
  EXPECT_EQ(a->position, 2u);
  EXPECT_EQ(a->draft_misses, 1u);
  EXPECT_EQ(a->reason, engine::Reason::draft_timeout);
  pass(60ms);  // b misses, c drafted
  pass(60ms);  // c misses, a drafted again
  EXPECT_EQ(status("a"), Status::draft);
  pass(60ms);  // a misses twice in a row: gone, and b is offered the slot again
  a = run(store().find("a")).view;
  EXPECT_EQ(a->status, Status::disconnected);
  EXPECT_EQ(a->reason, engine::Reason::draft_timeout);
  harness_->sync();
  EXPECT_TRUE(sink().saw("disconnected", "a", "draft_timeout"));
  const auto metrics = run(store().metrics());
  EXPECT_EQ(metrics.counters.draft_requeues, 3u);
  EXPECT_EQ(metrics.counters.draft_timeouts, 1u);
  EXPECT_EQ(metrics.counters.drafts, 5u);
  EXPECT_EQ(status("b"), Status::draft);
}

TEST_P(StoreConformanceTest, FrontRequeuePolicyKeepsTheMissedDraftFirst) {
  auto settings = base_settings();
  settings.requeue_policy = engine::RequeuePolicy::front;
  settings.max_draft_misses = 3;
  open(settings);
  run(store().join("a", kAnyone));
  run(store().join("b", kAnyone));
  run(store().join("c", kAnyone));
  pass(60ms);
  // Back at the head, so the slot is a's again at once; b and c keep their places.
  EXPECT_EQ(status("a"), Status::draft);
  EXPECT_EQ(run(store().find("b")).view->position, 1u);
  EXPECT_EQ(run(store().find("c")).view->position, 2u);
  const auto messages = messages_for("a");
  ASSERT_GE(messages.size(), 2u);
  EXPECT_EQ(
      messages[messages.size() - 2],
      R"({"user_id":"a","status":"waiting","reason":"draft_timeout","position":1,"estimated_wait":10})");
  EXPECT_EQ(
      messages.back(),
      R"({"user_id":"a","status":"draft","duration":0.05,"expires_at":"2023-11-14T22:13:20.110Z"})");
}

TEST_P(StoreConformanceTest, SessionIdleAndPresenceTimeouts) {
  auto settings = base_settings();
  settings.max_active_users = 2;
  settings.draft_duration = 1000s;
  settings.session_duration = 100s;
  settings.idle_timeout = 30s;
  settings.presence_timeout = 20s;
  open(settings);
  run(store().join("busy", kAnyone));
  run(store().join("idle", kAnyone));
  run(store().join("gone", kAnyone));
  run(store().join("watching", kAnyone));
  run(store().confirm("busy", kAnyone));
  run(store().confirm("idle", kAnyone));
  run(store().stream_opened("watching", kAnyone));
  auto tick = [&] {
    pass(10s);
    if (status("busy") == Status::connected) run(store().heartbeat("busy", kAnyone));
  };
  for (int i = 0; i < 4; ++i) tick();
  // idle sent no heartbeat for 30 s; gone neither polled nor watched for 20 s; watching has
  // its stream open, and got idle's slot.
  EXPECT_EQ(run(store().find("idle")).view->reason, engine::Reason::idle_timeout);
  EXPECT_EQ(run(store().find("gone")).view->reason, engine::Reason::abandoned);
  EXPECT_EQ(status("watching"), Status::draft);
  EXPECT_EQ(status("busy"), Status::connected);
  run(store().stream_closed("watching"));
  for (int i = 0; i < 6; ++i) tick();
  // busy's session ends at 100 s, heartbeats or not.
  EXPECT_EQ(run(store().find("busy")).view->reason, engine::Reason::session_timeout);
  harness_->sync();
  EXPECT_TRUE(sink().saw("disconnected", "busy", "session_timeout"));
  EXPECT_TRUE(sink().saw("disconnected", "idle", "idle_timeout"));
  EXPECT_TRUE(sink().saw("disconnected", "gone", "abandoned"));
  const auto metrics = run(store().metrics());
  EXPECT_EQ(metrics.counters.session_timeouts, 1u);
  EXPECT_EQ(metrics.counters.idle_timeouts, 1u);
  EXPECT_EQ(metrics.counters.abandoned, 1u);
  EXPECT_EQ(metrics.average_session, (100s + 30s) / 2);
}

TEST_P(StoreConformanceTest, AdvanceRunsDueTimers) {
  open();
  run(store().join("u1", kAnyone));
  pass(60ms);
  harness_->sync();
  EXPECT_TRUE(sink().saw("waiting", "u1", "draft_timeout"));
}

TEST_P(StoreConformanceTest, PositionsAndSnapshots) {
  open();
  run(store().join("a", kAnyone));
  run(store().join("b", kAnyone));
  run(store().join("c", kAnyone));
  const auto version = run(store().queue_version());
  auto positions = run(store().positions({"c", "b", "zz"}));
  ASSERT_EQ(positions.views.size(), 3u);
  EXPECT_EQ(positions.views[0]->position, 2u);
  EXPECT_EQ(positions.views[1]->position, 1u);
  EXPECT_FALSE(positions.views[2]);
  EXPECT_EQ(positions.queue_version, version);

  run(store().leave("b", kAnyone));
  EXPECT_NE(run(store().queue_version()), version);
  EXPECT_EQ(run(store().positions({"c"})).views[0]->position, 1u);

  const auto snapshot = run(store().snapshot());
  EXPECT_EQ(snapshot.draft, std::vector<std::string>{"a"});
  EXPECT_EQ(snapshot.waiting, std::vector<std::string>{"c"});
  EXPECT_TRUE(snapshot.connected.empty());

  const auto metrics = run(store().metrics());
  EXPECT_EQ(metrics.waiting, 1u);
  EXPECT_EQ(metrics.draft, 1u);
  EXPECT_EQ(metrics.connected, 0u);
  EXPECT_EQ(metrics.total_slots, 1u);
  EXPECT_EQ(metrics.counters.joins, 3u);
  EXPECT_EQ(metrics.counters.leaves, 1u);
}

TEST_P(StoreConformanceTest, EstimatedWaitFollowsTheObservedReleases) {
  auto settings = base_settings();
  settings.session_duration = 600s;
  settings.draft_duration = 600s;
  open(settings);
  for (int i = 0; i < 4; ++i) run(store().join("w" + std::to_string(i), kAnyone));
  // Cold start: ceil(position / slots) * session.
  EXPECT_EQ(run(store().find("w3")).view->estimated_wait, 3 * 600s);
  // Six releases 10 s apart, then the estimate is the observed interval per place.
  for (int i = 0; i < 6; ++i) {
    const std::string id = "r" + std::to_string(i);
    run(store().join(id, kAnyone));
    const auto holder = run(store().snapshot()).draft.front();
    run(store().leave(holder, kAnyone));
    clock_.advance(10s);
  }
  const auto view = run(store().find("r5")).view;
  ASSERT_EQ(view->status, Status::waiting);
  // Releases at t, t+10, ..., t+50 s, now t+60 s: 60 s over 5 intervals = 12 s per place.
  EXPECT_EQ(view->estimated_wait, 12s * static_cast<int>(view->position));
}

TEST_P(StoreConformanceTest, StreamSnapshotCarriesTheLatestSequence) {
  open();
  run(store().join("a", kAnyone));
  run(store().join("b", kAnyone));
  harness_->sync();
  const auto opened = run(store().stream_opened("b", kAnyone));
  EXPECT_EQ(opened.view->status, Status::waiting);
  EXPECT_GE(opened.sequence, sink().last_sequence());
  run(store().leave("a", kAnyone));
  harness_->sync();
  EXPECT_GT(sink().last_sequence(), opened.sequence);
  run(store().stream_closed("b"));
}

TEST_P(StoreConformanceTest, SettingsAndPause) {
  open();
  EXPECT_TRUE(run(store().set_paused(true)));
  run(store().join("a", kAnyone));
  run(store().join("b", kAnyone));
  EXPECT_EQ(status("a"), Status::waiting);
  EXPECT_TRUE(run(store().metrics()).paused);
  EXPECT_FALSE(run(store().set_paused(false)));
  EXPECT_EQ(status("a"), Status::draft);

  auto settings = run(store().settings());
  EXPECT_EQ(settings.max_active_users, 1u);
  EXPECT_EQ(settings.draft_duration, 50ms);
  settings.max_active_users = 3;
  settings.requeue_policy = engine::RequeuePolicy::front;
  settings.session_renewal = true;
  settings.idle_timeout = 7s;
  run(store().update_settings(settings));
  const auto read = run(store().settings());
  EXPECT_EQ(read.max_active_users, 3u);
  EXPECT_EQ(read.requeue_policy, engine::RequeuePolicy::front);
  EXPECT_TRUE(read.session_renewal);
  EXPECT_EQ(read.idle_timeout, 7s);
  // Raising the cap admits at once.
  EXPECT_EQ(status("b"), Status::draft);
}

TEST_P(StoreConformanceTest, LoweringTheCapNeverKicksAnyone) {
  auto settings = base_settings();
  settings.max_active_users = 3;
  settings.draft_duration = 100s;
  open(settings);
  for (const char* id : {"a", "b", "c", "d"}) run(store().join(id, kAnyone));
  run(store().confirm("a", kAnyone));
  settings.max_active_users = 1;
  run(store().update_settings(settings));
  EXPECT_EQ(status("a"), Status::connected);
  EXPECT_EQ(status("b"), Status::draft);
  EXPECT_EQ(status("c"), Status::draft);
  run(store().leave("a", kAnyone));
  run(store().leave("b", kAnyone));
  // Two slots freed, but the cap is 1 and c still holds one: d keeps waiting.
  EXPECT_EQ(status("d"), Status::waiting);
  run(store().leave("c", kAnyone));
  EXPECT_EQ(status("d"), Status::draft);
  EXPECT_EQ(harness_->check_invariants(), "");
}

TEST_P(StoreConformanceTest, KickEndsAnyStateAndRetentionForgetsTheRecord) {
  auto settings = base_settings();
  settings.disconnected_retention = 100s;
  open(settings);
  run(store().join("a", kAnyone));
  run(store().join("b", kAnyone));
  const auto generation = run(store().find("b")).view->generation;
  EXPECT_EQ(run(store().kick("b")).result.previous, Status::waiting);
  EXPECT_EQ(run(store().kick("a")).result.previous, Status::draft);
  EXPECT_EQ(run(store().kick("nobody")).result.outcome, engine::Outcome::unknown_user);
  EXPECT_EQ(run(store().find("b")).view->reason, engine::Reason::kicked);
  EXPECT_EQ(run(store().metrics()).counters.kicks, 2u);
  pass(101s);
  EXPECT_FALSE(run(store().find("b")).view);
  // A new record for the same id: a new generation.
  EXPECT_NE(run(store().join("b", kAnyone)).result.after.generation, generation);
}

TEST_P(StoreConformanceTest, HeartbeatsNeverExtendASessionUnlessRenewalIsOn) {
  auto settings = base_settings();
  settings.session_duration = 100s;
  open(settings);
  run(store().join("a", kAnyone));
  run(store().confirm("a", kAnyone));
  clock_.advance(60s);
  EXPECT_EQ(run(store().heartbeat("a", kAnyone)).result.remaining, 40s);
  settings.session_renewal = true;
  run(store().update_settings(settings));
  EXPECT_EQ(run(store().heartbeat("a", kAnyone)).result.remaining, 100s);
  pass(99s);
  EXPECT_EQ(status("a"), Status::connected);
  EXPECT_EQ(harness_->check_invariants(), "");
}

TEST_P(StoreConformanceTest, MeasurementsFeedTheHistograms) {
  auto settings = base_settings();
  settings.draft_duration = 100s;
  settings.session_duration = 100s;
  open(settings);
  run(store().join("a", kAnyone));
  run(store().join("b", kAnyone));
  run(store().confirm("a", kAnyone));
  clock_.advance(30s);
  run(store().leave("a", kAnyone));  // a session of 30 s; b waited 30 s
  harness_->sync();
  const auto measured = sink().measurements();
  ASSERT_EQ(measured.size(), 3u);
  EXPECT_EQ(measured[0], std::make_pair(engine::Event::Kind::draft, Duration{0}));
  EXPECT_EQ(measured[1], std::make_pair(engine::Event::Kind::disconnected, Duration{30s}));
  EXPECT_EQ(measured[2], std::make_pair(engine::Event::Kind::draft, Duration{30s}));
  const auto metrics = run(store().metrics());
  EXPECT_EQ(metrics.average_wait, 15s);
  EXPECT_EQ(metrics.average_session, 30s);
}

TEST_P(StoreConformanceTest, ConcurrentOperationsAreEachAnsweredAsIfAlone) {
  auto settings = base_settings();
  settings.max_active_users = 5;
  settings.draft_duration = 100s;
  open(settings);
  // A hundred joins in flight at once (the Redis store sends most of them in batches), with
  // status polls of the same ids among them.
  constexpr int kUsers = 100;
  std::vector<std::string> ids;  // outlive the calls (they take string_views)
  for (int i = 0; i < kUsers; ++i) ids.push_back("c" + std::to_string(i));
  std::vector<std::optional<At<engine::JoinResult>>> joined(kUsers);
  int done = 0;
  for (int i = 0; i < kUsers; ++i) {
    boost::asio::co_spawn(harness_->io(), store().join(ids[i], kAnyone),
                          [&, i](std::exception_ptr error, At<engine::JoinResult> result) {
                            if (!error) joined[i] = std::move(result);
                            ++done;
                          });
    boost::asio::co_spawn(harness_->io(), store().poll(ids[i]),
                          [&](std::exception_ptr, Viewed) { ++done; });
  }
  ASSERT_TRUE(harness_->run_until([&] { return done == 2 * kUsers; }, 10'000ms));
  std::set<std::uint64_t> positions;
  std::set<std::uint64_t> generations;
  int drafts = 0;
  for (const auto& join : joined) {
    ASSERT_TRUE(join);
    EXPECT_TRUE(join->result.created);
    generations.insert(join->result.after.generation);
    if (join->result.after.status == Status::draft) {
      ++drafts;
    } else {
      EXPECT_EQ(join->result.after.status, Status::waiting);
      positions.insert(join->result.after.position);
    }
  }
  EXPECT_EQ(drafts, 5);
  EXPECT_EQ(generations.size(), std::size_t{kUsers});
  ASSERT_EQ(positions.size(), std::size_t{kUsers - 5});
  EXPECT_EQ(*positions.begin(), 1u);
  EXPECT_EQ(*positions.rbegin(), std::uint64_t{kUsers - 5});
  harness_->sync();
  EXPECT_EQ(sink().all().size(), std::size_t{kUsers + 5});
  EXPECT_FALSE(sink().sequence_went_back());
  EXPECT_EQ(run(store().metrics()).counters.joins, std::uint64_t{kUsers});
  EXPECT_EQ(harness_->check_invariants(), "");
  if (auto* redis = harness_->redis_store()) {
    EXPECT_GT(redis->batched_operations(), 0u);
  }
}

TEST_P(StoreConformanceTest, ActorIsCheckedAgainstTheRecordActedOn) {
  auto settings = base_settings();
  settings.disconnected_retention = 100ms;
  open(settings);
  const Actor nobody;  // no credentials
  const auto first = run(store().join("u1", nobody));
  ASSERT_FALSE(first.forbidden) << "a new id may be taken by anyone";
  const auto generation = first.result.after.generation;
  Actor holder;
  holder.generations[1] = generation;
  Actor older;
  older.generations[0] = generation - 1;
  older.has_credentials = true;

  // An existing record: only a matching actor; a refusal changes nothing.
  EXPECT_TRUE(run(store().join("u1", nobody)).forbidden);
  EXPECT_TRUE(run(store().join("u1", older)).forbidden);
  EXPECT_TRUE(run(store().confirm("u1", older)).forbidden);
  EXPECT_TRUE(run(store().heartbeat("u1", nobody)).forbidden);
  EXPECT_TRUE(run(store().leave("u1", older)).forbidden);
  const auto refused_stream = run(store().stream_opened("u1", nobody));
  EXPECT_TRUE(refused_stream.forbidden);
  EXPECT_FALSE(refused_stream.view);
  EXPECT_EQ(status("u1"), Status::draft);
  EXPECT_EQ(run(store().metrics()).counters.joins, 1u);

  // Disconnected but not yet forgotten: still protected.
  EXPECT_FALSE(run(store().leave("u1", holder)).forbidden);
  EXPECT_TRUE(run(store().join("u1", nobody)).forbidden);
  EXPECT_EQ(status("u1"), Status::disconnected);

  // Forgotten, then re-created by someone else: the old generation no longer acts.
  pass(150ms);
  ASSERT_FALSE(run(store().find("u1")).view);
  const auto recreated = run(store().join("u1", nobody));
  ASSERT_FALSE(recreated.forbidden);
  ASSERT_NE(recreated.result.after.generation, generation);
  ASSERT_EQ(recreated.result.after.status, Status::draft);
  EXPECT_TRUE(run(store().confirm("u1", holder)).forbidden);
  EXPECT_EQ(status("u1"), Status::draft);
  Actor new_holder;
  new_holder.generations[0] = recreated.result.after.generation;
  EXPECT_EQ(run(store().confirm("u1", new_holder)).result.after.status, Status::connected);

  // An unknown id: a ticket for it is answered "unknown user", no credential is refused.
  Actor ghost_holder;
  ghost_holder.generations[0] = 99;
  EXPECT_EQ(run(store().leave("ghost", ghost_holder)).result.outcome,
            engine::Outcome::unknown_user);
  EXPECT_TRUE(run(store().leave("ghost", nobody)).forbidden);
  EXPECT_EQ(harness_->check_invariants(), "");
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformanceTest,
                         ::testing::Values(StoreKind::ephemeral, StoreKind::durable,
                                           StoreKind::redis, StoreKind::redis_script),
                         [](const auto& info) { return to_string(info.param); });

}  // namespace
}  // namespace waitroom::store::testing
