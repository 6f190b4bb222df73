// Checks durability of the embedded store (DESIGN.md §5): after kill -9 and after a
// SIGTERM, a restart on the same data directory keeps every place in the queue, every
// state and the tickets (the secret lives in the data directory), and the queue goes on
// from there.
#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

class RestartTest : public WaitroomTest {
 protected:
  void check_restart(bool graceful) {
    WAITROOM_START_SERVER({"--max-active-users", "1"});
    const std::string holder = ticket_of(client().join("holder"));
    ASSERT_EQ(client().confirm("holder", bearer(holder)).status, 200);
    std::vector<std::string> tickets;
    for (int i = 1; i <= 5; ++i)
      tickets.push_back(ticket_of(client().join("w" + std::to_string(i))));
    ASSERT_EQ(client().leave("w2", bearer(tickets[1])).status, 200);

    restart_server(graceful);
    if (HasFatalFailure()) return;

    Json status = client().status("holder").json();
    EXPECT_EQ(status["status"], "connected") << status.dump();
    ASSERT_TRUE(status["remaining_time"].is_number()) << status.dump();
    EXPECT_LE(status["remaining_time"].get<double>(), 1200.0);
    EXPECT_EQ(client().status("w1").json().value("position", Json()), 1);
    EXPECT_EQ(client().status("w3").json().value("position", Json()), 2);
    EXPECT_EQ(client().status("w4").json().value("position", Json()), 3);
    EXPECT_EQ(client().status("w5").json().value("position", Json()), 4);
    EXPECT_EQ(client().status("w2").json().value("status", Json()), "disconnected");
    Json metrics = client().metrics().json();
    EXPECT_EQ(metrics["active_users"], 1) << metrics.dump();
    EXPECT_EQ(metrics["waiting_users"], 4) << metrics.dump();

    // The old tickets still work, and nobody else's do.
    EXPECT_EQ(client().join("w3", bearer(tickets[0])).status, 403);
    ASSERT_EQ(client().leave("holder", bearer(holder)).status, 200);
    EXPECT_EQ(client().status("w1").json().value("status", Json()), "draft");
    EXPECT_EQ(client().confirm("w1", bearer(tickets[0])).status, 200);
    EXPECT_EQ(client().status("w5").json().value("position", Json()), 3);
  }
};

TEST_F(RestartTest, KillNineLosesNothing) {
  check_restart(false);
}

TEST_F(RestartTest, SigtermRestartLosesNothing) {
  check_restart(true);
}

}  // namespace
}  // namespace waitroom::test
