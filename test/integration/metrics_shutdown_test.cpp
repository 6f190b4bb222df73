// Checks the metrics and a clean stop: /queue/metrics counts exactly what the test did
// (joins, drafts, admissions, leaves; a repeated join is not a new join), /metrics
// exposes the Prometheus families (waitroom_active_users, waitroom_joins_total,
// waitroom_wait_seconds histogram ...) with the same numbers, and SIGTERM stops the
// server with exit code 0 even with open streams and keep-alive connections, which it
// closes.
#include <algorithm>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;

class MetricsShutdownTest : public WaitroomTest {};

TEST_F(MetricsShutdownTest, MetricsMatchWhatTheTestDid) {
  WAITROOM_START_SERVER({"--max-active-users", "2", "--admin-token", kAdminToken});
  std::map<std::string, std::string> tickets;
  for (const std::string id : std::vector<const char*>{"a", "b", "c", "d"}) {
    const auto joined = client().join(id);
    ASSERT_EQ(joined.status, 200) << joined.describe();
    tickets[id] = ticket_of(joined);
  }
  ASSERT_EQ(client().confirm("a", bearer(tickets["a"])).status, 200);
  ASSERT_EQ(client().join("a", bearer(tickets["a"])).status, 200);  // a repeat, not a join
  ASSERT_EQ(client().leave("d", bearer(tickets["d"])).status, 200);

  Json metrics = client().metrics().json();
  EXPECT_EQ(metrics["active_users"], 1) << metrics.dump();
  EXPECT_EQ(metrics["draft_users"], 1) << metrics.dump();
  EXPECT_EQ(metrics["waiting_users"], 1) << metrics.dump();
  EXPECT_EQ(metrics["total_slots"], 2) << metrics.dump();
  EXPECT_EQ(metrics["available_slots"], 0) << metrics.dump();
  EXPECT_EQ(metrics["paused"], false) << metrics.dump();
  EXPECT_EQ(metrics["total_joins"], 4) << metrics.dump();
  EXPECT_EQ(metrics["total_admissions"], 1) << metrics.dump();
  EXPECT_TRUE(metrics["average_wait_time"].is_number()) << metrics.dump();
  EXPECT_TRUE(metrics["average_session_time"].is_number()) << metrics.dump();

  // The connected user leaves: "c" gets the draft.
  ASSERT_EQ(client().leave("a", bearer(tickets["a"])).status, 200);
  metrics = client().metrics().json();
  EXPECT_EQ(metrics["active_users"], 0) << metrics.dump();
  EXPECT_EQ(metrics["draft_users"], 2) << metrics.dump();
  EXPECT_EQ(metrics["waiting_users"], 0) << metrics.dump();
  EXPECT_EQ(metrics["available_slots"], 0) << metrics.dump();

  const auto users = client().get("/queue/get_users", bearer(kAdminToken));
  ASSERT_EQ(users.status, 200) << users.describe();
  Json lists = users.json();
  auto drafts = lists["draft_users"].get<std::vector<std::string>>();
  std::sort(drafts.begin(), drafts.end());
  EXPECT_EQ(drafts, (std::vector<std::string>{"b", "c"})) << users.describe();

  const auto prometheus = client().get("/metrics");
  ASSERT_EQ(prometheus.status, 200) << prometheus.describe();
  EXPECT_TRUE(prometheus.header("Content-Type") &&
              prometheus.header("Content-Type")->rfind("text/plain", 0) == 0)
      << prometheus.header("Content-Type").value_or("(none)");
  const std::string& text = prometheus.body;
  for (const std::string family : std::vector<const char*>{
           "waitroom_active_users", "waitroom_draft_users", "waitroom_waiting_users",
           "waitroom_joins_total", "waitroom_wait_seconds"}) {
    EXPECT_TRUE(prometheus_has(text, family)) << "missing family " << family << "\n" << text;
  }
  EXPECT_EQ(prometheus_sample(text, "waitroom_active_users"), 0.0) << text;
  EXPECT_EQ(prometheus_sample(text, "waitroom_draft_users"), 2.0) << text;
  EXPECT_EQ(prometheus_sample(text, "waitroom_waiting_users"), 0.0) << text;
  EXPECT_EQ(prometheus_sample(text, "waitroom_joins_total"), 4.0) << text;
  // Three drafts were offered (a, b, then c): three observed waits.
  const auto count = prometheus_sample(text, "waitroom_wait_seconds_count");
  EXPECT_EQ(count, 3.0) << text;
  EXPECT_EQ(prometheus_sample(text, "waitroom_wait_seconds_bucket", "le=\"+Inf\""), count) << text;
  EXPECT_TRUE(prometheus_sample(text, "waitroom_wait_seconds_sum")) << text;
  EXPECT_NE(text.find("# TYPE waitroom_wait_seconds histogram"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE waitroom_joins_total counter"), std::string::npos) << text;
}

TEST_F(MetricsShutdownTest, SigtermStopsCleanlyWithOpenConnections) {
  WAITROOM_START_SERVER({"--max-active-users", "1"});
  const auto joined = client().join("streaming");
  SseStream sse(port(), "streaming", bearer(ticket_of(joined)));
  ASSERT_TRUE(sse.next_event(5s));
  WsClient ws(port(), "streaming", bearer(ticket_of(joined)));
  ASSERT_TRUE(ws.next_event(5s));
  ASSERT_EQ(client().health().status, 200);  // an idle keep-alive connection stays open
  RawConnection half(port());
  half.send("GET /health HTTP/1.1\r\n");  // and one in the middle of its headers

  const ExitStatus status = server().stop(10s);
  EXPECT_TRUE(status.exited) << status.describe();
  EXPECT_EQ(status.code, 0) << status.describe() << "\n" << server().stderr_text();
  EXPECT_TRUE(sse.wait_closed(2s)) << "the SSE stream outlived the server";
  EXPECT_TRUE(ws.wait_closed(2s)) << "the WebSocket outlived the server";
}

}  // namespace
}  // namespace waitroom::test
