// Prometheus text exposition format 0.0.4, written by hand.
//
// A family is "# HELP", "# TYPE" and its samples, one per line. Numbers use the shortest
// decimal form that reads back to the same double ("42", "0.005", "1e+21") and the
// format's spellings of the special values ("+Inf", "-Inf", "NaN"), so that the `le`
// labels of a histogram read like the bounds they were given. Metric and label names are
// not escapable in the format, so characters outside [a-zA-Z0-9_:] are replaced by '_';
// help texts and label values are escaped as the format says.
#include "http/prometheus.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace waitroom::http {
namespace {

std::string format_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc{}) return "NaN";  // cannot happen with 64 bytes; keep the line valid
  return std::string(buffer, end);
}

// Metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*; label names the same without ':'.
std::string sanitize_name(std::string_view name, bool allow_colon) {
  std::string out;
  out.reserve(name.size() + 1);
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (allow_colon && c == ':');
    out.push_back(ok ? c : '_');
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), '_');
  return out;
}

// HELP text escapes backslash and newline; label values also escape the double quote.
std::string escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void header(std::string& text, const std::string& name, std::string_view help,
            std::string_view type) {
  text += "# HELP ";
  text += name;
  text += ' ';
  text += escape(help, false);
  text += "\n# TYPE ";
  text += name;
  text += ' ';
  text += type;
  text += '\n';
}

void sample(std::string& text, std::string_view name, std::string_view labels, double value) {
  text += name;
  text += labels;
  text += ' ';
  text += format_number(value);
  text += '\n';
}

// Counts are written as integers: a double would round them above 2^53.
void sample(std::string& text, std::string_view name, std::string_view labels,
            std::uint64_t count) {
  text += name;
  text += labels;
  text += ' ';
  text += std::to_string(count);
  text += '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_.size() + 1, 0) {
  for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
    if (!std::isfinite(upper_bounds_[i]) || (i > 0 && upper_bounds_[i] <= upper_bounds_[i - 1]))
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
  }
}

void Histogram::observe(double value) {
  // A NaN would make the sum NaN forever after; it is no measurement, so it is dropped.
  if (std::isnan(value)) return;
  // Bucket i counts values <= upper_bounds_[i] (and > the previous bound).
  auto bucket = static_cast<std::size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  std::lock_guard lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

Histogram::Totals Histogram::totals() const {
  Totals totals;
  totals.upper_bounds = upper_bounds_;
  totals.cumulative_counts.reserve(counts_.size());
  std::lock_guard lock(mutex_);
  std::uint64_t running = 0;
  for (std::uint64_t count : counts_) {
    running += count;
    totals.cumulative_counts.push_back(running);
  }
  totals.sum = sum_;
  totals.count = count_;
  return totals;
}

void PrometheusWriter::counter(std::string_view name, std::string_view help, double value) {
  std::string metric = sanitize_name(name, true);
  header(text_, metric, help, "counter");
  sample(text_, metric, "", value);
}

void PrometheusWriter::gauge(std::string_view name, std::string_view help, double value) {
  std::string metric = sanitize_name(name, true);
  header(text_, metric, help, "gauge");
  sample(text_, metric, "", value);
}

void PrometheusWriter::labelled_counter(
    std::string_view name, std::string_view help, std::string_view label,
    const std::vector<std::pair<std::string, double>>& samples) {
  std::string metric = sanitize_name(name, true);
  std::string label_name = sanitize_name(label, false);
  header(text_, metric, help, "counter");
  for (const auto& [label_value, value] : samples) {
    sample(text_, metric, "{" + label_name + "=\"" + escape(label_value, true) + "\"}", value);
  }
}

void PrometheusWriter::histogram(std::string_view name, std::string_view help,
                                 const Histogram::Totals& totals) {
  std::string metric = sanitize_name(name, true);
  header(text_, metric, help, "histogram");
  const std::string bucket = metric + "_bucket";
  for (std::size_t i = 0; i < totals.upper_bounds.size(); ++i) {
    std::uint64_t cumulative =
        i < totals.cumulative_counts.size() ? totals.cumulative_counts[i] : 0;
    sample(text_, bucket, "{le=\"" + format_number(totals.upper_bounds[i]) + "\"}", cumulative);
  }
  // The +Inf bucket is the total count by definition, whatever the buckets say.
  sample(text_, bucket, "{le=\"+Inf\"}", totals.count);
  sample(text_, metric + "_sum", "", totals.sum);
  sample(text_, metric + "_count", "", totals.count);
}

}  // namespace waitroom::http
