// Checks that a join is idempotent and protected (DESIGN.md §2, API-CONTRACT.md
// "Identity"): a repeated join with the user's own ticket (header or cookie) keeps the same
// place; a join of an existing id without credentials is refused with 401 (and
// WWW-Authenticate: Bearer), with another user's ticket with 403, and neither changes the
// queue; the backend API key may join for any user. The join answer sets the ticket
// cookie.
#include <thread>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

class RejoinTest : public WaitroomTest {
 protected:
  void expect_queue(const std::string& context) {
    EXPECT_EQ(client().status("holder").json().value("status", Json()), "draft") << context;
    EXPECT_EQ(client().status("first").json().value("position", Json()), 1) << context;
    EXPECT_EQ(client().status("second").json().value("position", Json()), 2) << context;
    EXPECT_EQ(client().metrics().json().value("waiting_users", Json()), 2) << context;
  }
};

TEST_F(RejoinTest, RepeatedJoinKeepsThePlaceAndNeedsTheTicket) {
  WAITROOM_START_SERVER({"--max-active-users", "1", "--api-key", kApiKey});
  const auto holder = client().join("holder");
  ASSERT_EQ(holder.status, 200) << holder.describe();
  const auto first = client().join("first");
  ASSERT_EQ(first.status, 200) << first.describe();
  const auto second = client().join("second");
  ASSERT_EQ(second.status, 200) << second.describe();
  const std::string first_ticket = ticket_of(first);
  const std::string second_ticket = ticket_of(second);
  ASSERT_FALSE(first_ticket.empty()) << first.describe();

  // The ticket cookie of the contract.
  const auto cookie = first.header("Set-Cookie");
  ASSERT_TRUE(cookie) << "join sets the ticket cookie";
  EXPECT_EQ(cookie->rfind("waitroom_ticket=" + first_ticket, 0), 0u) << *cookie;
  EXPECT_NE(cookie->find("Path=/"), std::string::npos) << *cookie;
  EXPECT_NE(cookie->find("HttpOnly"), std::string::npos) << *cookie;
  EXPECT_NE(cookie->find("SameSite=Lax"), std::string::npos) << *cookie;
  EXPECT_EQ(cookie->find("Secure;"), std::string::npos) << "no Secure over plain HTTP: " << *cookie;
  expect_queue("after the joins");

  // Repeats with the user's own ticket, as a header and as the cookie.
  for (const Headers& auth : {bearer(first_ticket), ticket_cookie(first_ticket)}) {
    const auto again = client().join("first", auth);
    ASSERT_EQ(again.status, 200) << again.describe();
    Json json = again.json();
    EXPECT_EQ(json["last_status"], "waiting") << again.describe();
    EXPECT_EQ(json["last_position"], 1) << again.describe();
    EXPECT_EQ(json["commit_status"], "waiting") << again.describe();
    EXPECT_EQ(json["commit_position"], 1) << again.describe();
    expect_queue("after a repeated join with the ticket");
  }

  // Without credentials: 401 and nothing changes.
  const auto anonymous = client().join("first");
  EXPECT_EQ(anonymous.status, 401) << anonymous.describe();
  EXPECT_TRUE(anonymous.json().contains("detail")) << anonymous.describe();
  const auto challenge = anonymous.header("WWW-Authenticate");
  EXPECT_TRUE(challenge && challenge->find("Bearer") != std::string::npos)
      << "401 carries WWW-Authenticate: Bearer";
  expect_queue("after an anonymous join of an existing id");

  // With another user's ticket: 403 and nothing changes.
  const auto impostor = client().join("first", bearer(second_ticket));
  EXPECT_EQ(impostor.status, 403) << impostor.describe();
  EXPECT_TRUE(impostor.json().contains("detail")) << impostor.describe();
  expect_queue("after a join with another user's ticket");

  // The holder's draft is not taken by an anonymous join either.
  EXPECT_EQ(client().join("holder").status, 401);
  expect_queue("after an anonymous join of the draft holder");

  // The backend key may act for any user; it keeps the place too.
  const auto backend = client().join("second", bearer(kApiKey));
  ASSERT_EQ(backend.status, 200) << backend.describe();
  EXPECT_EQ(backend.json()["commit_position"], 2) << backend.describe();
  expect_queue("after a join with the API key");

  // A new id needs no credentials and goes to the back.
  const auto third = client().join("third");
  ASSERT_EQ(third.status, 200) << third.describe();
  EXPECT_EQ(third.json()["commit_position"], 3) << third.describe();
}

TEST_F(RejoinTest, RejoinAfterLeavingGoesToTheBackWithTheTicket) {
  WAITROOM_START_SERVER({"--max-active-users", "1"});
  ASSERT_EQ(client().join("holder").status, 200);
  const auto first = client().join("first");
  const auto second = client().join("second");
  ASSERT_EQ(second.status, 200);
  const std::string ticket = ticket_of(first);
  const auto left = client().leave("first", bearer(ticket));
  ASSERT_EQ(left.status, 200) << left.describe();
  EXPECT_EQ(client().status("second").json().value("position", Json()), 1);
  // The record of "first" still exists: rejoining needs its ticket.
  EXPECT_EQ(client().join("first").status, 401);
  const auto back = client().join("first", bearer(ticket));
  ASSERT_EQ(back.status, 200) << back.describe();
  Json json = back.json();
  EXPECT_EQ(json["last_status"], "disconnected") << back.describe();
  EXPECT_EQ(json["commit_status"], "waiting") << back.describe();
  EXPECT_EQ(json["commit_position"], 2) << back.describe();
}

TEST_F(RejoinTest, ForgottenIdIsFreeAgainAndOldTicketsStopWorking) {
  WAITROOM_START_SERVER({"--disconnected-retention", "300ms"});
  const std::string old_ticket = ticket_of(client().join("reused"));
  ASSERT_EQ(client().leave("reused", bearer(old_ticket)).status, 200);
  ASSERT_TRUE(wait_until_forgotten(client(), "reused"))
      << "the disconnected record was never forgotten";
  const auto fresh = client().join("reused");
  ASSERT_EQ(fresh.status, 200) << "a forgotten id needs no ticket: " << fresh.describe();
  EXPECT_TRUE(fresh.json()["last_status"].is_null()) << fresh.describe();
  const std::string new_ticket = ticket_of(fresh);
  EXPECT_NE(new_ticket, old_ticket);
  const auto stale = client().confirm("reused", bearer(old_ticket));
  EXPECT_EQ(stale.status, 403) << "a ticket of an older generation: " << stale.describe();
  EXPECT_EQ(client().confirm("reused", bearer(new_ticket)).status, 200);
}

TEST_F(RejoinTest, CookieIsSecureBehindHttps) {
  WAITROOM_START_SERVER({});
  const auto joined = client().post("/queue/join/secure", "", {{"X-Forwarded-Proto", "https"}});
  ASSERT_EQ(joined.status, 200) << joined.describe();
  const auto cookie = joined.header("Set-Cookie");
  ASSERT_TRUE(cookie);
  EXPECT_NE(cookie->find("Secure"), std::string::npos) << *cookie;
}

}  // namespace
}  // namespace waitroom::test
