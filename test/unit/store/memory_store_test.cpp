// Checks the embedded store without a journal (--ephemeral): operations reach the engine and answer
// its results, events reach the sink in order with increasing sequence numbers, the one timer fires
// at the engine's next deadline and runs advance(now) with the injected clock, and positions and
// stream snapshots reflect the queue; an operation checks who acts against the record it acts on,
// under the same lock, and a refused one changes nothing.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>

#include "store/embedded_store.hpp"

namespace waitroom::store {
namespace {

using engine::Event;
using engine::Status;

// Acts on any generation, as the API key does: these tests are about the operations.
const Actor kAnyone = Actor::anyone();

struct RecordingSink final : EventSink {
  void on_events(const std::vector<Event>& batch, std::uint64_t sequence) override {
    EXPECT_GT(sequence, last_sequence);
    last_sequence = sequence;
    for (const auto& event : batch) events.push_back(event);
  }
  bool saw(Event::Kind kind, std::string_view user_id) const {
    for (const auto& event : events) {
      if (event.kind == kind && event.user_id == user_id) return true;
    }
    return false;
  }
  std::vector<Event> events;
  std::uint64_t last_sequence = 0;
};

class MemoryStoreTest : public ::testing::Test {
 protected:
  MemoryStoreTest() {
    settings_.max_active_users = 1;
    settings_.draft_duration = Duration{50};
    settings_.session_duration = Duration{10'000};
    store_.emplace(io_.get_executor(), clock_, settings_, sink_);
  }
  ~MemoryStoreTest() override {
    store_->stop();
    io_.restart();
    io_.poll();
  }

  // Runs a store call to completion (without a journal the store completes without waiting).
  template <class T>
  T run(awaitable<T> operation) {
    std::optional<T> out;
    boost::asio::co_spawn(io_, std::move(operation), [&](std::exception_ptr error, T value) {
      if (error) std::rethrow_exception(error);
      out = std::move(value);
    });
    io_.restart();
    while (!out) io_.poll_one();
    return std::move(*out);
  }
  void run(awaitable<void> operation) {
    bool done = false;
    boost::asio::co_spawn(io_, std::move(operation), [&](std::exception_ptr error) {
      if (error) std::rethrow_exception(error);
      done = true;
    });
    io_.restart();
    while (!done) io_.poll_one();
  }

  boost::asio::io_context io_;
  ManualClock clock_;
  engine::Settings settings_;
  RecordingSink sink_;
  std::optional<EmbeddedStore> store_;
};

TEST_F(MemoryStoreTest, OperationsAnswerEngineResults) {
  auto joined = run(store_->join("u1", kAnyone));
  EXPECT_TRUE(joined.result.created);
  EXPECT_EQ(joined.result.after.status, Status::draft);
  EXPECT_EQ(joined.now, clock_.now());

  auto second = run(store_->join("u2", kAnyone));
  EXPECT_EQ(second.result.after.status, Status::waiting);
  EXPECT_EQ(second.result.after.position, 1u);

  EXPECT_EQ(run(store_->confirm("u2", kAnyone)).result.outcome, engine::Outcome::wrong_state);
  EXPECT_EQ(run(store_->confirm("u1", kAnyone)).result.after.status, Status::connected);
  EXPECT_EQ(run(store_->heartbeat("u1", kAnyone)).result.outcome, engine::Outcome::ok);
  EXPECT_EQ(run(store_->leave("u1", kAnyone)).result.previous, Status::connected);
  EXPECT_EQ(run(store_->leave("nobody", kAnyone)).result.outcome, engine::Outcome::unknown_user);

  // u1 left: the slot went to u2 at once, and the sink heard it.
  EXPECT_TRUE(sink_.saw(Event::Kind::disconnected, "u1"));
  EXPECT_TRUE(sink_.saw(Event::Kind::draft, "u2"));
  EXPECT_EQ(run(store_->poll("u2")).view->status, Status::draft);
  EXPECT_FALSE(run(store_->find("nobody")).view);
  EXPECT_EQ(store_->check_invariants(), "");
}

TEST_F(MemoryStoreTest, TimerRunsAdvanceAtTheNextDeadline) {
  run(store_->join("u1", kAnyone));
  run(store_->join("u2", kAnyone));
  ASSERT_EQ(run(store_->find("u1")).view->status, Status::draft);
  // The draft deadline is 50 ms away on the injected clock; move it past, then let the
  // real timer (armed for 50 ms) fire.
  clock_.advance(Duration{60});
  io_.restart();
  io_.run_for(std::chrono::milliseconds{300});
  EXPECT_TRUE(sink_.saw(Event::Kind::requeued, "u1"));
  EXPECT_TRUE(sink_.saw(Event::Kind::draft, "u2"));
  EXPECT_EQ(store_->check_invariants(), "");
}

TEST_F(MemoryStoreTest, EarlyTimerChangesNothing) {
  run(store_->join("u1", kAnyone));
  // The clock does not move: the timer fires in real time, finds no due deadline, and
  // re-arms; u1 keeps the draft.
  io_.restart();
  io_.run_for(std::chrono::milliseconds{120});
  EXPECT_EQ(run(store_->find("u1")).view->status, Status::draft);
  EXPECT_FALSE(sink_.saw(Event::Kind::requeued, "u1"));
}

TEST_F(MemoryStoreTest, AdvanceRunsDueTimers) {
  run(store_->join("u1", kAnyone));
  clock_.advance(Duration{60});
  store_->advance();
  EXPECT_TRUE(sink_.saw(Event::Kind::requeued, "u1"));
}

TEST_F(MemoryStoreTest, PositionsAndSnapshots) {
  run(store_->join("a", kAnyone));
  run(store_->join("b", kAnyone));
  run(store_->join("c", kAnyone));
  const auto version = run(store_->queue_version());
  auto positions = run(store_->positions({"c", "b", "zz"}));
  ASSERT_EQ(positions.views.size(), 3u);
  EXPECT_EQ(positions.views[0]->position, 2u);
  EXPECT_EQ(positions.views[1]->position, 1u);
  EXPECT_FALSE(positions.views[2]);
  EXPECT_EQ(positions.queue_version, version);

  run(store_->leave("b", kAnyone));
  EXPECT_NE(run(store_->queue_version()), version);
  EXPECT_EQ(run(store_->positions({"c"})).views[0]->position, 1u);

  const auto snapshot = run(store_->snapshot());
  EXPECT_EQ(snapshot.draft, std::vector<std::string>{"a"});
  EXPECT_EQ(snapshot.waiting, std::vector<std::string>{"c"});

  const auto metrics = run(store_->metrics());
  EXPECT_EQ(metrics.waiting, 1u);
  EXPECT_EQ(metrics.draft, 1u);
  EXPECT_EQ(metrics.total_slots, 1u);
  EXPECT_EQ(metrics.counters.joins, 3u);
}

TEST_F(MemoryStoreTest, StreamSnapshotCarriesTheLatestSequence) {
  run(store_->join("a", kAnyone));
  run(store_->join("b", kAnyone));
  const auto opened = run(store_->stream_opened("b", kAnyone));
  EXPECT_EQ(opened.view->status, Status::waiting);
  EXPECT_GE(opened.sequence, sink_.last_sequence);
  run(store_->leave("a", kAnyone));
  EXPECT_GT(sink_.last_sequence, opened.sequence);
  run(store_->stream_closed("b"));
}

TEST_F(MemoryStoreTest, SettingsAndPause) {
  EXPECT_TRUE(run(store_->set_paused(true)));
  run(store_->join("a", kAnyone));
  EXPECT_EQ(run(store_->find("a")).view->status, Status::waiting);
  EXPECT_FALSE(run(store_->set_paused(false)));
  EXPECT_EQ(run(store_->find("a")).view->status, Status::draft);

  auto settings = run(store_->settings());
  settings.max_active_users = 3;
  run(store_->update_settings(settings));
  EXPECT_EQ(run(store_->settings()).max_active_users, 3u);
}

TEST_F(MemoryStoreTest, ActorIsCheckedAgainstTheRecordActedOn) {
  auto settings = run(store_->settings());
  settings.disconnected_retention = Duration{100};
  run(store_->update_settings(settings));
  const Actor nobody;  // no credentials
  const auto first = run(store_->join("u1", nobody));
  ASSERT_FALSE(first.forbidden) << "a new id may be taken by anyone";
  const auto generation = first.result.after.generation;
  Actor holder;
  holder.generations[1] = generation;
  Actor older;
  older.generations[0] = generation - 1;
  older.has_credentials = true;

  // An existing record: only a matching actor; a refusal changes nothing.
  EXPECT_TRUE(run(store_->join("u1", nobody)).forbidden);
  EXPECT_TRUE(run(store_->join("u1", older)).forbidden);
  EXPECT_TRUE(run(store_->confirm("u1", older)).forbidden);
  EXPECT_TRUE(run(store_->heartbeat("u1", nobody)).forbidden);
  EXPECT_TRUE(run(store_->leave("u1", older)).forbidden);
  const auto refused_stream = run(store_->stream_opened("u1", nobody));
  EXPECT_TRUE(refused_stream.forbidden);
  EXPECT_FALSE(refused_stream.view);
  EXPECT_EQ(run(store_->find("u1")).view->status, Status::draft);
  EXPECT_EQ(run(store_->metrics()).counters.joins, 1u);

  // Disconnected but not yet forgotten: still protected.
  EXPECT_FALSE(run(store_->leave("u1", holder)).forbidden);
  EXPECT_TRUE(run(store_->join("u1", nobody)).forbidden);
  EXPECT_EQ(run(store_->find("u1")).view->status, Status::disconnected);

  // Forgotten, then re-created by someone else: the old generation no longer acts.
  clock_.advance(Duration{150});
  store_->advance();
  ASSERT_FALSE(run(store_->find("u1")).view);
  const auto recreated = run(store_->join("u1", nobody));
  ASSERT_FALSE(recreated.forbidden);
  ASSERT_NE(recreated.result.after.generation, generation);
  ASSERT_EQ(recreated.result.after.status, Status::draft);
  EXPECT_TRUE(run(store_->confirm("u1", holder)).forbidden);
  EXPECT_EQ(run(store_->find("u1")).view->status, Status::draft);
  Actor new_holder;
  new_holder.generations[0] = recreated.result.after.generation;
  EXPECT_EQ(run(store_->confirm("u1", new_holder)).result.after.status, Status::connected);

  // An unknown id: a ticket for it is answered "unknown user", no credential is refused.
  Actor ghost_holder;
  ghost_holder.generations[0] = 99;
  EXPECT_EQ(run(store_->leave("ghost", ghost_holder)).result.outcome,
            engine::Outcome::unknown_user);
  EXPECT_TRUE(run(store_->leave("ghost", nobody)).forbidden);
  EXPECT_EQ(store_->check_invariants(), "");
}

}  // namespace
}  // namespace waitroom::store
