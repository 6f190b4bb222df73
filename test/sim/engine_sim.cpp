// engine_sim: a seeded, randomised simulator for the queue engine.
//
// A seed gives a PRNG, the PRNG gives the settings and a workload of random operations
// (joins, confirms, leaves, kicks, heartbeats, touches, stream opens and closes, cap
// changes, pause and resume, settings changes, and clock advances from a millisecond to
// hours). After every step the simulator checks:
//   - engine.check_invariants() (DESIGN.md §2 and the internal indexes);
//   - a reference model of the queue, rebuilt only from the emitted events: every draft
//     goes to the head of the model queue (FIFO in join order, with requeues exactly at
//     the back or the front), and every 16 steps each user's status and position agree
//     with the model;
//   - determinism: a second engine fed the same operations emits the same events.
// The seed is printed first; `--seed N --steps M` replays a run exactly.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/engine.hpp"
#include "sim_random.hpp"

namespace {

using namespace std::chrono_literals;
using waitroom::Duration;
using waitroom::TimePoint;
using namespace waitroom::engine;

using waitroom::sim::Random;
using waitroom::sim::random_settings;

bool same_event(const Event& a, const Event& b) {
  return a.kind == b.kind && a.user_id == b.user_id && a.reason == b.reason &&
         a.position == b.position && a.estimated_wait == b.estimated_wait &&
         a.duration == b.duration && a.expires_at == b.expires_at && a.remaining == b.remaining &&
         a.session_type == b.session_type && a.measured == b.measured && a.at == b.at;
}

// The queue and each user's status as the events tell them.
class Model {
 public:
  // Returns an error description, or an empty string.
  std::string apply(const Event& e) {
    if (status(e.user_id) == Status::draft && e.kind != Event::Kind::expiring_soon)
      std::erase(drafts_, e.user_id);
    if (e.kind == Event::Kind::draft) drafts_.push_back(e.user_id);
    switch (e.kind) {
      case Event::Kind::waiting:
        if (status(e.user_id) != Status::disconnected) return "waiting event for a live user";
        if (e.position != queue_.size() + 1) return "join not at the back of the queue";
        queue_.push_back(e.user_id);
        status_[e.user_id] = Status::waiting;
        return {};
      case Event::Kind::draft:
        if (queue_.empty() || queue_.front() != e.user_id)
          return "draft for " + e.user_id + " who is not at the head of the queue";
        queue_.pop_front();
        status_[e.user_id] = Status::draft;
        return {};
      case Event::Kind::connected:
        if (status(e.user_id) != Status::draft) return "connected without a draft";
        status_[e.user_id] = Status::connected;
        return {};
      case Event::Kind::expiring_soon:
        if (status(e.user_id) != e.session_type) return "expiring_soon for the wrong state";
        return {};
      case Event::Kind::requeued:
        if (status(e.user_id) != Status::draft) return "requeued without a draft";
        if (policy_ == RequeuePolicy::front) {
          if (e.position != 1) return "requeued elsewhere than the front";
          queue_.push_front(e.user_id);
        } else {
          if (e.position != queue_.size() + 1) return "requeued elsewhere than the back";
          queue_.push_back(e.user_id);
        }
        status_[e.user_id] = Status::waiting;
        return {};
      case Event::Kind::disconnected: {
        Status before = status(e.user_id);
        if (before == Status::disconnected) return "disconnected twice";
        if (before == Status::waiting) std::erase(queue_, e.user_id);
        status_[e.user_id] = Status::disconnected;
        return {};
      }
    }
    return "unknown event";
  }

  // The requeue policy in force when the step began: update_settings runs the timers
  // that are already due before it replaces the settings.
  void set_policy(RequeuePolicy policy) { policy_ = policy; }

  // Users holding a draft, in the order they got it.
  const std::vector<std::string>& drafts() const { return drafts_; }

  Status status(const std::string& id) const {
    auto it = status_.find(id);
    return it == status_.end() ? Status::disconnected : it->second;
  }
  const std::deque<std::string>& queue() const { return queue_; }

