// Many concurrent HTTP clients for the invariant tests (concurrency_test, the Redis
// multi-instance test): asio coroutines on one thread, each a user that does a bounded
// number of random join/confirm/leave/status operations with its own ticket, every
// request bounded by a timeout. With several servers (waitroom instances sharing one Redis)
// each operation goes to one of them at random, over one keep-alive connection per server,
// so that a user joins on one instance and confirms or leaves on another.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "harness/http_client.hpp"

namespace waitroom::test {

// Sanitized builds run the same load shapes with fewer operations and more patience: the
// server is several times slower there, and the point is to check memory safety under
// concurrency, not throughput.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

struct LoadOptions {
  int clients = 100;
  int operations_per_client = 40;
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::steady_clock::time_point deadline;
  std::uint64_t seed = 1;  // client i uses seed * 1000003 + i
  std::string id_prefix = "load-";
  // Also accepted as an answer (the Redis failure tests count 503s apart from failures).
  bool accept_unavailable = false;
};

struct LoadStats {
  std::atomic<int> operations{0};
  std::atomic<int> failures{0};
  std::atomic<int> unavailable{0};
  std::atomic<int> clients_done{0};
  std::mutex mutex;
  std::vector<std::string> errors;  // the first few, for the failure message

  void fail(std::string error);
  std::string describe_errors();
};

// Runs the clients against `servers` until each has done its operations or the deadline
// passed; returns when all are done.
void run_load(const std::vector<boost::asio::ip::tcp::endpoint>& servers,
              const LoadOptions& options, LoadStats& stats);

// What one snapshot of /queue/metrics and /queue/get_users must satisfy (DESIGN.md §2):
// active + draft <= cap, no id in two lists or twice in one. Empty, or the violation.
std::string check_snapshot(const Json& metrics, const Json& users, int cap);

// Reads /queue/metrics and /queue/get_users (with the admin token) in a loop on its own
// thread and connections, from each server in turn, checking every snapshot with
// check_snapshot, until stop().
class InvariantMonitor {
 public:
  InvariantMonitor(std::vector<std::uint16_t> ports, int cap);
  ~InvariantMonitor();
  void stop();
  int snapshots() const { return snapshots_; }
  // The first violations (and a failed request), one per line; empty when none.
  std::string violations() const;

 private:
  std::atomic<bool> done_{false};
  std::atomic<int> snapshots_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> violations_;
  std::thread thread_;
};

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace waitroom::test
