// Checks the push streams (API-CONTRACT.md "Notifications"): the first message of a new
// SSE stream and of a new WebSocket describes the user's current state in the
// notification shapes (waiting with position, draft with duration/expires_at, connected
// with session_duration/expires_at, disconnected with reason); `: keepalive` comments
// come on an idle SSE stream; an expiring_soon warning arrives about --expiring-soon
// before the end of a short session, then the session_timeout disconnection; a user holds
// at most --max-streams-per-user streams at once (429 beyond).
#include <thread>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class StreamsTest : public WaitroomTest {
 protected:
  // Opens an SSE stream and a WebSocket for `id`; checks both first messages with `check`.
  template <class Check>
  void expect_first_messages(const std::string& id, const std::string& ticket, Check check) {
    SseStream sse(port(), id, bearer(ticket));
    ASSERT_TRUE(sse.is_open()) << sse.response().describe();
    const auto type = sse.response().header("Content-Type");
    EXPECT_TRUE(type && type->rfind("text/event-stream", 0) == 0) << type.value_or("(none)");
    const auto sse_first = sse.next_event(5s);
    ASSERT_TRUE(sse_first) << "no first SSE message for " << id;
    EXPECT_EQ(sse_first->value("user_id", Json()), id) << sse_first->dump();
    check(*sse_first, "sse");
    WsClient ws(port(), id, bearer(ticket));
    ASSERT_TRUE(ws.is_open()) << ws.response().describe();
    const auto ws_first = ws.next_event(5s);
    ASSERT_TRUE(ws_first) << "no first WebSocket message for " << id;
    EXPECT_EQ(ws_first->value("user_id", Json()), id) << ws_first->dump();
    check(*ws_first, "websocket");
  }
};

TEST_F(StreamsTest, FirstMessageIsTheCurrentState) {
  WAITROOM_START_SERVER({"--max-active-users", "1", "--draft-duration", "60s"});
  const std::string holder = ticket_of(client().join("holder"));
  const std::string waiting = ticket_of(client().join("waiting"));
  const std::string second = ticket_of(client().join("second"));

  expect_first_messages("waiting", waiting, [](const Json& json, const std::string& channel) {
    EXPECT_EQ(json.value("status", Json()), "waiting") << channel << json.dump();
    EXPECT_EQ(json.value("position", Json()), 1) << channel << json.dump();
    EXPECT_TRUE(json.value("estimated_wait", Json()).is_number()) << channel << json.dump();
  });
  expect_first_messages("second", second, [](const Json& json, const std::string& channel) {
    EXPECT_EQ(json.value("position", Json()), 2) << channel << json.dump();
  });
  expect_first_messages("holder", holder, [](const Json& json, const std::string& channel) {
    EXPECT_EQ(json.value("status", Json()), "draft") << channel << json.dump();
    EXPECT_TRUE(json.value("duration", Json()).is_number()) << channel << json.dump();
    EXPECT_LE(json.value("duration", 0.0), 60.0) << channel << json.dump();
    EXPECT_TRUE(json.value("expires_at", Json()).is_string()) << channel << json.dump();
  });
  ASSERT_EQ(client().confirm("holder", bearer(holder)).status, 200);
  expect_first_messages("holder", holder, [](const Json& json, const std::string& channel) {
    EXPECT_EQ(json.value("status", Json()), "connected") << channel << json.dump();
    EXPECT_EQ(json.value("session_duration", Json()), 1200) << channel << json.dump();
    EXPECT_TRUE(json.value("expires_at", Json()).is_string()) << channel << json.dump();
  });
  ASSERT_EQ(client().leave("holder", bearer(holder)).status, 200);
  expect_first_messages("holder", holder, [](const Json& json, const std::string& channel) {
    EXPECT_EQ(json.value("status", Json()), "disconnected") << channel << json.dump();
    EXPECT_EQ(json.value("reason", Json()), "left") << channel << json.dump();
  });
  // "waiting" got the slot; "second" moved up.
  expect_first_messages("second", second, [](const Json& json, const std::string& channel) {
    EXPECT_EQ(json.value("position", Json()), 1) << channel << json.dump();
  });
}

