// `waitroom load-test`: simulated people against a running waitroom, over HTTP and SSE.
//
// The command is a client of the public API only (docs/API-CONTRACT.md): it never links
// the server's code, so it measures what a real browser would see. Every simulated user
// is a pair of coroutines on one io_context (its requests and its event stream), so one
// process holds tens of thousands of them; every wait is bounded by the run's --duration
// cap, so a run always ends by itself. The modes are the original tool's (`single`,
// `group`, `load`) plus `streams`, which opens many idle event streams at once and
// measures the server's memory per stream and its push latency while they are open.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace waitroom::loadtest {

// A random duration drawn uniformly from [min_s, max_s] ("MIN..MAX" on the command line).
struct SecondsRange {
  double min_s = 0;
  double max_s = 0;
};

struct Options {
  enum class Mode : std::uint8_t { single, group, load, streams } mode = Mode::group;
  std::string user_id;      // single
  std::size_t size = 50;    // group
  std::size_t users = 200;  // load
  std::size_t batch_size = 20;
  double batch_delay_s = 5;

  std::string url = "http://localhost:8000";
  std::string prefix;     // path prefix in front of /queue (a gate), e.g. "/waitroom"
  std::string api_key;    // empty: act with the tickets from the join answers
  std::string id_prefix;  // empty: "lt-<seed>-", so that two runs never share an id

  SecondsRange reaction{0.5, 3};     // draft seen → confirm
  double no_confirm_ratio = 0.1;     // these users never confirm their draft
  SecondsRange stay{5, 30};          // confirmed → leave (or stop heartbeating)
  double leave_ratio = 0.8;          // the others let their session run out
  double heartbeat_interval_s = 10;  // 0: no heartbeats
  double duration_s = 300;           // cap for the whole run
  std::optional<std::uint64_t> seed;
  std::string json_file;
  double progress_interval_s = 0;  // 0: every second on a terminal, every 5 s otherwise

  // streams
  std::size_t count = 1000;
  std::string source_addresses;   // "127.0.0.2-127.0.0.33" or a comma-separated list
  int server_pid = 0;             // to read the server's VmRSS
  std::size_t samples = 20;       // admissions pushed while every stream is open
  std::size_t concurrency = 256;  // joins + stream opens in flight (streams mode)
};

// Parses the arguments after `load-test`. Help goes to stdout and returns nullopt with
// `exit_code` 0; a usage error prints to stderr and returns nullopt with `exit_code` 2.
std::optional<Options> parse_options(const std::vector<std::string>& args, int& exit_code);

// Runs a parsed load test; returns the process exit code (0: completed, 1: it could not
// reach the server or every user failed).
int run(const Options& options);

// parse_options then run.
int main(const std::vector<std::string>& args);

}  // namespace waitroom::loadtest
