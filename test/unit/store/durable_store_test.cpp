// Checks the embedded store with its journal (durable) over a real io_context, a ManualClock and a
// real data directory: an answer leaves only once its commit is durable, and notifications reach
// the sink only once their commit is durable, in order, with increasing sequence numbers; a new
// store on the same directory has the same queue, keeps counting sequences upwards, and fires the
// timers that expired while it was down (a draft requeued, a session ended).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "journal_test_support.hpp"
#include "store/embedded_store.hpp"

namespace waitroom::store {
namespace {

using namespace testing;
using engine::Event;
using engine::Status;

// Acts on any generation, as the API key does: these tests are about the operations.
const Actor kAnyone = Actor::anyone();

struct RecordingSink final : EventSink {
  void on_events(const std::vector<Event>& batch, std::uint64_t sequence) override {
    EXPECT_GT(sequence, last_sequence);
    last_sequence = sequence;
    if (store != nullptr) {
      // Delivered only once durable: nothing is still waiting in the journal's queue for it.
      durable_at_delivery.push_back(store->journal_stats().fsyncs);
    }
    for (const auto& event : batch) events.push_back(event);
  }
  bool saw(Event::Kind kind, std::string_view user_id) const {
    for (const auto& event : events) {
      if (event.kind == kind && event.user_id == user_id) return true;
    }
    return false;
  }
  EmbeddedStore* store = nullptr;
  std::vector<Event> events;
  std::vector<std::uint64_t> durable_at_delivery;
  std::uint64_t last_sequence = 0;
};

class DurableStoreTest : public ::testing::Test {
 protected:
  DurableStoreTest() {
    settings_.max_active_users = 1;
    settings_.draft_duration = 10s;
    settings_.session_duration = 60s;
    settings_.idle_timeout = 0s;
    settings_.presence_timeout = 0s;
    settings_.expiring_soon = 0s;
  }

  void open() {
    store_.emplace(io_.get_executor(), clock_, settings_, sink_,
                   JournalOptions{.dir = dir_.path()});
    sink_.store = &*store_;
  }
  void close() {
    sink_.store = nullptr;
    if (store_) store_->stop();
    io_.restart();
    io_.poll();  // the cancelled timer's handler runs while the store still exists
    store_.reset();
  }
  ~DurableStoreTest() override { close(); }

  // Runs a store call to completion: the durable store completes once its commit is synced,
  // on this io_context, so run it until the result is there.
  template <class T>
  T run(awaitable<T> operation) {
    std::optional<T> out;
    boost::asio::co_spawn(io_, std::move(operation), [&](std::exception_ptr error, T value) {
      if (error) std::rethrow_exception(error);
      out = std::move(value);
    });
    io_.restart();
    while (!out) io_.run_one();
    return std::move(*out);
  }

  TempDir dir_;
  ManualClock clock_{kStart};
  engine::Settings settings_;
  boost::asio::io_context io_;
  RecordingSink sink_;
  std::optional<EmbeddedStore> store_;
};

TEST_F(DurableStoreTest, AnswersAndEventsOnlyOnceDurable) {
  open();
  auto joined = run(store_->join("a", kAnyone));
  EXPECT_TRUE(joined.result.created);
  // The answer came back after its commit's fdatasync.
  EXPECT_GE(store_->journal_stats().fsyncs, 1u);
  run(store_->join("b", kAnyone));
  run(store_->confirm("a", kAnyone));
  store_->sync();
  EXPECT_TRUE(sink_.saw(Event::Kind::draft, "a"));
  EXPECT_TRUE(sink_.saw(Event::Kind::connected, "a"));
  EXPECT_TRUE(sink_.saw(Event::Kind::waiting, "b"));
  for (std::uint64_t fsyncs : sink_.durable_at_delivery) EXPECT_GE(fsyncs, 1u);
  EXPECT_EQ(store_->check_invariants(), "");
}

TEST_F(DurableStoreTest, RestartKeepsTheQueueAndTheSequence) {
  open();
  for (const char* id : {"a", "b", "c", "d"}) run(store_->join(id, kAnyone));
  run(store_->confirm("a", kAnyone));
  std::uint64_t sequence_before = sink_.last_sequence;
  auto before = run(store_->snapshot());
  close();

  open();
  EXPECT_FALSE(store_->recovery().fresh);
  auto after = run(store_->snapshot());
  EXPECT_EQ(before.waiting, after.waiting);
  EXPECT_EQ(before.connected, after.connected);
  run(store_->join("e", kAnyone));
  store_->sync();
  EXPECT_GT(sink_.last_sequence, sequence_before) << "sequences keep increasing across restarts";
  auto view = run(store_->find("e"));
  ASSERT_TRUE(view.view);
  EXPECT_EQ(view.view->position, 4u);
}

TEST_F(DurableStoreTest, TimersThatExpiredWhileDownFireAtStart) {
  settings_.max_active_users = 2;
  open();
  run(store_->join("session", kAnyone));
  run(store_->confirm("session", kAnyone));
  run(store_->join("drafted", kAnyone));
  run(store_->join("waiting", kAnyone));
  close();
  sink_.events.clear();

  clock_.advance(120s);  // the session (60 s) and the draft (10 s) ran out while down
  open();
  store_->sync();
  EXPECT_TRUE(sink_.saw(Event::Kind::disconnected, "session"));
  EXPECT_TRUE(sink_.saw(Event::Kind::requeued, "drafted"));
  EXPECT_TRUE(sink_.saw(Event::Kind::draft, "waiting"));
  auto session = run(store_->find("session"));
  ASSERT_TRUE(session.view);
  EXPECT_EQ(session.view->status, Status::disconnected);
  EXPECT_EQ(session.view->reason, engine::Reason::session_timeout);
  EXPECT_EQ(store_->check_invariants(), "");
  // And the outcome is itself durable: a second restart sees the same.
  close();
  open();
  auto again = run(store_->find("drafted"));
  ASSERT_TRUE(again.view);
  EXPECT_NE(again.view->status, Status::connected);
  EXPECT_EQ(run(store_->find("session")).view->status, Status::disconnected);
}

TEST_F(DurableStoreTest, ConfiguredSettingsWinAtRestart) {
  open();
  run(store_->join("a", kAnyone));
  close();
  settings_.max_active_users = 5;
  open();
  EXPECT_EQ(run(store_->settings()).max_active_users, 5u);
}

}  // namespace
}  // namespace waitroom::store