 private:
  std::deque<std::string> queue_;
  std::unordered_map<std::string, Status> status_;
  RequeuePolicy policy_ = RequeuePolicy::back;
  std::vector<std::string> drafts_;
};

struct Options {
  std::uint64_t seed = 0;
  bool seed_given = false;
  std::uint64_t steps = 100'000;
  bool verbose = false;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      options.seed = std::strtoull(argv[++i], nullptr, 10);
      options.seed_given = true;
    } else if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      options.steps = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--verbose") == 0) {
      options.verbose = true;
    } else {
      std::fprintf(stderr, "usage: engine_sim [--seed N] [--steps M] [--verbose]\n");
      std::exit(2);
    }
  }
  if (!options.seed_given) options.seed = std::random_device{}();
  return options;
}

class Simulation {
 public:
  explicit Simulation(const Options& options)
      : options_(options),
        random_(options.seed),
        settings_(random_settings(random_)),
        engine_(settings_),
        twin_(settings_),
        now_(TimePoint{Duration{1'700'000'000'000}}) {
    std::uint64_t pool = 10 + random_.below(400);
    for (std::uint64_t i = 0; i < pool; ++i) ids_.push_back("user-" + std::to_string(i));
  }

  int run() {
    for (step_ = 0; step_ < options_.steps; ++step_) {
      paused_before_ = engine_.paused();
      model_.set_policy(engine_.settings().requeue_policy);
      std::string what = one_step();
      if (options_.verbose)
        std::printf("%llu %s\n", static_cast<unsigned long long>(step_), what.c_str());
      std::string error = engine_.check_invariants();
      if (error.empty()) error = check_events();
      if (error.empty() && step_ % 16 == 0) error = check_model();
      if (!error.empty()) {
        std::fprintf(stderr,
                     "FAILED at step %llu (%s): %s\nreplay: engine_sim --seed %llu --steps %llu\n",
                     static_cast<unsigned long long>(step_), what.c_str(), error.c_str(),
                     static_cast<unsigned long long>(options_.seed),
                     static_cast<unsigned long long>(step_ + 1));
        return 1;
      }
    }
    const Counters& c = engine_.counters();
    std::printf(
        "ok: %llu steps, %llu events; joins %llu drafts %llu admissions %llu leaves %llu kicks "
        "%llu "
        "requeues %llu draft_timeouts %llu session_timeouts %llu idle %llu abandoned %llu; "
        "%zu users known\n",
        static_cast<unsigned long long>(options_.steps), static_cast<unsigned long long>(events_),
        static_cast<unsigned long long>(c.joins), static_cast<unsigned long long>(c.drafts),
        static_cast<unsigned long long>(c.admissions), static_cast<unsigned long long>(c.leaves),
        static_cast<unsigned long long>(c.kicks), static_cast<unsigned long long>(c.draft_requeues),
        static_cast<unsigned long long>(c.draft_timeouts),
        static_cast<unsigned long long>(c.session_timeouts),
        static_cast<unsigned long long>(c.idle_timeouts),
        static_cast<unsigned long long>(c.abandoned), engine_.user_count());
    return 0;
  }

 private:
  // Applies the same call to both engines.
  template <typename Call>
  auto both(Call call) {
    call(twin_);
    return call(engine_);
  }

  const std::string& any_user() { return ids_[random_.below(ids_.size())]; }

