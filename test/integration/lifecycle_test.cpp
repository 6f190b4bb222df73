// Checks the remaining transitions of DESIGN.md §2 over the wire: a waiting user who
// neither polls nor holds a stream for --presence-timeout is disconnected as `abandoned`
// (one with an open stream is not); a connected user without heartbeat for --idle-timeout
// is disconnected as `idle_timeout` and the slot goes to the next user; an admin kick
// reaches the user's streams (every open tab); pausing stops admissions and resuming
// admits at once; lowering the cap at run time kicks nobody; the admin's settings are
// refused (422, nothing changed) wherever the start-up configuration would refuse them.
#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class LifecycleTest : public WaitroomTest {};

TEST_F(LifecycleTest, AbandonedWaitingUsersLoseTheirPlace) {
  WAITROOM_START_SERVER(
      {"--max-active-users", "1", "--presence-timeout", "1s", "--admin-token", kAdminToken});
  const std::string holder = ticket_of(client().join("holder"));
  ASSERT_EQ(client().confirm("holder", bearer(holder)).status, 200);
  const std::string gone = ticket_of(client().join("gone"));  // closes the tab at once
  const std::string present = ticket_of(client().join("present"));
  SseStream stream(port(), "present", bearer(present));
  ASSERT_TRUE(stream.next_event(5s));
  // "gone" never polls again. Its disconnection is observable only through the admin view
  // (reading its status would count as a presence poll), so poll that with a deadline.
  const auto at_position_one = [](const Json& json) {
    return json.value("status", Json()) == "waiting" && json.value("position", Json()) == 1;
  };
  const auto started = Clock::now();
  bool abandoned = false;
  std::optional<StreamMessage> moved;
  while (Clock::now() - started < 5s && !abandoned) {
    const Json users = client().get("/queue/get_users", bearer(kAdminToken)).json();
    abandoned = users.value("waiting_users", Json::array()) == Json::array({"present"});
    // The pacing: a short wait for the other user's position update.
    if (!abandoned && !moved) moved = stream.wait_for(at_position_one, 50ms);
  }
  ASSERT_TRUE(abandoned) << "the absent user kept a place in the queue";
  EXPECT_GE(Clock::now() - started, 800ms);
  Json status = client().status("gone").json();
  EXPECT_EQ(status["status"], "disconnected") << status.dump();
  EXPECT_EQ(status["reason"], "abandoned") << status.dump();
  // The user with an open stream moved up and is still there.
  if (!moved) moved = stream.wait_for(at_position_one, 3s);
  EXPECT_TRUE(moved) << "no position update for the user who moved up";
  EXPECT_EQ(client().status("present").json().value("position", Json()), 1);
}

TEST_F(LifecycleTest, IdleConnectedUserIsDisconnectedAndTheSlotPassesOn) {
  WAITROOM_START_SERVER(
      {"--max-active-users", "1", "--idle-timeout", "1s", "--expiring-soon", "0"});
  const std::string busy = ticket_of(client().join("busy"));
  ASSERT_EQ(client().confirm("busy", bearer(busy)).status, 200);
  const std::string next = ticket_of(client().join("next"));
  SseStream busy_stream(port(), "busy", bearer(busy));
  SseStream next_stream(port(), "next", bearer(next));
  ASSERT_TRUE(busy_stream.next_event(5s));
  ASSERT_TRUE(next_stream.next_event(5s));
  // Heartbeats every 300 ms keep the session for 2 s, past the idle timeout.
  const auto started = Clock::now();
  while (Clock::now() - started < 2s) {
    ASSERT_FALSE(busy_stream.wait_for(has_status("disconnected"), 300ms))
        << "disconnected despite heartbeats";
    ASSERT_EQ(client().heartbeat("busy", bearer(busy)).status, 200);
  }
  const auto stopped = Clock::now();
  const auto idle = busy_stream.wait_for(has_status("disconnected"), 5s);
  ASSERT_TRUE(idle) << "never disconnected for idleness";
  EXPECT_EQ(idle->json.value("reason", Json()), "idle_timeout") << idle->json.dump();
  EXPECT_GE(idle->received_at - stopped, 700ms);
  EXPECT_TRUE(next_stream.wait_for(has_status("draft"), 3s)) << "the slot was not passed on";
}

TEST_F(LifecycleTest, KickReachesEveryOpenStreamOfTheUser) {
  WAITROOM_START_SERVER({"--admin-token", kAdminToken});
  const std::string ticket = ticket_of(client().join("tabs"));
  SseStream tab1(port(), "tabs", bearer(ticket));
  SseStream tab2(port(), "tabs", ticket_cookie(ticket));
  WsClient tab3(port(), "tabs", bearer(ticket));
  for (PushStream* tab : std::initializer_list<PushStream*>{&tab1, &tab2, &tab3}) {
    ASSERT_TRUE(tab->next_event(5s));
  }
  ASSERT_EQ(client().post("/queue/admin/kick/tabs", "", bearer(kAdminToken)).status, 200);
  for (PushStream* tab : std::initializer_list<PushStream*>{&tab1, &tab2, &tab3}) {
    EXPECT_TRUE(tab->wait_for(has_status_reason("disconnected", "kicked"), 3s));
  }
  const auto unknown = client().post("/queue/admin/kick/nobody", "", bearer(kAdminToken));
  EXPECT_EQ(unknown.status, 404) << unknown.describe();
}

