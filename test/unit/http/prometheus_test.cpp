// Checks the Prometheus text format byte for byte: HELP/TYPE lines, cumulative histogram
// buckets with a +Inf bucket, _sum and _count, number spelling, escaping of help texts
// and label values, sanitised names, and that Histogram counts correctly under threads.
#include "http/prometheus.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>

namespace waitroom::http {
namespace {

TEST(Prometheus, CounterAndGaugeExactText) {
  PrometheusWriter writer;
  writer.counter("waitroom_joins_total", "Joins that took a place.", 3);
  writer.gauge("waitroom_waiting_users", "Users waiting.", 2.5);
  EXPECT_EQ(writer.text(),
            "# HELP waitroom_joins_total Joins that took a place.\n"
            "# TYPE waitroom_joins_total counter\n"
            "waitroom_joins_total 3\n"
            "# HELP waitroom_waiting_users Users waiting.\n"
            "# TYPE waitroom_waiting_users gauge\n"
            "waitroom_waiting_users 2.5\n");
}

TEST(Prometheus, HistogramExactText) {
  // Binary fractions, so that the sum is exact and the expected text is too.
  Histogram histogram({0.125, 1, 5});
  histogram.observe(0.0625);
  histogram.observe(0.125);  // on a bound: counts in that bucket (le means <=)
  histogram.observe(0.75);
  histogram.observe(10);
  PrometheusWriter writer;
  writer.histogram("waitroom_wait_seconds", "Time from join to draft.", histogram.totals());
  EXPECT_EQ(writer.text(),
            "# HELP waitroom_wait_seconds Time from join to draft.\n"
            "# TYPE waitroom_wait_seconds histogram\n"
            "waitroom_wait_seconds_bucket{le=\"0.125\"} 2\n"
            "waitroom_wait_seconds_bucket{le=\"1\"} 3\n"
            "waitroom_wait_seconds_bucket{le=\"5\"} 3\n"
            "waitroom_wait_seconds_bucket{le=\"+Inf\"} 4\n"
            "waitroom_wait_seconds_sum 10.9375\n"
            "waitroom_wait_seconds_count 4\n");
}

TEST(Prometheus, EmptyHistogram) {
  Histogram histogram({0.005, 0.25});
  PrometheusWriter writer;
  writer.histogram("h", "Empty.", histogram.totals());
  EXPECT_EQ(writer.text(),
            "# HELP h Empty.\n"
            "# TYPE h histogram\n"
            "h_bucket{le=\"0.005\"} 0\n"
            "h_bucket{le=\"0.25\"} 0\n"
            "h_bucket{le=\"+Inf\"} 0\n"
            "h_sum 0\n"
            "h_count 0\n");
}

TEST(Prometheus, TotalsAreCumulativeWithInfLast) {
  Histogram histogram({1, 2});
  for (double value : {0.5, 1.5, 1.5, 3.0}) histogram.observe(value);
  auto totals = histogram.totals();
  EXPECT_EQ(totals.upper_bounds, (std::vector<double>{1, 2}));
  EXPECT_EQ(totals.cumulative_counts, (std::vector<std::uint64_t>{1, 3, 4}));
  EXPECT_EQ(totals.count, 4u);
  EXPECT_DOUBLE_EQ(totals.sum, 6.5);
}

TEST(Prometheus, LabelledCounterEscapesLabelValues) {
  PrometheusWriter writer;
  writer.labelled_counter("waitroom_timeouts_total", "Timeouts by reason.", "reason",
                          {{"idle_timeout", 2}, {"quote\"back\\slash\nnewline", 1}});
  EXPECT_EQ(writer.text(),
            "# HELP waitroom_timeouts_total Timeouts by reason.\n"
            "# TYPE waitroom_timeouts_total counter\n"
            "waitroom_timeouts_total{reason=\"idle_timeout\"} 2\n"
            "waitroom_timeouts_total{reason=\"quote\\\"back\\\\slash\\nnewline\"} 1\n");
}

TEST(Prometheus, HelpEscapesBackslashAndNewlineOnly) {
  PrometheusWriter writer;
  writer.gauge("g", "a \"quoted\" \\ help\nsecond line", 1);
  EXPECT_EQ(writer.text(),
            "# HELP g a \"quoted\" \\\\ help\\nsecond line\n"
            "# TYPE g gauge\n"
            "g 1\n");
}

TEST(Prometheus, SpecialValuesAndLargeNumbers) {
  PrometheusWriter writer;
  writer.gauge("a", "x", std::numeric_limits<double>::infinity());
  writer.gauge("b", "x", -std::numeric_limits<double>::infinity());
  writer.gauge("c", "x", std::nan(""));
  writer.gauge("d", "x", 1e21);
  writer.gauge("e", "x", 0.001);
  writer.counter("f", "x", 123456789);
  const std::string& text = writer.text();
  EXPECT_NE(text.find("\na +Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nb -Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nc NaN\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nd 1e+21\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\ne 0.001\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nf 123456789\n"), std::string::npos) << text;
}

TEST(Prometheus, InvalidNameCharactersAreReplaced) {
  PrometheusWriter writer;
  writer.labelled_counter("wait-room.joins", "x", "re:ason", {{"v", 1}});
  EXPECT_NE(writer.text().find("wait_room_joins{re_ason=\"v\"} 1\n"), std::string::npos)
      << writer.text();
  PrometheusWriter digits;
  digits.gauge("9lives", "x", 1);
  EXPECT_NE(digits.text().find("\n_9lives 1\n"), std::string::npos) << digits.text();
}

TEST(Prometheus, HistogramRejectsUnorderedBounds) {
  EXPECT_THROW(Histogram({1, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({2, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({1, std::numeric_limits<double>::infinity()}), std::invalid_argument);
  EXPECT_NO_THROW(Histogram({}));
}

TEST(Prometheus, NanObservationIsDropped) {
  Histogram histogram({1});
  histogram.observe(std::nan(""));
  histogram.observe(0.5);
  auto totals = histogram.totals();
  EXPECT_EQ(totals.count, 1u);
  EXPECT_DOUBLE_EQ(totals.sum, 0.5);
}

TEST(Prometheus, ObserveIsThreadSafe) {
  Histogram histogram({0.5});
  constexpr int kThreads = 4;
  constexpr int kEach = 10'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&histogram, t] {
      for (int i = 0; i < kEach; ++i) histogram.observe(t % 2 == 0 ? 0.25 : 1.0);
    });
  }
  for (auto& thread : threads) thread.join();
  auto totals = histogram.totals();
  EXPECT_EQ(totals.count, std::uint64_t{kThreads * kEach});
  EXPECT_EQ(totals.cumulative_counts[0], std::uint64_t{kThreads / 2 * kEach});
  EXPECT_DOUBLE_EQ(totals.sum, 2 * kEach * 0.25 + 2 * kEach * 1.0);
}

}  // namespace
}  // namespace waitroom::http
