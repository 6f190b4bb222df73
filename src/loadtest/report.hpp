// What a load-test run measured, and how it is shown: a progress line while it runs and
// one summary at the end, as text and as JSON (`--json FILE`) with the same fields.
//
// Samples are kept whole (one double per user and kind) rather than in a histogram: a run
// has at most 1,000,000 users, and exact percentiles keep small test runs meaningful.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace waitroom::loadtest {

// Nearest-rank percentile summary of one kind of sample.
struct Distribution {
  std::size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
  static Distribution of(std::vector<double> samples);
  nlohmann::json json() const;
};

// Counters of the users' progress; all of them only grow.
struct Counters {
  std::uint64_t started = 0;          // a join was sent
  std::uint64_t joined = 0;           // join answered 200
  std::uint64_t streams_open = 0;     // event stream answered 200
  std::uint64_t drafted = 0;          // a draft reached the user's stream
  std::uint64_t served = 0;           // confirm answered 200: the user got its session
  std::uint64_t left = 0;             // leave answered 200
  std::uint64_t session_expired = 0;  // the user let its session run out and saw it end
  std::uint64_t abandoned = 0;        // never confirmed its draft and went away
  std::uint64_t finished = 0;         // the user's script is over, whatever happened
  std::uint64_t heartbeats = 0;
  std::uint64_t events = 0;  // notifications received
};

struct Recorder {
  Counters counters;
  std::vector<double> join_ms, confirm_ms, leave_ms, heartbeat_ms, stream_open_ms;
  // Draft received minus the server's admission instant (the draft's expires_at minus its
  // duration, both from the server's wall clock, on the same machine as us): the time from
  // the slot being given (someone left or timed out) to the user hearing about it.
  std::vector<double> admission_to_draft_ms;
  std::vector<double> wait_s;  // join answered → draft received, for users who waited
  // Users who waited, pairs (actual wait, estimated_wait of the join answer), seconds.
  std::vector<std::pair<double, double>> wait_vs_estimate_s;
  std::map<std::string, std::uint64_t> errors;

  void error(const std::string& kind) { ++errors[kind]; }
  std::uint64_t error_count() const;
};

// The summary of a users run (single, group, load) as JSON; `header` holds the run's
// parameters (mode, url, seed, ...).
nlohmann::json summary_json(const Recorder& recorder, nlohmann::json header, double elapsed_s);
// The same, for people.
std::string summary_text(const nlohmann::json& summary);

}  // namespace waitroom::loadtest
