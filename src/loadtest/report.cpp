// Percentiles, the JSON summary and its text rendering. The text is derived from the
// JSON, so the two can never disagree.
#include "loadtest/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace waitroom::loadtest {

namespace {

double rank(const std::vector<double>& sorted, double quantile) {
  // Nearest rank: the smallest sample with at least `quantile` of the samples at or below.
  auto index = static_cast<std::size_t>(std::ceil(quantile * double(sorted.size())));
  index = std::clamp<std::size_t>(index, 1, sorted.size());
  return sorted[index - 1];
}

double round3(double value) {
  return std::round(value * 1000) / 1000;
}

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

}  // namespace

Distribution Distribution::of(std::vector<double> samples) {
  Distribution out;
  out.count = samples.size();
  if (samples.empty()) return out;
  std::sort(samples.begin(), samples.end());
  out.p50 = rank(samples, 0.50);
  out.p90 = rank(samples, 0.90);
  out.p99 = rank(samples, 0.99);
  out.max = samples.back();
  out.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / double(samples.size());
  return out;
}

nlohmann::json Distribution::json() const {
  return {{"count", count},     {"p50", round3(p50)}, {"p90", round3(p90)},
          {"p99", round3(p99)}, {"max", round3(max)}, {"mean", round3(mean)}};
}

std::uint64_t Recorder::error_count() const {
  std::uint64_t total = 0;
  for (const auto& [kind, count] : errors) total += count;
  return total;
}

nlohmann::json summary_json(const Recorder& recorder, nlohmann::json header, double elapsed_s) {
  const Counters& c = recorder.counters;
  nlohmann::json out = std::move(header);
  out["elapsed_s"] = round3(elapsed_s);
  out["users"] = {{"started", c.started},
                  {"joined", c.joined},
                  {"streams_open", c.streams_open},
                  {"drafted", c.drafted},
                  {"served", c.served},
                  {"left", c.left},
                  {"session_expired", c.session_expired},
                  {"abandoned", c.abandoned},
                  {"finished", c.finished},
                  {"unfinished", c.started - c.finished},
                  {"heartbeats", c.heartbeats},
                  {"events", c.events}};
  out["latency_ms"] = {
      {"join", Distribution::of(recorder.join_ms).json()},
      {"stream_open", Distribution::of(recorder.stream_open_ms).json()},
      {"confirm", Distribution::of(recorder.confirm_ms).json()},
      {"heartbeat", Distribution::of(recorder.heartbeat_ms).json()},
      {"leave", Distribution::of(recorder.leave_ms).json()},
      {"admission_to_draft", Distribution::of(recorder.admission_to_draft_ms).json()}};
  out["wait_s"] = Distribution::of(recorder.wait_s).json();

  // How good was the estimate shown at join? ratio = actual / estimated (1 is perfect);
  // the absolute error is in seconds. Users shown an estimate of 0 have no ratio.
  std::vector<double> ratios, errors_s;
  for (const auto& [actual, estimated] : recorder.wait_vs_estimate_s) {
    errors_s.push_back(std::abs(actual - estimated));
    if (estimated > 0) ratios.push_back(actual / estimated);
  }
  auto ratio = Distribution::of(ratios);
  auto error = Distribution::of(errors_s);
  out["estimate"] = {{"users", recorder.wait_vs_estimate_s.size()},
                     {"median_ratio_actual_to_estimated", round3(ratio.p50)},
                     {"p90_ratio", round3(ratio.p90)},
                     {"median_abs_error_s", round3(error.p50)},
                     {"p90_abs_error_s", round3(error.p90)}};
  out["errors"] = nlohmann::json::object();
  for (const auto& [kind, count] : recorder.errors) out["errors"][kind] = count;
  out["error_count"] = recorder.error_count();
  return out;
}

std::string summary_text(const nlohmann::json& s) {
  std::string out;
  auto line = [&](const std::string& text) { out += text + "\n"; };
  const auto& u = s["users"];
  line("load-test " + s["mode"].get<std::string>() + " against " + s["url"].get<std::string>() +
       " (seed " + std::to_string(s["seed"].get<std::uint64_t>()) + "), " +
       format("%.1f s", s["elapsed_s"].get<double>()));
  line("users: " + std::to_string(u["started"].get<std::uint64_t>()) + " started, " +
       std::to_string(u["joined"].get<std::uint64_t>()) + " joined, " +
       std::to_string(u["drafted"].get<std::uint64_t>()) + " drafted, " +
       std::to_string(u["served"].get<std::uint64_t>()) + " served, " +
       std::to_string(u["left"].get<std::uint64_t>()) + " left, " +
       std::to_string(u["session_expired"].get<std::uint64_t>()) + " let the session expire, " +
       std::to_string(u["abandoned"].get<std::uint64_t>()) + " abandoned their draft, " +
       std::to_string(u["unfinished"].get<std::uint64_t>()) + " unfinished at the cap");
  auto dist = [&](const std::string& name, const nlohmann::json& d, const char* unit) {
    if (d["count"].get<std::size_t>() == 0) {
      line("  " + name + ": no samples");
      return;
    }
    line("  " + name + " (" + std::to_string(d["count"].get<std::size_t>()) + "): p50 " +
         format("%.2f", d["p50"].get<double>()) + ", p90 " +
         format("%.2f", d["p90"].get<double>()) + ", p99 " +
         format("%.2f", d["p99"].get<double>()) + ", max " +
         format("%.2f", d["max"].get<double>()) + " " + unit);
  };
  line("latency:");
  for (const char* name :
       {"join", "stream_open", "confirm", "heartbeat", "leave", "admission_to_draft"}) {
    dist(name, s["latency_ms"][name], "ms");
  }
  line("waiting:");
  dist("wait (join to draft)", s["wait_s"], "s");
  const auto& e = s["estimate"];
  if (e["users"].get<std::size_t>() > 0) {
    line("  estimate shown at join vs actual wait (" +
         std::to_string(e["users"].get<std::size_t>()) + " users): median actual/estimated " +
         format("%.2f", e["median_ratio_actual_to_estimated"].get<double>()) +
         ", p90 absolute error " + format("%.1f s", e["p90_abs_error_s"].get<double>()));
  }
  if (s["errors"].empty()) {
    line("errors: none");
  } else {
    line("errors (" + std::to_string(s["error_count"].get<std::uint64_t>()) + "):");
    for (const auto& [kind, count] : s["errors"].items()) {
      line("  " + kind + ": " + std::to_string(count.get<std::uint64_t>()));
    }
  }
  return out;
}

}  // namespace waitroom::loadtest
