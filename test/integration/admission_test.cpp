// Checks admission at the cap (DESIGN.md §2): with --max-active-users 50, 60 joins give
// 50 drafts (commit_status "draft", commit_position -1) and 10 waiting users at positions
// 1..10 in join order, in the join answers and on the status route; confirming moves a
// draft to connected (position -2) and /queue/metrics counts the same thing.
#include <cstdio>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

std::string user_name(int index) {
  char name[16];
  std::snprintf(name, sizeof name, "user-%02d", index);
  return name;
}

class AdmissionTest : public WaitroomTest {};

TEST_F(AdmissionTest, CapFiftyWithSixtyJoinsGivesFiftyDraftsAndPositionsOneToTen) {
  WAITROOM_START_SERVER({"--max-active-users", "50"});
  std::vector<std::string> tickets;
  for (int i = 0; i < 60; ++i) {
    const std::string id = user_name(i);
    const auto response = client().join(id);
    ASSERT_EQ(response.status, 200) << id << ": " << response.describe();
    EXPECT_EQ(response.header("Content-Type"), "application/json");
    Json json = response.json();
    ASSERT_TRUE(json.is_object()) << response.describe();
    EXPECT_EQ(json["user_id"], id);
    EXPECT_TRUE(json["last_status"].is_null()) << response.describe();
    EXPECT_TRUE(json["last_position"].is_null()) << response.describe();
    EXPECT_TRUE(json["estimated_wait"].is_number()) << response.describe();
    if (i < 50) {
      EXPECT_EQ(json["commit_status"], "draft") << response.describe();
      EXPECT_EQ(json["commit_position"], -1) << response.describe();
    } else {
      EXPECT_EQ(json["commit_status"], "waiting") << response.describe();
      EXPECT_EQ(json["commit_position"], i - 49) << response.describe();
    }
    tickets.push_back(ticket_of(response));
    EXPECT_FALSE(tickets.back().empty()) << "join answers a ticket: " << response.describe();
  }

  for (int i = 0; i < 60; ++i) {
    const std::string id = user_name(i);
    const auto response = client().status(id);
    ASSERT_EQ(response.status, 200) << response.describe();
    Json json = response.json();
    EXPECT_EQ(json["user_id"], id);
    EXPECT_TRUE(json.contains("timestamp")) << response.describe();
    if (i < 50) {
      EXPECT_EQ(json["status"], "draft") << response.describe();
      EXPECT_EQ(json["position"], -1) << response.describe();
      ASSERT_TRUE(json["remaining_time"].is_number()) << response.describe();
      EXPECT_GT(json["remaining_time"].get<double>(), 0);
      EXPECT_LE(json["remaining_time"].get<double>(), 300);
    } else {
      EXPECT_EQ(json["status"], "waiting") << response.describe();
      EXPECT_EQ(json["position"], i - 49) << response.describe();
      EXPECT_TRUE(json["remaining_time"].is_null()) << response.describe();
      EXPECT_TRUE(json["estimated_wait"].is_number()) << response.describe();
    }
  }

  auto metrics = client().metrics().json();
  EXPECT_EQ(metrics["draft_users"], 50) << metrics.dump();
  EXPECT_EQ(metrics["active_users"], 0) << metrics.dump();
  EXPECT_EQ(metrics["waiting_users"], 10) << metrics.dump();
  EXPECT_EQ(metrics["total_slots"], 50) << metrics.dump();
  EXPECT_EQ(metrics["available_slots"], 0) << metrics.dump();
  EXPECT_EQ(metrics["total_joins"], 60) << metrics.dump();

  // Confirming five drafts changes their state, not the queue.
  for (int i = 0; i < 5; ++i) {
    const auto confirmed = client().confirm(user_name(i), bearer(tickets[i]));
    ASSERT_EQ(confirmed.status, 200) << confirmed.describe();
    Json json = confirmed.json();
    EXPECT_EQ(json["status"], "success") << confirmed.describe();
    EXPECT_EQ(json["session_duration"], 1200) << confirmed.describe();
    const auto status = client().status(user_name(i)).json();
    EXPECT_EQ(status.value("status", Json()), "connected") << status.dump();
    EXPECT_EQ(status.value("position", Json()), -2) << status.dump();
  }
  metrics = client().metrics().json();
  EXPECT_EQ(metrics["active_users"], 5) << metrics.dump();
  EXPECT_EQ(metrics["draft_users"], 45) << metrics.dump();
  EXPECT_EQ(metrics["waiting_users"], 10) << metrics.dump();
  EXPECT_EQ(metrics["total_admissions"], 5) << metrics.dump();
  EXPECT_EQ(client().status(user_name(59)).json().value("position", Json()), 10);
}

}  // namespace
}  // namespace waitroom::test
