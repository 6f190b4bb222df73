// Checks the status, heartbeat and timers routes (API-CONTRACT.md): an unknown user's
// status is 200 with "status": null; a heartbeat for an unknown or not-connected user is
// 404 (path and body forms); a connected user's heartbeat is 200 {"status":"extended",
// "ttl"} with ttl <= the session duration, and heartbeats never extend the session: it
// still ends at confirmation + --session-duration (DESIGN.md §2 invariant).
#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class StatusHeartbeatTest : public WaitroomTest {};

TEST_F(StatusHeartbeatTest, UnknownUsers) {
  WAITROOM_START_SERVER({"--api-key", kApiKey});
  const auto status = client().status("nobody");
  ASSERT_EQ(status.status, 200) << status.describe();
  Json json = status.json();
  EXPECT_EQ(json["user_id"], "nobody") << status.describe();
  ASSERT_TRUE(json.contains("status")) << status.describe();
  EXPECT_TRUE(json["status"].is_null()) << status.describe();
  EXPECT_TRUE(json["position"].is_null()) << status.describe();

  const auto heartbeat = client().heartbeat("nobody", bearer(kApiKey));
  EXPECT_EQ(heartbeat.status, 404) << heartbeat.describe();
  EXPECT_TRUE(heartbeat.json().contains("detail")) << heartbeat.describe();
  const auto body_form =
      client().post("/queue/heartbeat", R"({"user_id":"nobody"})", bearer(kApiKey));
  EXPECT_EQ(body_form.status, 404) << body_form.describe();
  EXPECT_EQ(client().timers("nobody").json(), Json::object());
  const auto leave = client().leave("nobody", bearer(kApiKey));
  EXPECT_EQ(leave.status, 404) << leave.describe();
  const auto confirm = client().confirm("nobody", bearer(kApiKey));
  EXPECT_EQ(confirm.status, 400) << confirm.describe();
  // Reading a status does not create the user.
  EXPECT_EQ(client().metrics().json().value("total_joins", Json()), 0);
}

TEST_F(StatusHeartbeatTest, HeartbeatOfAWaitingOrDraftUserIs404) {
  WAITROOM_START_SERVER({"--max-active-users", "1"});
  const auto drafted = client().join("drafted");
  const auto waiting = client().join("waiting");
  EXPECT_EQ(client().heartbeat("drafted", bearer(ticket_of(drafted))).status, 404);
  EXPECT_EQ(client().heartbeat("waiting", bearer(ticket_of(waiting))).status, 404);
  EXPECT_EQ(client().confirm("waiting", bearer(ticket_of(waiting))).status, 400);
  Json timers = client().timers("drafted").json();
  EXPECT_EQ(timers["timer_type"], "draft") << timers.dump();
  EXPECT_EQ(timers["total_duration"], 300) << timers.dump();
  EXPECT_EQ(client().timers("waiting").json(), Json::object());
}

TEST_F(StatusHeartbeatTest, HeartbeatNeverExtendsTheSession) {
  WAITROOM_START_SERVER({"--session-duration", "2s", "--expiring-soon", "0"});
  const auto joined = client().join("user");
  const std::string ticket = ticket_of(joined);
  SseStream stream(port(), "user", bearer(ticket));
  ASSERT_TRUE(stream.next_event(5s));
  const auto confirmed_at = Clock::now();
  ASSERT_EQ(client().confirm("user", bearer(ticket)).status, 200);

  Json timers = client().timers("user").json();
  EXPECT_EQ(timers["timer_type"], "session") << timers.dump();
  EXPECT_EQ(timers["total_duration"], 2) << timers.dump();

  // Heartbeat every 100 ms (the wait for the end of the session is the pacing) until the
  // session ends; the ttl only goes down.
  double previous_ttl = 2.0;
  int accepted = 0;
  std::optional<StreamMessage> ended;
  while (Clock::now() - confirmed_at < 6s) {
    ended = stream.wait_for(has_status("disconnected"), 100ms);
    if (ended) break;
    auto heartbeat = client().heartbeat("user", bearer(ticket));
    if (heartbeat.status == 404) continue;  // just ended; the notification follows
    ASSERT_EQ(heartbeat.status, 200) << heartbeat.describe();
    Json json = heartbeat.json();
    EXPECT_EQ(json["status"], "extended") << heartbeat.describe();
    ASSERT_TRUE(json["ttl"].is_number()) << heartbeat.describe();
    const double ttl = json["ttl"].get<double>();
    EXPECT_LE(ttl, 2.0) << heartbeat.describe();
    EXPECT_LE(ttl, previous_ttl + 0.01) << "a heartbeat extended the session";
    previous_ttl = ttl;
    ++accepted;
    // The body form with the cookie works the same.
    if (accepted == 3) {
      auto body_form =
          client().post("/queue/heartbeat", R"({"user_id":"user"})", ticket_cookie(ticket));
      EXPECT_EQ(body_form.status, 200) << body_form.describe();
      EXPECT_LE(body_form.json().value("ttl", 99.0), previous_ttl + 0.01);
    }
  }
  ASSERT_TRUE(ended) << "the session never ended";
  EXPECT_EQ(ended->json.value("reason", Json()), "session_timeout") << ended->json.dump();
  EXPECT_GE(accepted, 5);
  const auto session = ended->received_at - confirmed_at;
  EXPECT_GE(session, 1900ms);
  EXPECT_LT(session, 3000ms) << "heartbeats extended the session past SESSION_DURATION";
  EXPECT_EQ(client().heartbeat("user", bearer(ticket)).status, 404);
  EXPECT_EQ(client().timers("user").json(), Json::object());
}

}  // namespace
}  // namespace waitroom::test
