// Checks the session timer (DESIGN.md §2): a connected user is disconnected with reason
// session_timeout after --session-duration (SSE `disconnected` notification, status route),
// and the freed slot is offered at once to the next waiting user, whose stream gets the
// draft.
#include <iostream>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class SessionTimeoutTest : public WaitroomTest {};

TEST_F(SessionTimeoutTest, SessionTimeoutDisconnectsAndAdmitsTheNext) {
  WAITROOM_START_SERVER(
      {"--max-active-users", "1", "--session-duration", "1s", "--expiring-soon", "0"});
  const auto joined = client().join("user");
  const std::string ticket = ticket_of(joined);
  const auto confirmed_at = Clock::now();
  const auto confirmed = client().confirm("user", bearer(ticket));
  ASSERT_EQ(confirmed.status, 200) << confirmed.describe();
  Json answer = confirmed.json();
  EXPECT_EQ(answer["status"], "success") << confirmed.describe();
  EXPECT_EQ(answer["user_id"], "user") << confirmed.describe();
  EXPECT_EQ(answer["session_duration"], 1) << confirmed.describe();
  EXPECT_TRUE(answer["expires_at"].is_string()) << confirmed.describe();
  ASSERT_TRUE(answer["remaining_time"].is_number()) << confirmed.describe();
  EXPECT_LE(answer["remaining_time"].get<double>(), 1.0);

  const auto waiting = client().join("next");
  ASSERT_EQ(waiting.json().value("commit_position", Json()), 1) << waiting.describe();
  SseStream user_stream(port(), "user", bearer(ticket));
  SseStream next_stream(port(), "next", bearer(ticket_of(waiting)));
  const auto user_first = user_stream.next_event(5s);
  ASSERT_TRUE(user_first);
  EXPECT_EQ(user_first->value("status", Json()), "connected") << user_first->dump();

  const auto ended = user_stream.wait_for(has_status("disconnected"), 5s);
  ASSERT_TRUE(ended) << "no session_timeout notification";
  EXPECT_EQ(ended->json.value("reason", Json()), "session_timeout") << ended->json.dump();
  const auto session = ended->received_at - confirmed_at;
  EXPECT_GE(session, 950ms) << "the session ended early";
  EXPECT_LT(session, 2500ms) << "the session ended late";

  const auto draft = next_stream.wait_for(has_status("draft"), 5s);
  ASSERT_TRUE(draft) << "the next user was not admitted";
  std::cout
      << "[ measure ] session end -> next user's draft: "
      << std::chrono::duration<double, std::milli>(draft->received_at - ended->received_at).count()
      << " ms (between two streams' arrivals)\n";

  Json status = client().status("user").json();
  EXPECT_EQ(status["status"], "disconnected") << status.dump();
  EXPECT_EQ(status["reason"], "session_timeout") << status.dump();
  EXPECT_EQ(client().status("next").json().value("status", Json()), "draft");
  Json metrics = client().metrics().json();
  EXPECT_EQ(metrics["active_users"], 0) << metrics.dump();
  EXPECT_EQ(metrics["draft_users"], 1) << metrics.dump();
  // A heartbeat cannot bring the session back.
  EXPECT_EQ(client().heartbeat("user", bearer(ticket)).status, 404);
}

}  // namespace
}  // namespace waitroom::test