  std::string one_step() {
    // Time passes between most operations, as it does between requests.
    if (random_.chance(60)) now_ += random_.millis(0, 500);
    const std::string& id = any_user();
    std::uint64_t dice = random_.below(1000);
    if (dice < 250) {
      both([&](Engine& e) { return e.join(id, now_); });
      return "join " + id;
    }
    if (dice < 400) {
      // Mostly confirm someone who holds a draft, so that sessions happen.
      std::string target = id;
      if (random_.chance(80) && !model_.drafts().empty()) {
        target = model_.drafts()[random_.below(model_.drafts().size())];
      }
      both([&](Engine& e) { return e.confirm(target, now_); });
      return "confirm " + target;
    }
    if (dice < 480) {
      both([&](Engine& e) { return e.leave(id, now_); });
      return "leave " + id;
    }
    if (dice < 500) {
      both([&](Engine& e) { return e.kick(id, now_); });
      return "kick " + id;
    }
    if (dice < 600) {
      both([&](Engine& e) { return e.heartbeat(id, now_); });
      return "heartbeat " + id;
    }
    if (dice < 700) {
      both([&](Engine& e) {
        e.touch(id, now_);
        return 0;
      });
      return "touch " + id;
    }
    if (dice < 740) {
      both([&](Engine& e) {
        e.stream_opened(id, now_);
        return 0;
      });
      return "stream_opened " + id;
    }
    if (dice < 780) {
      both([&](Engine& e) {
        e.stream_closed(id, now_);
        return 0;
      });
      return "stream_closed " + id;
    }
    if (dice < 930) {
      now_ += random_.millis(1, 20'000);
      both([&](Engine& e) {
        e.advance(now_);
        return 0;
      });
      return "advance";
    }
    if (dice < 960) {
      // What the transport's timer does: wake exactly at the next deadline.
      if (auto next = engine_.next_deadline(); next && *next > now_) now_ = *next;
      both([&](Engine& e) {
        e.advance(now_);
        return 0;
      });
      return "advance to next deadline";
    }
    if (dice < 970) {
      // A long stall: the machine slept, or the process was stopped.
      now_ += random_.millis(60'000, 4 * 3'600'000);
      both([&](Engine& e) {
        e.advance(now_);
        return 0;
      });
      return "big jump";
    }
    if (dice < 982) {
      auto cap = static_cast<std::uint32_t>(random_.below(9));
      both([&](Engine& e) {
        e.set_max_active_users(cap, now_);
        return 0;
      });
      return "cap " + std::to_string(cap);
    }
    if (dice < 992) {
      bool paused = !engine_.paused();
      both([&](Engine& e) {
        e.set_paused(paused, now_);
        return 0;
      });
      return paused ? "pause" : "resume";
    }
    Settings settings = random_settings(random_);
    both([&](Engine& e) {
      e.update_settings(settings, now_);
      return 0;
    });
    return "update settings";
  }

  // The twin emitted the same events; the events tell a consistent story.
  std::string check_events() {
    std::vector<Event> events = engine_.take_events();
    std::vector<Event> twin_events = twin_.take_events();
    if (events.size() != twin_events.size()) return "the twin engine emitted a different count";
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (!same_event(events[i], twin_events[i])) return "the twin engine emitted another event";
    }
    events_ += events.size();
    for (const Event& event : events) {
      if (event.at != now_) return "event stamped with another time";
      // A pause takes effect after the timers already due have run (and admitted).
      if (event.kind == Event::Kind::draft && paused_before_ && engine_.paused())
        return "draft offered while paused";
      std::string error = model_.apply(event);
      if (!error.empty()) return error + " (" + event.user_id + ")";
    }
    if (model_.queue().size() != engine_.waiting_count()) return "model queue size differs";
    return {};
  }

  std::string check_model() {
    std::unordered_map<std::string, std::uint64_t> position;
    std::uint64_t p = 0;
    for (const std::string& id : model_.queue()) position[id] = ++p;
    for (const std::string& id : ids_) {
      std::optional<UserView> view = engine_.find(id, now_);
      Status expected = model_.status(id);
      if (!view) {
        if (expected != Status::disconnected) return id + " forgotten while live";
        continue;
      }
      if (view->status != expected) return id + " has another status than the model";
      if (expected == Status::waiting && view->position != position[id])
        return id + " has another position than the model";
      if (expected == Status::connected && !engine_.settings().session_renewal &&
          view->deadline > now_ + view->total_duration)
        return id + " holds a session longer than its duration";
    }
    Snapshot snap = engine_.snapshot();
    if (!std::equal(snap.waiting.begin(), snap.waiting.end(), model_.queue().begin(),
                    model_.queue().end()))
      return "snapshot queue differs from the model";
    return {};
  }

  Options options_;
  Random random_;
  Settings settings_;
  Engine engine_;
  Engine twin_;
  Model model_;
  TimePoint now_;
  std::vector<std::string> ids_;
  std::uint64_t step_ = 0;
  std::uint64_t events_ = 0;
  bool paused_before_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  Options options = parse(argc, argv);
  std::printf("engine_sim --seed %llu --steps %llu\n",
              static_cast<unsigned long long>(options.seed),
              static_cast<unsigned long long>(options.steps));
  std::fflush(stdout);
  Simulation simulation(options);
  return simulation.run();
}