TEST_F(StreamsTest, ExpiringSoonThenSessionTimeout) {
  WAITROOM_START_SERVER({"--session-duration", "2s", "--expiring-soon", "1s"});
  const std::string ticket = ticket_of(client().join("user"));
  SseStream sse(port(), "user", bearer(ticket));
  WsClient ws(port(), "user", bearer(ticket));
  ASSERT_TRUE(sse.next_event(5s));
  ASSERT_TRUE(ws.next_event(5s));
  const auto confirmed_at = Clock::now();
  ASSERT_EQ(client().confirm("user", bearer(ticket)).status, 200);

  for (PushStream* stream : std::initializer_list<PushStream*>{&sse, &ws}) {
    const auto connected = stream->wait_for(has_status("connected"), 5s);
    ASSERT_TRUE(connected) << "no connected notification";
    EXPECT_EQ(connected->json.value("session_duration", Json()), 2) << connected->json.dump();
    const auto warning = stream->wait_for(has_status("expiring_soon"), 5s);
    ASSERT_TRUE(warning) << "no expiring_soon notification";
    EXPECT_EQ(warning->json.value("session_type", Json()), "active") << warning->json.dump();
    ASSERT_TRUE(warning->json.value("remaining_time", Json()).is_number()) << warning->json.dump();
    const double remaining = warning->json["remaining_time"].get<double>();
    EXPECT_GT(remaining, 0.0) << warning->json.dump();
    EXPECT_LE(remaining, 1.0) << warning->json.dump();
    const auto warned_after = warning->received_at - confirmed_at;
    EXPECT_GE(warned_after, 900ms) << "warned too early";
    EXPECT_LT(warned_after, 1800ms) << "warned too late";
    const auto ended = stream->wait_for(has_status("disconnected"), 5s);
    ASSERT_TRUE(ended);
    EXPECT_EQ(ended->json.value("reason", Json()), "session_timeout") << ended->json.dump();
  }
}

TEST_F(StreamsTest, IdleSseStreamGetsKeepaliveComments) {
  WAITROOM_START_SERVER({"--sse-keepalive-interval", "200ms"});
  const std::string ticket = ticket_of(client().join("idle"));
  SseStream sse(port(), "idle", bearer(ticket));
  ASSERT_TRUE(sse.next_event(5s));
  // No notification for a while: only comments, which are not events.
  EXPECT_FALSE(sse.next_event(900ms));
  EXPECT_GE(sse.comments_seen(), 2);
  ASSERT_EQ(client().confirm("idle", bearer(ticket)).status, 200);
  const auto connected = sse.next_event(5s);
  ASSERT_TRUE(connected);
  EXPECT_EQ(connected->value("status", Json()), "connected") << connected->dump();
}

TEST_F(StreamsTest, StreamsPerUserAreBounded) {
  WAITROOM_START_SERVER({"--max-streams-per-user", "2"});
  const std::string ticket = ticket_of(client().join("many"));
  auto sse = std::make_unique<SseStream>(port(), "many", bearer(ticket));
  ASSERT_TRUE(sse->is_open()) << sse->response().describe();
  WsClient ws(port(), "many", bearer(ticket));
  ASSERT_TRUE(ws.is_open()) << ws.response().describe();
  // A third, of either kind, is refused; someone else's first is not.
  SseStream third(port(), "many", bearer(ticket));
  EXPECT_EQ(third.status(), 429) << third.response().describe();
  EXPECT_NE(third.response().json().value("detail", "").find("streams"), std::string::npos)
      << third.response().describe();
  WsClient third_ws(port(), "many", bearer(ticket));
  EXPECT_EQ(third_ws.status(), 429) << third_ws.response().describe();
  SseStream other(port(), "other", bearer(ticket_of(client().join("other"))));
  EXPECT_TRUE(other.is_open()) << other.response().describe();

  // Once one closes, a new one opens. No event says when the server noticed the close:
  // its open-streams gauge is polled, at most 100 times over 5 s.
  sse.reset();
  auto open_streams = [&] {
    return prometheus_sample(client().get("/metrics").body, "waitroom_open_streams").value_or(-1);
  };
  for (int i = 0; i < 100 && open_streams() > 2; ++i) std::this_thread::sleep_for(50ms);
  SseStream again(port(), "many", bearer(ticket));
  EXPECT_TRUE(again.is_open()) << again.response().describe();
}

}  // namespace
}  // namespace waitroom::test
