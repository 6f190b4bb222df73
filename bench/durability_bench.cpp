// durability_bench: what durability costs (DESIGN.md §7, issue 4). A plain timed main, because
// each figure is one long operation on real files rather than a micro-benchmark loop:
//
//   restore   start-up with N queued users (default 1,000,000) from a snapshot plus a journal
//             tail of joins and leaves: Journal construction (read, check, decode, rebuild the
//             queue and the timers) and the advance(now) that follows. Target < 2 s.
//   size      bytes on disk per queued user in the snapshot, and per commit in the journal.
//   commit    group commit: C concurrent clients each append a join and co_await its
//             durability, on one io_context thread; commits/s and commits per fdatasync.
//
// Usage: durability_bench [--users N] [--tail N] [--clients C] [--commits N] [--dir PATH]
// The data directory defaults to a fresh one under /tmp (the disk the tests use); pass
// --dir to measure another disk (its subdirectories restore/ and commit/ are used; remove
// them between runs). Output is one "name value unit" line per figure, which
// bench/run.sh copies into docs/BENCHMARKS.md.
#include <stdlib.h>
#include <time.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>

#include "engine/engine.hpp"
#include "store/journal.hpp"

namespace {

using namespace std::chrono_literals;
using waitroom::Duration;
using waitroom::TimePoint;
using waitroom::engine::Engine;
using waitroom::store::Journal;
using Steady = std::chrono::steady_clock;

const TimePoint kStart{Duration{1'700'000'000'000}};

struct Options {
  std::size_t users = 1'000'000;
  std::size_t tail = 100'000;
  std::size_t clients = 256;
  std::size_t commits = 200'000;
  std::filesystem::path dir;
};

double thread_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

waitroom::engine::Settings bench_settings() {
  waitroom::engine::Settings s;  // defaults: cap 50, presence 120 s, idle 300 s
  return s;
}

// Fills the engine: the slots taken by connected users, `users` waiting behind them.
void fill(Engine& engine, Journal& journal, std::size_t users, std::uint64_t& sequence) {
  std::uint32_t cap = engine.settings().max_active_users;
  for (std::uint32_t i = 0; i < cap; ++i) {
    std::string id = "active-" + std::to_string(i);
    engine.join(id, kStart);
    engine.confirm(id, kStart);
  }
  engine.take_events();
  journal.append(engine.take_changes(), ++sequence);
  // Joined in batches of 1,000 per commit, to build the state quickly.
  for (std::size_t i = 0; i < users; ++i) {
    engine.join("waiting-user-" + std::to_string(i),
                kStart + Duration{static_cast<long>(i / 1000)});
    if (i % 1000 == 999) {
      engine.take_events();
      journal.append(engine.take_changes(), ++sequence);
    }
  }
  engine.take_events();
  journal.append(engine.take_changes(), ++sequence);
}

int run(const Options& options) {
  std::uint64_t sequence = 0;
  std::uint64_t snapshot_bytes = 0;
  {
    Engine engine(bench_settings());
    engine.track_changes(true);
    Journal journal({.dir = options.dir / "restore", .compact_min_bytes = UINT64_MAX}, engine,
                    kStart);
    auto start = Steady::now();
    fill(engine, journal, options.users, sequence);
    journal.snapshot(engine, sequence);
    journal.sync();
    snapshot_bytes = journal.stats().snapshot_bytes;
    double snapshot_s = seconds_since(start);
    std::printf("fill_and_snapshot %.3f s (%zu users)\n", snapshot_s, engine.user_count());
    // The journal tail after the snapshot: one commit per operation, as the store writes.
    std::uint64_t journal_before = journal.stats().journal_bytes;
    TimePoint now = kStart + 10s;
    for (std::size_t i = 0; i < options.tail; ++i) {
      std::string id = "tail-user-" + std::to_string(i);
      engine.join(id, now);
      engine.take_events();
      journal.append(engine.take_changes(), ++sequence);
      if (i % 2 == 1) {
        engine.leave("waiting-user-" + std::to_string(i), now);
        engine.take_events();
        journal.append(engine.take_changes(), ++sequence);
      }
    }
    journal.sync();
    std::uint64_t tail_bytes = journal.stats().journal_bytes - journal_before;
    std::uint64_t tail_commits = options.tail + options.tail / 2;
    std::printf("snapshot_bytes %llu B\n", static_cast<unsigned long long>(snapshot_bytes));
    std::printf("snapshot_bytes_per_user %.1f B\n",
                static_cast<double>(snapshot_bytes) / static_cast<double>(engine.user_count()));
    std::printf("journal_bytes_per_commit %.1f B\n",
                static_cast<double>(tail_bytes) / static_cast<double>(tail_commits));
  }

  // Restart: recovery of snapshot + tail, then the first advance (presence timers re-armed).
  {
    auto start = Steady::now();
    double cpu_start = thread_cpu_seconds();
    Engine engine(bench_settings());
    engine.track_changes(true);
    TimePoint now = kStart + 20s;
    Journal journal({.dir = options.dir / "restore"}, engine, now);
    double recover_s = seconds_since(start);
    engine.advance(now);
    engine.take_events();
    engine.take_changes();
    double total_s = seconds_since(start);
    double cpu_s = thread_cpu_seconds() - cpu_start;
    const auto& report = journal.recovery();
    std::printf("restore_users %zu users\n", report.users);
    std::printf("restore_journal_commits %llu commits\n",
                static_cast<unsigned long long>(report.journal_commits));
    std::printf("restore_seconds %.3f s\n", recover_s);
    std::printf("restore_and_advance_seconds %.3f s\n", total_s);
    // CPU time of the restoring thread: the wall time minus what other processes took.
    std::printf("restore_and_advance_cpu_seconds %.3f s\n", cpu_s);
    std::printf("restore_waiting %zu users\n", engine.waiting_count());
  }

  // Group commit: C clients, each appends a join then waits for it to be durable.
  {
    Engine engine(bench_settings());
    engine.track_changes(true);
    Journal journal({.dir = options.dir / "commit"}, engine, kStart);
    boost::asio::io_context io;
    std::mutex engine_mutex;
    std::size_t per_client = options.commits / options.clients;
    auto start = Steady::now();
    for (std::size_t c = 0; c < options.clients; ++c) {
      boost::asio::co_spawn(
          io,
          [&, c]() -> boost::asio::awaitable<void> {
            for (std::size_t j = 0; j < per_client; ++j) {
              std::uint64_t lsn;
              {
                std::lock_guard lock(engine_mutex);
                std::string id = "c" + std::to_string(c) + "-" + std::to_string(j);
                engine.join(id, kStart);
                engine.take_events();
                lsn = journal.append(engine.take_changes(), 0);
              }
              co_await journal.async_wait_durable(lsn, boost::asio::use_awaitable);
            }
          },
          boost::asio::detached);
    }
    io.run();
    double elapsed = seconds_since(start);
    auto stats = journal.stats();
    std::printf("group_commit_clients %zu clients\n", options.clients);
    std::printf("group_commit_commits_per_second %.0f commits/s\n",
                static_cast<double>(stats.commits) / elapsed);
    std::printf("group_commit_fsyncs_per_second %.0f fsyncs/s\n",
                static_cast<double>(stats.fsyncs) / elapsed);
    std::printf("group_commit_commits_per_fsync %.1f commits\n",
                static_cast<double>(stats.commits) / static_cast<double>(stats.fsyncs));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--users") {
      options.users = std::stoull(value);
    } else if (flag == "--tail") {
      options.tail = std::stoull(value);
    } else if (flag == "--clients") {
      options.clients = std::max<std::size_t>(1, std::stoull(value));
    } else if (flag == "--commits") {
      options.commits = std::stoull(value);
    } else if (flag == "--dir") {
      options.dir = value;
    } else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  bool temporary = options.dir.empty();
  if (temporary) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "waitroom-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) return 1;
    options.dir = pattern;
  }
  int rc = 1;
  try {
    rc = run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "durability_bench: %s\n", e.what());
  }
  if (temporary) std::filesystem::remove_all(options.dir);
  return rc;
}