TEST_F(LifecycleTest, PauseStopsAdmissionsAndResumeAdmitsAtOnce) {
  WAITROOM_START_SERVER({"--max-active-users", "2", "--admin-token", kAdminToken});
  const auto pause = client().post("/queue/admin/pause", "", bearer(kAdminToken));
  ASSERT_EQ(pause.status, 200) << pause.describe();
  EXPECT_EQ(pause.json(), Json({{"paused", true}})) << pause.describe();
  const auto joined = client().join("patient");
  EXPECT_EQ(joined.json().value("commit_status", Json()), "waiting") << joined.describe();
  EXPECT_EQ(client().metrics().json().value("paused", Json()), true);
  SseStream stream(port(), "patient", bearer(ticket_of(joined)));
  ASSERT_TRUE(stream.next_event(5s));
  const auto resume = client().post("/queue/admin/resume", "", bearer(kAdminToken));
  ASSERT_EQ(resume.status, 200) << resume.describe();
  EXPECT_EQ(resume.json(), Json({{"paused", false}})) << resume.describe();
  EXPECT_TRUE(stream.wait_for(has_status("draft"), 2s)) << "resume did not admit";
}

TEST_F(LifecycleTest, LoweringTheCapKicksNobody) {
  WAITROOM_START_SERVER({"--max-active-users", "3", "--admin-token", kAdminToken});
  std::vector<std::string> tickets;
  for (const std::string id : std::vector<const char*>{"a", "b", "c", "d"}) {
    tickets.push_back(ticket_of(client().join(id)));
  }
  ASSERT_EQ(client().confirm("a", bearer(tickets[0])).status, 200);
  const auto settings = client().get("/queue/admin/settings", bearer(kAdminToken));
  ASSERT_EQ(settings.status, 200) << settings.describe();
  EXPECT_EQ(settings.json().value("max_active_users", Json()), 3) << settings.describe();
  const auto lowered =
      client().post("/queue/admin/settings", R"({"max_active_users":1})", bearer(kAdminToken));
  ASSERT_EQ(lowered.status, 200) << lowered.describe();
  Json metrics = client().metrics().json();
  EXPECT_EQ(metrics["active_users"], 1) << metrics.dump();
  EXPECT_EQ(metrics["draft_users"], 2) << metrics.dump();
  EXPECT_EQ(metrics["total_slots"], 1) << metrics.dump();
  // A freed slot is not refilled while over the new cap.
  ASSERT_EQ(client().leave("b", bearer(tickets[1])).status, 200);
  EXPECT_EQ(client().status("d").json().value("status", Json()), "waiting");
  const auto invalid =
      client().post("/queue/admin/settings", R"({"max_active_users":-4})", bearer(kAdminToken));
  EXPECT_EQ(invalid.status, 422) << invalid.describe();
  EXPECT_EQ(client().metrics().json().value("total_slots", Json()), 1);
}

TEST_F(LifecycleTest, AdminSettingsAreValidatedLikeTheStartUp) {
  WAITROOM_START_SERVER({"--admin-token", kAdminToken});
  auto post = [&](const std::string& body) {
    return client().post("/queue/admin/settings", body, bearer(kAdminToken));
  };
  // What the start-up refuses, with the start-up's words.
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"max_active_users":0})", "expected an integer from 1 to 1000000"},
      {R"({"max_active_users":1000001})", "expected an integer from 1 to 1000000"},
      {R"({"max_active_users":2.5})", "expected an integer from 1 to 1000000"},
      {R"({"max_active_users":"many"})", "expected an integer from 1 to 1000000"},
      {R"({"max_draft_misses":0})", "expected an integer from 1 to 1000"},
      {R"({"session_duration":1e9})", "too large"},
      {R"({"draft_duration":"400d"})", "invalid duration"},
      {R"({"session_duration":0})", "greater than 0"},
      {R"({"idle_timeout":0.0004})", "finer than a millisecond"},
      {R"({"presence_timeout":"0.4ms"})", "finer than a millisecond"},
      {R"({"expiring_soon":-1})", "negative"},
      {R"({"requeue_policy":"middle"})", "one of back, front"},
      {R"({"session_renewal":"perhaps"})", "true or false"},
      {R"({"paused":null})", "true or false"},
      {R"({"port":8080})", "cannot change at run time"},
      {R"({"max_active_users":9,"nope":1})", "unknown setting"},
  };
  for (const auto& [body, expected] : refused) {
    const auto response = post(body);
    EXPECT_EQ(response.status, 422) << body << ": " << response.describe();
    EXPECT_NE(response.json().value("detail", "").find(expected), std::string::npos)
        << body << ": " << response.describe();
  }
  // Nothing of a refused object was applied.
  const auto unchanged = client().get("/queue/admin/settings", bearer(kAdminToken)).json();
  EXPECT_EQ(unchanged.value("max_active_users", Json()), 50) << unchanged.dump();
  EXPECT_EQ(unchanged.value("idle_timeout", Json()), 300) << unchanged.dump();

  // What the start-up accepts, in numbers or in the start-up's strings.
  const auto changed =
      post(R"({"max_active_users":1000000,"idle_timeout":0.25,"session_duration":"2m",)"
           R"("max_draft_misses":3,"expiring_soon":0,"requeue_policy":"front","paused":true})");
  ASSERT_EQ(changed.status, 200) << changed.describe();
  const auto json = changed.json();
  EXPECT_EQ(json.value("max_active_users", Json()), 1000000) << json.dump();
  EXPECT_EQ(json.value("idle_timeout", Json()), 0.25) << json.dump();
  EXPECT_EQ(json.value("session_duration", Json()), 120) << json.dump();
  EXPECT_EQ(json.value("max_draft_misses", Json()), 3) << json.dump();
  EXPECT_EQ(json.value("expiring_soon", Json()), 0) << json.dump();
  EXPECT_EQ(json.value("requeue_policy", Json()), "front") << json.dump();
  EXPECT_EQ(json.value("paused", Json()), true) << json.dump();
}

}  // namespace
}  // namespace waitroom::test
