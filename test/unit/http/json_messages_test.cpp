// Checks the exact JSON of every notification shape, the status body, and the number and
// instant formats of docs/API-CONTRACT.md.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/json_messages.hpp"

namespace waitroom::http {
namespace {

using engine::Event;
using nlohmann::json;

Event event(Event::Kind kind) {
  Event e{};
  e.kind = kind;
  e.user_id = "u1";
  return e;
}

const TimePoint kAt{Duration{1'768'923'000'123}};  // 2026-01-20T15:30:00.123Z

TEST(JsonMessages, NumberAndInstantFormats) {
  std::string out;
  append_seconds(out, Duration{300'000});
  out += ' ';
  append_seconds(out, Duration{1'500});
  out += ' ';
  append_seconds(out, Duration{2'005});
  out += ' ';
  append_estimated_wait(out, Duration{1'001});
  out += ' ';
  append_estimated_wait(out, Duration{0});
  EXPECT_EQ(out, "300 1.5 2.005 2 0");
  EXPECT_EQ(format_instant(kAt), "2026-01-20T15:30:00.123Z");
}

TEST(JsonMessages, EventShapes) {
  auto waiting = event(Event::Kind::waiting);
  waiting.position = 5;
  waiting.estimated_wait = Duration{600'000};
  EXPECT_EQ(event_message(waiting),
            R"({"user_id":"u1","status":"waiting","position":5,"estimated_wait":600})");

  auto draft = event(Event::Kind::draft);
  draft.duration = Duration{300'000};
  draft.expires_at = kAt;
  EXPECT_EQ(event_message(draft), R"({"user_id":"u1","status":"draft","duration":300,)"
                                  R"("expires_at":"2026-01-20T15:30:00.123Z"})");

  auto connected = event(Event::Kind::connected);
  connected.duration = Duration{1'200'000};
  connected.expires_at = kAt;
  EXPECT_EQ(event_message(connected),
            R"({"user_id":"u1","status":"connected","session_duration":1200,)"
            R"("expires_at":"2026-01-20T15:30:00.123Z"})");

  auto expiring = event(Event::Kind::expiring_soon);
  expiring.remaining = Duration{60'000};
  expiring.session_type = engine::Status::connected;
  EXPECT_EQ(event_message(expiring),
            R"({"user_id":"u1","status":"expiring_soon","remaining_time":60,)"
            R"("session_type":"active"})");

  auto requeued = event(Event::Kind::requeued);
  requeued.reason = engine::Reason::draft_timeout;
  requeued.position = 5;
  const auto requeued_json = json::parse(event_message(requeued));
  EXPECT_EQ(requeued_json["status"], "waiting");
  EXPECT_EQ(requeued_json["reason"], "draft_timeout");
  EXPECT_EQ(requeued_json["position"], 5);

  auto disconnected = event(Event::Kind::disconnected);
  disconnected.reason = engine::Reason::session_timeout;
  EXPECT_EQ(event_message(disconnected),
            R"({"user_id":"u1","status":"disconnected","reason":"session_timeout"})");
}

TEST(JsonMessages, StateMessages) {
  EXPECT_EQ(state_message("u1", std::nullopt, kAt), R"({"user_id":"u1","status":null})");
  engine::UserView view;
  view.status = engine::Status::draft;
  view.deadline = kAt + Duration{10'000};
  view.total_duration = Duration{300'000};
  const auto draft = json::parse(state_message("u1", view, kAt));
  EXPECT_EQ(draft["status"], "draft");
  EXPECT_EQ(draft["duration"], 300);
  EXPECT_EQ(draft["remaining_time"], 10);
  EXPECT_EQ(draft["expires_at"], "2026-01-20T15:30:10.123Z");
}

TEST(JsonMessages, StatusBody) {
  std::string out;
  append_status_body(out, "u1", std::nullopt, kAt);
  auto body = json::parse(out);
  EXPECT_TRUE(body["status"].is_null());
  EXPECT_TRUE(body["position"].is_null());
  EXPECT_EQ(body["timestamp"], "2026-01-20T15:30:00.123Z");

  engine::UserView view;
  view.status = engine::Status::waiting;
  view.position = 3;
  view.estimated_wait = Duration{2'500};
  out.clear();
  append_status_body(out, "u1", view, kAt);
  body = json::parse(out);
  EXPECT_EQ(body["status"], "waiting");
  EXPECT_EQ(body["position"], 3);
  EXPECT_EQ(body["estimated_wait"], 3);
  EXPECT_TRUE(body["remaining_time"].is_null());

  view.status = engine::Status::connected;
  view.deadline = kAt + Duration{1'250};
  out.clear();
  append_status_body(out, "u1", view, kAt);
  body = json::parse(out);
  EXPECT_EQ(body["position"], -2);
  EXPECT_EQ(body["remaining_time"], 1.25);

  view.status = engine::Status::disconnected;
  view.reason = engine::Reason::left;
  out.clear();
  append_status_body(out, "u1", view, kAt);
  body = json::parse(out);
  EXPECT_EQ(body["reason"], "left");
  EXPECT_TRUE(body["position"].is_null());
}

TEST(JsonMessages, JoinBodyInTheSeedsKeyOrder) {
  engine::JoinResult result;
  result.after.status = engine::Status::waiting;
  result.after.position = 7;
  result.after.estimated_wait = Duration{60'001};
  std::string out;
  append_join_body(out, "u1", result, "v1.dTE.1.mac");
  EXPECT_EQ(out,
            "{\"user_id\":\"u1\",\"last_status\":null,\"last_position\":null,"
            "\"commit_status\":\"waiting\",\"commit_position\":7,\"estimated_wait\":61,"
            "\"ticket\":\"v1.dTE.1.mac\"}");

  // A repeated join while in draft; a rejoin after a disconnection has no last position.
  result.before = result.after;
  result.before->status = engine::Status::draft;
  result.after.status = engine::Status::draft;
  out.clear();
  append_join_body(out, "u1", result, "");
  auto body = json::parse(out);
  EXPECT_EQ(body["last_status"], "draft");
  EXPECT_EQ(body["last_position"], -1);
  EXPECT_EQ(body["commit_position"], -1);
  EXPECT_TRUE(body["ticket"].is_null());

  result.before->status = engine::Status::disconnected;
  out.clear();
  append_join_body(out, "u1", result, "");
  body = json::parse(out);
  EXPECT_EQ(body["last_status"], "disconnected");
  EXPECT_TRUE(body["last_position"].is_null());
}

}  // namespace
}  // namespace waitroom::http
