// Prometheus text exposition format (version 0.0.4), written by hand: the format is a
// few lines per metric and Debian has no prometheus-cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace waitroom::http {

// A histogram with fixed upper bounds (seconds); thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);

  struct Totals {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative_counts;  // one per bound, then +Inf last
    double sum = 0;
    std::uint64_t count = 0;
  };
  Totals totals() const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> upper_bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Appends metrics to a text body. Names and label values are escaped per the format.
class PrometheusWriter {
 public:
  void counter(std::string_view name, std::string_view help, double value);
  void gauge(std::string_view name, std::string_view help, double value);
  // One family with one sample per label value, e.g. timeouts by reason.
  void labelled_counter(std::string_view name, std::string_view help, std::string_view label,
                        const std::vector<std::pair<std::string, double>>& samples);
  void histogram(std::string_view name, std::string_view help, const Histogram::Totals& totals);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

}  // namespace waitroom::http
