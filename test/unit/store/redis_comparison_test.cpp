// The randomised comparison that proves the Lua engine right: one seeded random sequence of
// operations (joins, confirms, leaves, kicks, heartbeats, status polls, streams opening and
// closing, time passing by milliseconds or by hours, cap changes, pause and resume, new
// settings, and actors with right, wrong or no credentials) is applied both to the C++
// engine (src/engine, the reference) and to the Redis store on a real redis-server, on the
// same ManualClock. After every step the answers and the notifications must be identical
// (the engine's events rendered by json_messages, the store's received over pub/sub), and
// every few steps every user's state and position, the metrics, the snapshot and both sets
// of invariants are compared too.
//
// The second test submits bursts of operations at once, as concurrent HTTP requests do: the
// store sends them to Redis as one batch, which the engine must match applied one after the
// other in the same order. It uses more user ids, so that most joins take a new place, and
// mostly waiting users, so that the Lua engine's fast paths (a new user's join, a waiting
// user's status poll) run, alone and next to each other in one batch.
//
// The seed is printed; a failure says how to replay it:
//   WAITROOM_COMPARE_SEED=N WAITROOM_COMPARE_STEPS=M store_comparison_test
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <sstream>

#include "http/json_messages.hpp"
#include "sim_random.hpp"
#include "store_test_support.hpp"

namespace waitroom::store::testing {
namespace {

using namespace std::chrono_literals;
using engine::Engine;
using engine::Settings;
using engine::UserView;

using sim::Random;
using sim::random_settings;

std::string describe(const std::optional<UserView>& view) {
  if (!view) return "(none)";
  std::ostringstream out;
  out << engine::to_string(view->status) << " reason=" << engine::to_string(view->reason)
      << " position=" << view->position << " deadline=" << to_unix_ms(view->deadline)
      << " total=" << view->total_duration.count() << " misses=" << view->draft_misses
      << " generation=" << view->generation << " wait=" << view->estimated_wait.count();
  return out.str();
}

// single: one operation at a time; bursts: half the steps submit several at once.
enum class Mode { single, bursts };

class Comparison {
 public:
  Comparison(std::uint64_t seed, std::uint64_t steps, Mode mode = Mode::single)
      : seed_(seed),
        steps_(steps),
        mode_(mode),
        random_(seed),
        settings_(random_settings(random_)),
        engine_(settings_) {
    auto options = StoreHarness::conformance_redis_options();
    options.run_timers = false;  // time moves only when the test says so, as for the engine
    harness_.emplace(StoreKind::redis, settings_, clock_, options);
    const std::uint64_t pool =
        mode == Mode::single ? 10 + random_.below(60) : 100 + random_.below(400);
    for (std::uint64_t i = 0; i < pool; ++i) ids_.push_back("user-" + std::to_string(i));
  }

  // Empty, or what differed first.
  std::string run() {
    for (step_ = 0; step_ < steps_; ++step_) {
      std::string error;
      const std::string what =
          mode_ == Mode::bursts && random_.chance(50) ? burst(error) : one_step(error);
      if (error.empty()) error = compare_events();
      if (error.empty() && step_ % 8 == 0) error = compare_states();
      if (!error.empty()) {
        std::ostringstream out;
        out << "step " << step_ << " (" << what << "): " << error
            << "\nreplay: WAITROOM_COMPARE_SEED=" << seed_
            << " WAITROOM_COMPARE_STEPS=" << step_ + 1 << " store_comparison_test";
        return out.str();
      }
    }
    return compare_states();
  }

 private:
  template <class T>
  T run(awaitable<T> operation) {
    return harness_->run(std::move(operation));
  }
  void run(awaitable<void> operation) { harness_->run(std::move(operation)); }
  Store& store() { return harness_->store(); }
  TimePoint now() const { return clock_.now(); }
  const std::string& any_user() { return ids_[random_.below(ids_.size())]; }

  // As EmbeddedStore::permitted, on the reference engine.
  bool permitted(const std::string& id, const Actor& actor, bool creates) {
    if (actor.any_generation) return true;
    engine_.advance(now());
    const auto view = engine_.find(id, now());
    if (!view) return creates || actor.may_act_on(std::nullopt);
    return actor.may_act_on(view->generation);
  }

  // Mostly the API key; sometimes the user's own ticket, an old one, or nothing.
  Actor any_actor(const std::string& id) {
    if (random_.chance(75)) return Actor::anyone();
    Actor actor;
    const auto view = engine_.find(id, now());
    const std::uint64_t dice = random_.below(3);
    if (dice == 0 && view) actor.generations[random_.below(2)] = view->generation;
    if (dice == 1) actor.generations[0] = 1 + random_.below(50);
    return actor;
  }

