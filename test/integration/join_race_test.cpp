// Checks that the ticket check of a join is atomic with the join itself (API-CONTRACT.md
// "Identity"): when many connections join the same new user id at the same instant, exactly
// one gets a 200 with a ticket and every other one a 401 (it presented no credentials for an
// id that by then had a record); and the winning ticket then acts for the user.
// Several rounds, each on a fresh id, on a server with several I/O threads.
#include <latch>
#include <thread>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

constexpr int kConnections = 50;
constexpr int kRounds = 5;

class JoinRaceTest : public WaitroomTest {};

TEST_F(JoinRaceTest, SimultaneousJoinsOfANewIdGiveOneTicket) {
  WAITROOM_START_SERVER({"--threads", "4", "--max-active-users", "1000"});
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(new_client());
    // Connected before the round starts, so that the joins arrive together.
    ASSERT_EQ(clients.back()->health().status, 200);
  }
  for (int round = 0; round < kRounds; ++round) {
    const std::string user_id = "race-" + std::to_string(round);
    std::vector<HttpResponse> answers(kConnections);
    std::latch start(kConnections);
    std::vector<std::thread> threads;
    for (int i = 0; i < kConnections; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        answers[i] = clients[i]->join(user_id);
      });
    }
    for (auto& thread : threads) thread.join();

    int tickets = 0;
    std::string winner;
    for (const auto& answer : answers) {
      if (answer.status == 200) {
        ++tickets;
        winner = ticket_of(answer);
        EXPECT_FALSE(winner.empty()) << answer.describe();
      } else {
        // No credentials for an id that by then had a record.
        EXPECT_EQ(answer.status, 401) << answer.describe();
      }
    }
    ASSERT_EQ(tickets, 1) << "round " << round << ": one new id, one ticket";
    EXPECT_EQ(client().join(user_id, bearer(winner)).status, 200) << "round " << round;
    const auto confirmed = client().confirm(user_id, bearer(winner));
    EXPECT_EQ(confirmed.status, 200) << confirmed.describe();
    EXPECT_EQ(client().status(user_id).json().value("status", Json()), "connected");
  }
}

}  // namespace
}  // namespace waitroom::test
