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
// The seed is printed; a failure says how to replay it:
//   WAITROOM_COMPARE_SEED=N WAITROOM_COMPARE_STEPS=M store_comparison_test
#include <gtest/gtest.h>

#include <cstdlib>
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

class Comparison {
 public:
  Comparison(std::uint64_t seed, std::uint64_t steps)
      : seed_(seed),
        steps_(steps),
        random_(seed),
        settings_(random_settings(random_)),
        engine_(settings_) {
    auto options = StoreHarness::conformance_redis_options();
    options.run_timers = false;  // time moves only when the test says so, as for the engine
    harness_.emplace(StoreKind::redis, settings_, clock_, options);
    const std::uint64_t pool = 10 + random_.below(60);
    for (std::uint64_t i = 0; i < pool; ++i) ids_.push_back("user-" + std::to_string(i));
  }

  // Empty, or what differed first.
  std::string run() {
    for (step_ = 0; step_ < steps_; ++step_) {
      std::string error;
      const std::string what = one_step(error);
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

  std::string one_step(std::string& error) {
    if (random_.chance(60)) clock_.advance(random_.millis(0, 500));
    const std::string id = any_user();
    const std::uint64_t dice = random_.below(1000);
    if (dice < 250) {
      const Actor actor = any_actor(id);
      const auto redis = run(store().join(id, actor));
      if (!permitted(id, actor, true)) {
        if (!redis.forbidden) error = "join should have been refused";
        return "join " + id + " (refused)";
      }
      const auto reference = engine_.join(id, now());
      if (redis.forbidden) error = "join was refused";
      if (error.empty()) error = compare_view("join before", reference.before, redis.result.before);
      if (error.empty()) error = compare_view("join after", reference.after, redis.result.after);
      if (error.empty() && reference.created != redis.result.created) error = "join created";
      return "join " + id;
    }
    if (dice < 400) {
      std::string target = id;
      const auto snapshot = engine_.snapshot();
      if (random_.chance(80) && !snapshot.draft.empty()) {
        target = snapshot.draft[random_.below(snapshot.draft.size())];
      }
      const Actor actor = any_actor(target);
      const auto redis = run(store().confirm(target, actor));
      if (!permitted(target, actor, false)) {
        if (!redis.forbidden) error = "confirm should have been refused";
        return "confirm " + target + " (refused)";
      }
      const auto reference = engine_.confirm(target, now());
      if (redis.forbidden || reference.outcome != redis.result.outcome) {
        error = "confirm outcome differs";
      } else if (reference.outcome != engine::Outcome::unknown_user) {
        error = compare_view("confirm after", reference.after, redis.result.after);
      }
      return "confirm " + target;
    }
    if (dice < 500) {
      const bool kick = dice >= 480;
      const Actor actor = kick ? Actor::anyone() : any_actor(id);
      const auto redis = kick ? run(store().kick(id)) : run(store().leave(id, actor));
      if (!permitted(id, actor, false)) {
        if (!redis.forbidden) error = "leave should have been refused";
        return "leave " + id + " (refused)";
      }
      const auto reference = kick ? engine_.kick(id, now()) : engine_.leave(id, now());
      if (redis.forbidden || reference.outcome != redis.result.outcome ||
          reference.previous != redis.result.previous) {
        error = "leave/kick answer differs";
      }
      return (kick ? "kick " : "leave ") + id;
    }
    if (dice < 600) {
      const Actor actor = any_actor(id);
      const auto redis = run(store().heartbeat(id, actor));
      if (!permitted(id, actor, false)) {
        if (!redis.forbidden) error = "heartbeat should have been refused";
        return "heartbeat " + id + " (refused)";
      }
      const auto reference = engine_.heartbeat(id, now());
      if (redis.forbidden || reference.outcome != redis.result.outcome ||
          reference.remaining != redis.result.remaining) {
        error = "heartbeat answer differs";
      }
      return "heartbeat " + id;
    }
    if (dice < 700) {
      const auto redis = run(store().poll(id));
      engine_.touch(id, now());
      error = compare_view("poll", engine_.find(id, now()), redis.view);
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

TEST(StoreComparisonTest, RedisStoreAgreesWithTheEngine) {
  std::vector<std::uint64_t> seeds{1, 2, 3, 4};
  const std::uint64_t steps = environment_number("WAITROOM_COMPARE_STEPS", 2500);
  if (std::getenv("WAITROOM_COMPARE_SEED") != nullptr) {
    seeds = {environment_number("WAITROOM_COMPARE_SEED", 1)};
  }
  for (const auto seed : seeds) {
    std::cout << "[ seed     ] " << seed << ", " << steps << " steps" << std::endl;
    Comparison comparison(seed, steps);
    const auto error = comparison.run();
    ASSERT_EQ(error, "") << "seed " << seed;
    std::cout << "[ ok       ] " << comparison.events() << " notifications compared" << std::endl;
  }
}

}  // namespace
}  // namespace waitroom::store::testing
