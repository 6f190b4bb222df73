// Metrics the HTTP layer keeps itself, beside the engine's counters: the wait and session
// length histograms, fed from the `measured` field of engine events as they pass through
// the Hub.
#pragma once

#include "http/prometheus.hpp"

namespace waitroom::http {

struct ServerMetrics {
  Histogram wait_seconds{{1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}};
  Histogram session_seconds{{10, 30, 60, 120, 300, 600, 1200, 1800, 3600}};
};

}  // namespace waitroom::http
