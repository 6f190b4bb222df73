// engine_bench: Google Benchmark micro-benchmarks of the queue engine on one core
// (DESIGN.md §7: >= 1,000,000 join+leave operations/s; position in O(log N)).
//
// Each benchmark builds a realistic state first (the slots full of connected users, so
// that joins really wait, and a queue of waiting users behind them) and reports
// items_per_second as engine operations per second. Events are drained regularly, as
// the transport would, so that their memory does not grow with the run.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace {

using namespace std::chrono_literals;
using waitroom::Duration;
using waitroom::TimePoint;
using namespace waitroom::engine;

const TimePoint kStart{Duration{1'700'000'000'000}};

std::vector<std::string> make_ids(const std::string& prefix, std::size_t count) {
  std::vector<std::string> ids;
  ids.reserve(count);
  for (std::size_t i = 0; i < count; ++i) ids.push_back(prefix + std::to_string(i));
  return ids;
}

// Fills every slot with a connected user and queues `waiting` users behind them.
void fill(Engine& engine, std::size_t waiting, TimePoint now) {
  for (const std::string& id : make_ids("active-", engine.settings().max_active_users)) {
    engine.join(id, now);
    engine.confirm(id, now);
  }
  for (const std::string& id : make_ids("waiting-", waiting)) engine.join(id, now);
  engine.take_events();
}

Settings long_settings() {
  Settings s;  // the defaults (cap 50), with sessions long enough to outlast the run
  s.session_duration = std::chrono::hours{24};
  s.idle_timeout = std::chrono::hours{24};
  return s;
}

// join then leave of users cycling through an id space: the first pass creates records,
// later passes rejoin disconnected ones (retention keeps them). Args: the size of the id
// space (a power of two; 2^20 makes every lookup a cache miss, 2^10 stays in cache) and
// the number of users already waiting ahead.
void BM_JoinLeave(benchmark::State& state) {
  Engine engine(long_settings());
  TimePoint now = kStart;
  fill(engine, static_cast<std::size_t>(state.range(1)), now);
  std::vector<std::string> ids = make_ids("user-", static_cast<std::size_t>(state.range(0)));
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& id = ids[i & (ids.size() - 1)];
    benchmark::DoNotOptimize(engine.join(id, now));
    benchmark::DoNotOptimize(engine.leave(id, now));
    if ((++i & 1023) == 0) {
      now += 1ms;
      engine.take_events();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 2);
}
BENCHMARK(BM_JoinLeave)
    ->ArgNames({"ids", "waiting"})
    ->Args({1 << 10, 0})
    ->Args({1 << 20, 0})
    ->Args({1 << 20, 100'000});

// Position (and estimated wait) of a random waiting user among 10^6.
void BM_Position(benchmark::State& state) {
  Engine engine(long_settings());
  auto waiting = static_cast<std::size_t>(state.range(0));
  fill(engine, waiting, kStart);
  std::vector<std::string> ids = make_ids("waiting-", waiting);
  std::uint64_t x = 88172645463325252ull;  // xorshift: cheap and deterministic
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    auto view = engine.find(ids[x % ids.size()], kStart);
    benchmark::DoNotOptimize(view);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Position)->Arg(1'000'000)->Unit(benchmark::kNanosecond);

// touch of a waiting user: O(1), the lazy timer is not re-pushed.
void BM_Touch(benchmark::State& state) {
  Engine engine(long_settings());
  fill(engine, 100'000, kStart);
  std::vector<std::string> ids = make_ids("waiting-", 100'000);
  TimePoint now = kStart;
  std::size_t i = 0;
  for (auto _ : state) {
    engine.touch(ids[i % ids.size()], now);
    if ((++i & 1023) == 0) now += 1ms;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Touch);

// advance firing timers: `count` waiting users whose presence runs out, spread over
// 10 s, all abandoned by one advance. Items are timers fired.
void BM_AdvanceFiringTimers(benchmark::State& state) {
  auto count = static_cast<std::size_t>(state.range(0));
  std::vector<std::string> ids = make_ids("waiting-", count);
  for (auto _ : state) {
    state.PauseTiming();
    Settings s = long_settings();
    s.max_active_users = 0;
    s.presence_timeout = 60s;
    auto engine = std::make_unique<Engine>(s);
    for (std::size_t i = 0; i < count; ++i) {
      engine->join(ids[i], kStart + Duration{static_cast<Duration::rep>(i * 10'000 / count)});
    }
    engine->take_events();
    state.ResumeTiming();
    engine->advance(kStart + 71s);
    benchmark::DoNotOptimize(engine->waiting_count());
    state.PauseTiming();
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}
BENCHMARK(BM_AdvanceFiringTimers)->Arg(100'000)->Unit(benchmark::kMillisecond);

// A freed slot admits the next user: leave of a connected user, draft offered to the
// head of a 100,000-user queue, confirm, and the leaver rejoins at the back.
void BM_AdmissionCycle(benchmark::State& state) {
  Settings s = long_settings();
  Engine engine(s);
  TimePoint now = kStart;
  fill(engine, 100'000, now);
  Snapshot snap = engine.snapshot();
  std::vector<std::string> active = snap.connected;
  std::size_t i = 0;
  for (auto _ : state) {
    std::string& leaver = active[i % active.size()];
    engine.leave(leaver, now);
    std::vector<Event> events = engine.take_events();
    const std::string& next = events.back().user_id;  // the draft
    engine.confirm(next, now);
    engine.join(leaver, now);
    leaver = next;
    if ((++i & 1023) == 0) now += 1ms;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 3);
}
BENCHMARK(BM_AdmissionCycle);

}  // namespace

BENCHMARK_MAIN();