  static std::string differ(const std::string& what, const std::string& engine,
                            const std::string& redis) {
    return what + " differs: engine " + engine + ", redis " + redis;
  }
  static std::string compare_view(const std::string& what, const std::optional<UserView>& a,
                                  const std::optional<UserView>& b) {
    const auto left = describe(a);
    const auto right = describe(b);
    return left == right ? std::string() : differ(what, left, right);
  }

  // The checks of one operation's answer against the engine, which applies the same
  // operation now (after the ones before it): empty, or what differed.
  std::string check_join(const std::string& id, const Actor& actor,
                         const At<engine::JoinResult>& redis) {
    if (!permitted(id, actor, true)) {
      return redis.forbidden ? std::string() : "join should have been refused";
    }
    const auto reference = engine_.join(id, now());
    if (redis.forbidden) return "join was refused";
    auto error = compare_view("join before", reference.before, redis.result.before);
    if (error.empty()) error = compare_view("join after", reference.after, redis.result.after);
    if (error.empty() && reference.created != redis.result.created) error = "join created";
    return error;
  }

  std::string check_confirm(const std::string& target, const Actor& actor,
                            const At<engine::ConfirmResult>& redis) {
    if (!permitted(target, actor, false)) {
      return redis.forbidden ? std::string() : "confirm should have been refused";
    }
    const auto reference = engine_.confirm(target, now());
    if (redis.forbidden || reference.outcome != redis.result.outcome) {
      return "confirm outcome differs";
    }
    if (reference.outcome == engine::Outcome::unknown_user) return {};
    return compare_view("confirm after", reference.after, redis.result.after);
  }

  std::string check_leave(const std::string& id, const Actor& actor, bool kick,
                          const At<engine::LeaveResult>& redis) {
    if (!permitted(id, actor, false)) {
      return redis.forbidden ? std::string() : "leave should have been refused";
    }
    const auto reference = kick ? engine_.kick(id, now()) : engine_.leave(id, now());
    if (redis.forbidden || reference.outcome != redis.result.outcome ||
        reference.previous != redis.result.previous) {
      return "leave/kick answer differs";
    }
    return {};
  }

  std::string check_heartbeat(const std::string& id, const Actor& actor,
                              const At<engine::HeartbeatResult>& redis) {
    if (!permitted(id, actor, false)) {
      return redis.forbidden ? std::string() : "heartbeat should have been refused";
    }
    const auto reference = engine_.heartbeat(id, now());
    if (redis.forbidden || reference.outcome != redis.result.outcome ||
        reference.remaining != redis.result.remaining) {
      return "heartbeat answer differs";
    }
    return {};
  }

  std::string check_poll(const std::string& id, const Viewed& redis) {
    engine_.touch(id, now());
    return compare_view("poll", engine_.find(id, now()), redis.view);
  }

  // Mostly a user in draft (the engine's view), sometimes anyone.
  std::string confirm_target(const std::string& id) {
    const auto snapshot = engine_.snapshot();
    if (random_.chance(80) && !snapshot.draft.empty()) {
      return snapshot.draft[random_.below(snapshot.draft.size())];
    }
    return id;
  }

