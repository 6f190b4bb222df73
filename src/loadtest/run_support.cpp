// The shared parts of a run and the entry point that picks the mode.
#include "loadtest/run_support.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>

namespace waitroom::loadtest {

std::uint64_t raise_file_limit(std::uint64_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_max < wanted) {
    // Only root may raise the hard limit, and never past fs.nr_open; try, and keep the
    // old one when refused.
    std::uint64_t nr_open = wanted;
    if (std::FILE* file = std::fopen("/proc/sys/fs/nr_open", "r")) {
      unsigned long long value = 0;
      if (std::fscanf(file, "%llu", &value) == 1) nr_open = value;
      std::fclose(file);
    }
    rlimit raised{std::min<rlim_t>(wanted, nr_open), std::min<rlim_t>(wanted, nr_open)};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur < std::min<rlim_t>(wanted, limit.rlim_max)) {
    limit.rlim_cur = std::min<rlim_t>(wanted, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

std::optional<std::chrono::system_clock::time_point> parse_instant(const std::string& text) {
  std::tm tm{};
  int year, month, day, hour, minute;
  double second;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%lfZ", &year, &month, &day, &hour, &minute,
                  &second) != 6) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  std::time_t whole = timegm(&tm);
  if (whole == std::time_t(-1)) return std::nullopt;
  auto millis = std::chrono::milliseconds(std::llround(second * 1000));
  return std::chrono::system_clock::from_time_t(whole) + millis;
}

asio::awaitable<void> progress_loop(Run& run, std::function<std::string()> line) {
  const bool tty = isatty(STDERR_FILENO) != 0;
  double interval_s = run.options.progress_interval_s;
  if (interval_s <= 0) interval_s = tty ? 1 : 5;
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(interval_s));
  auto next = steady_now() + interval;
  while (!run.over()) {
    boost::system::error_code ec;
    run.wake.expires_at(next);
    co_await run.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (run.over()) break;
    if (steady_now() < next) continue;  // woken early for another reason
    next += interval;
    const double elapsed = std::chrono::duration<double>(steady_now() - run.start).count();
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "[%7.1fs] ", elapsed);
    if (tty) {
      std::cerr << "\r\033[K" << stamp << line() << std::flush;
    } else {
      std::cerr << stamp << line() << std::endl;
    }
  }
  if (tty) std::cerr << "\r\033[K" << std::flush;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::cerr << "waitroom load-test: cannot write " << path << "\n";
    return false;
  }
  return true;
}

int run(const Options& options) {
  std::uint64_t seed =
      options.seed.value_or(std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32));
  asio::io_context io_context{1};
  Target target;
  try {
    target = resolve_target(io_context, options.url, options.prefix);
  } catch (const std::exception& e) {
    std::cerr << "waitroom load-test: " << e.what() << "\n";
    return 2;
  }
  if (options.mode == Options::Mode::streams) {
    return run_streams(io_context, options, std::move(target), seed);
  }
  return run_users(io_context, options, std::move(target), seed);
}

}  // namespace waitroom::loadtest
