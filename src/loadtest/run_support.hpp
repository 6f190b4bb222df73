// What the users modes and the streams mode share: the run's context (options, target,
// recorder, the one deadline every wait is bounded by), the file-descriptor limit, the
// server's clock format and the progress line.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string>

#include "loadtest/client.hpp"
#include "loadtest/load_test.hpp"
#include "loadtest/report.hpp"

namespace waitroom::loadtest {

// The load tester measures a server from outside, so it reads real clocks itself: the
// steady clock for every interval, the wall clock only to compare with the server's
// `expires_at` instants (same machine, same wall clock).
inline SteadyTime steady_now() {
  return std::chrono::steady_clock::now();
}

struct Run {
  Run(asio::io_context& io, const Options& o, Target t, std::uint64_t s)
      : io_context(io), options(o), target(std::move(t)), seed(s), wake(io) {}
  asio::io_context& io_context;
  const Options& options;
  Target target;
  std::uint64_t seed;
  Recorder recorder;
  SteadyTime start = steady_now();
  SteadyTime deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(options.duration_s));
  std::size_t active = 0;   // users (or workers) whose coroutine has not returned
  bool launching = true;    // the launcher may still start users
  asio::steady_timer wake;  // cancelled when the run's work is over, to end the progress loop
  bool over() const { return !launching && active == 0; }
  bool past_deadline() const { return steady_now() >= deadline; }
};

// Raises RLIMIT_NOFILE to as many descriptors as the process may have (root may also
// raise the hard limit up to fs.nr_open); returns the new soft limit.
std::uint64_t raise_file_limit(std::uint64_t wanted);

// "2026-01-20T15:30:00.123Z" → system_clock instant; nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_instant(const std::string& text);

// Prints a progress line every interval until run.over(): rewritten in place on a
// terminal, one line per period otherwise. `line` describes the current state.
asio::awaitable<void> progress_loop(Run& run, std::function<std::string()> line);

// The users modes (single, group, load) and the streams mode.
int run_users(asio::io_context& io_context, const Options& options, Target target,
              std::uint64_t seed);
int run_streams(asio::io_context& io_context, const Options& options, Target target,
                std::uint64_t seed);

// Writes `text` to `path`; false (and a message on stderr) when it cannot.
bool write_file(const std::string& path, const std::string& text);

}  // namespace waitroom::loadtest