  std::string one_step(std::string& error) {
    if (random_.chance(60)) clock_.advance(random_.millis(0, 500));
    const std::string id = any_user();
    const std::uint64_t dice = random_.below(1000);
    if (dice < 250) {
      const Actor actor = any_actor(id);
      error = check_join(id, actor, run(store().join(id, actor)));
      return "join " + id;
    }
    if (dice < 400) {
      const std::string target = confirm_target(id);
      const Actor actor = any_actor(target);
      error = check_confirm(target, actor, run(store().confirm(target, actor)));
      return "confirm " + target;
    }
    if (dice < 500) {
      const bool kick = dice >= 480;
      const Actor actor = kick ? Actor::anyone() : any_actor(id);
      const auto redis = kick ? run(store().kick(id)) : run(store().leave(id, actor));
      error = check_leave(id, actor, kick, redis);
      return (kick ? "kick " : "leave ") + id;
    }
    if (dice < 600) {
      const Actor actor = any_actor(id);
      error = check_heartbeat(id, actor, run(store().heartbeat(id, actor)));
      return "heartbeat " + id;
    }
    if (dice < 700) {
      error = check_poll(id, run(store().poll(id)));
      return "poll " + id;
    }
    if (dice < 740) {
      const auto redis = run(store().stream_opened(id, Actor::anyone()));
      engine_.stream_opened(id, now());
      error = compare_view("stream opened", engine_.find(id, now()), redis.view);
      return "stream_opened " + id;
    }
    if (dice < 780) {
      run(store().stream_closed(id));
      engine_.stream_closed(id, now());
      return "stream_closed " + id;
    }
    if (dice < 930) {
      clock_.advance(random_.millis(1, 20'000));
      return advance("advance");
    }
    if (dice < 960) {
      // What a timer does: wake exactly at the next deadline.
      if (auto next = engine_.next_deadline(); next && *next > now()) clock_.set(*next);
      return advance("advance to the next deadline");
    }
    if (dice < 970) {
      clock_.advance(random_.millis(60'000, 4 * 3'600'000));
      return advance("big jump");
    }
    if (dice < 982) {
      Settings settings = engine_.settings();
      settings.max_active_users = static_cast<std::uint32_t>(random_.below(7));
      run(store().update_settings(settings));
      engine_.update_settings(settings, now());
      return "cap " + std::to_string(settings.max_active_users);
    }
    if (dice < 992) {
      const bool paused = !engine_.paused();
      const bool answered = run(store().set_paused(paused));
      engine_.set_paused(paused, now());
      if (answered != paused) error = "pause answer differs";
      return paused ? "pause" : "resume";
    }
    const Settings settings = random_settings(random_);
    run(store().update_settings(settings));
    engine_.update_settings(settings, now());
    return "update settings";
  }

  // Several operations submitted before any is answered: the first goes to Redis alone, the
  // others queue behind it and leave as one batch (one connection: in submission order).
  // Their answers are then checked in that order.
  std::string burst(std::string& error) {
    if (random_.chance(60)) clock_.advance(random_.millis(0, 200));
    const std::size_t count = 2 + random_.below(11);
    std::vector<std::function<std::string()>> checks;
    // The store's operations take the id as a view: each must live until it is answered.
    std::deque<std::string> names;
    std::size_t done = 0;
    std::exception_ptr failure;
    auto submit = [&](auto operation, auto check) {
      using Result = typename decltype(operation)::value_type;
      auto result = std::make_shared<std::optional<Result>>();
      boost::asio::co_spawn(harness_->io(), std::move(operation),
                            [result, &done, &failure](std::exception_ptr e, Result value) {
                              if (e) failure = e;
                              if (!e) *result = std::move(value);
                              ++done;
                            });
      checks.push_back([result, check] { return check(**result); });
    };
    for (std::size_t i = 0; i < count; ++i) {
      // Now and then a user the burst named already: two operations on one record in a batch.
      const bool again = !names.empty() && random_.chance(25);
      const std::string& id =
          names.emplace_back(again ? names[random_.below(names.size())] : any_user());
      const std::uint64_t dice = random_.below(100);
      if (dice < 45) {
        const Actor actor = any_actor(id);
        submit(store().join(id, actor), [this, id, actor](const At<engine::JoinResult>& r) {
          return check_join(id, actor, r);
        });
      } else if (dice < 75) {
        submit(store().poll(id), [this, id](const Viewed& r) { return check_poll(id, r); });
      } else if (dice < 85) {
        const std::string& target = names.emplace_back(confirm_target(id));
        const Actor actor = any_actor(target);
        submit(store().confirm(target, actor),
               [this, target, actor](const At<engine::ConfirmResult>& r) {
                 return check_confirm(target, actor, r);
               });
      } else if (dice < 93) {
        const Actor actor = any_actor(id);
        submit(store().leave(id, actor), [this, id, actor](const At<engine::LeaveResult>& r) {
          return check_leave(id, actor, false, r);
        });
      } else {
        const Actor actor = any_actor(id);
        submit(store().heartbeat(id, actor),
               [this, id, actor](const At<engine::HeartbeatResult>& r) {
                 return check_heartbeat(id, actor, r);
               });
      }
    }
    const std::string what = "burst of " + std::to_string(count);
    if (!harness_->run_until([&] { return done == count; }, std::chrono::seconds{10})) {
      error = "the burst was not answered in time";
      return what;
    }
    if (failure) std::rethrow_exception(failure);
    for (std::size_t i = 0; i < checks.size() && error.empty(); ++i) {
      error = checks[i]();
      if (!error.empty()) error = "operation " + std::to_string(i) + ": " + error;
    }
    return what;
  }

  std::string advance(const std::string& what) {
    harness_->advance();
    engine_.advance(now());
    return what;
  }

  // The same notifications, in the same order, with sequences that never go back.
  std::string compare_events() {
    harness_->sync();
    const auto received = harness_->sink().take();
    const auto events = engine_.take_events();
    events_ += events.size();
    const std::size_t common = std::min(received.size(), events.size());
    for (std::size_t i = 0; i < common; ++i) {
      const auto expected = http::event_message(events[i]);
      if (received[i].user_id != events[i].user_id || received[i].message != expected) {
        return differ("notification " + std::to_string(i), expected, received[i].message);
      }
      if (received[i].sequence < last_sequence_) return "the store sequence went back";
      last_sequence_ = received[i].sequence;
    }
    if (received.size() != events.size()) {
      return differ(
          "notification count", std::to_string(events.size()),
          std::to_string(received.size()) +
              (received.size() > common ? " (first extra: " + received[common].message + ")"
                                        : std::string()));
    }
    return {};
  }

  std::string compare_states() {
    const auto positions = run(store().positions(ids_));
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      auto error = compare_view(ids_[i], engine_.find(ids_[i], now()), positions.views[i]);
      if (!error.empty()) return error;
    }
    if (positions.queue_version != engine_.queue_version()) {
      return differ("queue version", std::to_string(engine_.queue_version()),
                    std::to_string(positions.queue_version));
    }
    const auto metrics = run(store().metrics());
    const auto& c = engine_.counters();
    const auto& r = metrics.counters;
    if (metrics.waiting != engine_.waiting_count() || metrics.draft != engine_.draft_count() ||
        metrics.connected != engine_.connected_count() ||
        metrics.total_slots != engine_.settings().max_active_users ||
        metrics.paused != engine_.paused() || metrics.average_wait != engine_.average_wait() ||
        metrics.average_session != engine_.average_session() || r.joins != c.joins ||
        r.drafts != c.drafts || r.admissions != c.admissions || r.leaves != c.leaves ||
        r.kicks != c.kicks || r.draft_requeues != c.draft_requeues ||
        r.draft_timeouts != c.draft_timeouts || r.session_timeouts != c.session_timeouts ||
        r.idle_timeouts != c.idle_timeouts || r.abandoned != c.abandoned) {
      return "metrics differ";
    }
    const auto snapshot = run(store().snapshot());
    const auto reference = engine_.snapshot();
    if (snapshot.waiting != reference.waiting || snapshot.draft != reference.draft ||
        snapshot.connected != reference.connected) {
      return "snapshot differs";
    }
    if (auto error = engine_.check_invariants(); !error.empty()) return "engine: " + error;
    if (auto error = harness_->check_invariants(); !error.empty()) return "redis: " + error;
    return {};
  }

 public:
  std::uint64_t events() const { return events_; }

 private:
  std::uint64_t seed_;
  std::uint64_t steps_;
  Mode mode_;
  std::uint64_t step_ = 0;
  Random random_;
  Settings settings_;
  Engine engine_;
  ManualClock clock_;
  std::optional<StoreHarness> harness_;
  std::vector<std::string> ids_;
  std::uint64_t events_ = 0;
  std::uint64_t last_sequence_ = 0;
};

std::uint64_t environment_number(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : fallback;
}

void compare_seeds(std::vector<std::uint64_t> seeds, std::uint64_t steps, Mode mode) {
  steps = environment_number("WAITROOM_COMPARE_STEPS", steps);
  if (std::getenv("WAITROOM_COMPARE_SEED") != nullptr) {
    seeds = {environment_number("WAITROOM_COMPARE_SEED", 1)};
  }
  for (const auto seed : seeds) {
    std::cout << "[ seed     ] " << seed << ", " << steps << " steps" << std::endl;
    Comparison comparison(seed, steps, mode);
    const auto error = comparison.run();
    ASSERT_EQ(error, "") << "seed " << seed;
    std::cout << "[ ok       ] " << comparison.events() << " notifications compared" << std::endl;
  }
}

TEST(StoreComparisonTest, RedisStoreAgreesWithTheEngine) {
  compare_seeds({1, 2, 3, 4}, 2500, Mode::single);
}

TEST(StoreComparisonTest, BatchedOperationsAgreeWithTheEngine) {
  compare_seeds({11, 12, 13, 14}, 1500, Mode::bursts);
}

}  // namespace
}  // namespace waitroom::store::testing
