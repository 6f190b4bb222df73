// Checks identity and trust (DESIGN.md §3, API-CONTRACT.md "Identity"): confirm, leave,
// heartbeat (both forms), the SSE stream and the WebSocket refuse a request without
// credentials (401 + WWW-Authenticate: Bearer) and with another user's ticket (403), and
// such refusals change nothing; the user's ticket (header or cookie) and the backend API
// key are accepted; the admin token does not act as a user; admin routes need the admin
// token; --auth-mode open needs no ticket at all. With --trusted-user-header, an invalid
// value in it is refused (400) on every route that acts, and present, it lets its caller
// act on its own id only (403 on any other, whatever ticket comes with it).
#include <cctype>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;

class AuthTest : public WaitroomTest {
 protected:
  void SetUp() override {}

  std::string owner_ticket_;
  std::string other_ticket_;

  void join_two() {
    const auto owner = client().join("owner");
    ASSERT_EQ(owner.json().value("commit_status", Json()), "draft") << owner.describe();
    const auto other = client().join("other");
    ASSERT_EQ(other.json().value("commit_status", Json()), "waiting") << other.describe();
    owner_ticket_ = ticket_of(owner);
    other_ticket_ = ticket_of(other);
    ASSERT_FALSE(owner_ticket_.empty());
    ASSERT_FALSE(other_ticket_.empty());
  }

  void expect_unchanged(const std::string& context) {
    EXPECT_EQ(client().status("owner").json().value("status", Json()), "draft") << context;
    EXPECT_EQ(client().status("other").json().value("position", Json()), 1) << context;
  }

  static void expect_refused(const HttpResponse& response, int status, const std::string& what) {
    EXPECT_EQ(response.status, status) << what << ": " << response.describe();
    EXPECT_TRUE(response.json().contains("detail")) << what << ": " << response.describe();
    if (status == 401) {
      const auto challenge = response.header("WWW-Authenticate");
      EXPECT_TRUE(challenge && challenge->find("Bearer") != std::string::npos)
          << what << ": 401 without WWW-Authenticate: Bearer";
    }
  }

  void expect_refused_everywhere(const Headers& auth, int status, const std::string& label) {
    expect_refused(client().confirm("owner", auth), status, "confirm " + label);
    expect_refused(client().leave("owner", auth), status, "leave " + label);
    expect_refused(client().heartbeat("owner", auth), status, "heartbeat " + label);
    expect_refused(client().post("/queue/heartbeat", R"({"user_id":"owner"})", auth), status,
                   "heartbeat (body) " + label);
    SseStream sse(port(), "owner", auth);
    EXPECT_FALSE(sse.is_open()) << "events " << label;
    expect_refused(sse.response(), status, "events " + label);
    WsClient ws(port(), "owner", auth);
    EXPECT_FALSE(ws.is_open()) << "ws " << label;
    EXPECT_EQ(ws.status(), status) << "ws " << label;
    expect_unchanged("after refused requests " + label);
  }
};

TEST_F(AuthTest, UserRoutesNeedTheUsersOwnTicket) {
  WAITROOM_START_SERVER(
      {"--max-active-users", "1", "--api-key", kApiKey, "--admin-token", kAdminToken});
  ASSERT_NO_FATAL_FAILURE(join_two());

  expect_refused_everywhere({}, 401, "without credentials");
  expect_refused_everywhere(bearer(other_ticket_), 403, "with another user's ticket");
  expect_refused_everywhere(ticket_cookie(other_ticket_), 403, "with another user's cookie");

  // A forged or garbled ticket, and the admin token (which is not a user credential).
  for (const auto& [label, token] : std::vector<std::pair<std::string, std::string>>{
           {"garbage", "not-a-ticket"},
           {"tampered", owner_ticket_.substr(0, owner_ticket_.size() - 2) +
                            (owner_ticket_.back() == 'A' ? "BB" : "AA")},
           {"admin token", kAdminToken}}) {
    const auto confirm = client().confirm("owner", bearer(token));
    EXPECT_TRUE(confirm.status == 401 || confirm.status == 403)
        << label << ": " << confirm.describe();
  }
  expect_unchanged("after forged credentials");

  // The owner's own credentials work: the events stream, then confirm with the cookie.
  SseStream own(port(), "owner", bearer(owner_ticket_));
  EXPECT_TRUE(own.is_open()) << own.response().describe();
  WsClient own_ws(port(), "owner", ticket_cookie(owner_ticket_));
  EXPECT_TRUE(own_ws.is_open()) << own_ws.response().describe();
  const auto confirm = client().confirm("owner", ticket_cookie(owner_ticket_));
  EXPECT_EQ(confirm.status, 200) << confirm.describe();
  EXPECT_EQ(client().heartbeat("owner", bearer(owner_ticket_)).status, 200);

  // The backend key acts for any user.
  EXPECT_EQ(client().heartbeat("owner", bearer(kApiKey)).status, 200);
  SseStream backend(port(), "other", bearer(kApiKey));
  EXPECT_TRUE(backend.is_open()) << backend.response().describe();
  const auto leave = client().leave("other", bearer(kApiKey));
  EXPECT_EQ(leave.status, 200) << leave.describe();
  EXPECT_EQ(leave.json().value("previous_status", Json()), "waiting") << leave.describe();
}

TEST_F(AuthTest, AdminRoutesAreOffWithoutAnAdminToken) {
  WAITROOM_START_SERVER({"--api-key", kApiKey});
  for (const auto& auth : std::vector<Headers>{{}, bearer(kApiKey), bearer("anything")}) {
    const auto users = client().get("/queue/get_users", auth);
    EXPECT_EQ(users.status, 403) << users.describe();
    EXPECT_NE(users.json().value("detail", "").find("ADMIN_TOKEN"), std::string::npos)
        << users.describe();
  }
}

TEST_F(AuthTest, AdminRoutesNeedTheAdminToken) {
  WAITROOM_START_SERVER({"--api-key", kApiKey, "--admin-token", kAdminToken});
  const auto joined = client().join("someone");
  const std::string ticket = ticket_of(joined);
  for (const auto& [label, auth] : std::vector<std::pair<std::string, Headers>>{
           {"no token", {}},
           {"a user's ticket", bearer(ticket)},
           {"the API key", bearer(kApiKey)},
           {"a wrong token", bearer("wrong-admin-token")}}) {
    const auto users = client().get("/queue/get_users", auth);
    const bool without_token = auth.empty();
    EXPECT_EQ(users.status, without_token ? 401 : 403) << label << ": " << users.describe();
    EXPECT_NE(users.json()
                  .value("detail", "")
                  .find(without_token ? "admin token required" : "wrong admin token"),
              std::string::npos)
        << label << ": " << users.describe();
    const auto kick = client().post("/queue/admin/kick/someone", "", auth);
    EXPECT_TRUE(kick.status == 401 || kick.status == 403) << label << ": " << kick.describe();
    const auto pause = client().post("/queue/admin/pause", "", auth);
    EXPECT_TRUE(pause.status == 401 || pause.status == 403) << label << ": " << pause.describe();
  }
  EXPECT_EQ(client().status("someone").json().value("status", Json()), "draft");
  EXPECT_EQ(client().metrics().json().value("paused", Json()), false);

  const auto users = client().get("/queue/get_users", bearer(kAdminToken));
  ASSERT_EQ(users.status, 200) << users.describe();
  Json json = users.json();
  EXPECT_EQ(json["draft_users"], Json::array({"someone"})) << users.describe();
  EXPECT_EQ(json["waiting_users"], Json::array()) << users.describe();
  EXPECT_EQ(json["active_users"], Json::array()) << users.describe();

  const auto kick = client().post("/queue/admin/kick/someone", "", bearer(kAdminToken));
  ASSERT_EQ(kick.status, 200) << kick.describe();
  EXPECT_EQ(kick.json().value("previous_status", Json()), "draft") << kick.describe();
  Json status = client().status("someone").json();
  EXPECT_EQ(status["status"], "disconnected") << status.dump();
  EXPECT_EQ(status["reason"], "kicked") << status.dump();
}

TEST_F(AuthTest, TheTrustedHeaderActsOnItsOwnIdOnly) {
  WAITROOM_START_SERVER({"--trusted-user-header", "X-Forwarded-Email", "--max-active-users", "1",
                         "--api-key", kApiKey});
  ASSERT_NO_FATAL_FAILURE(join_two());  // owner (draft) and other (waiting), with tickets
  const Headers bad = {{"X-Forwarded-Email", "bad id"}};
  const Headers alice = {{"X-Forwarded-Email", "alice@example.com"}};

  // An invalid value is refused, not ignored (which made its caller anonymous).
  const auto bad_join = client().join("dave", bad);
  EXPECT_EQ(bad_join.status, 400) << bad_join.describe();
  EXPECT_NE(bad_join.json().value("detail", "").find("X-Forwarded-Email"), std::string::npos)
      << bad_join.describe();
  EXPECT_EQ(client().status("dave").json().value("status", Json()), nullptr) << "dave joined";
  Headers bad_with_ticket = bad;
  bad_with_ticket.emplace_back("Authorization", "Bearer " + owner_ticket_);
  expect_refused_everywhere(bad_with_ticket, 400, "with an invalid trusted header");
  EXPECT_EQ(client().get("/queue/me", bad).status, 400);

  // Present, it acts on its own id only: one account, one place.
  const auto other_join = client().join("dave", alice);
  EXPECT_EQ(other_join.status, 403) << other_join.describe();
  EXPECT_EQ(client().status("dave").json().value("status", Json()), nullptr) << "dave joined";
  Headers alice_with_owner_ticket = alice;
  alice_with_owner_ticket.emplace_back("Authorization", "Bearer " + owner_ticket_);
  expect_refused_everywhere(alice_with_owner_ticket, 403, "with another id in the trusted header");
  const auto own = client().join("alice@example.com", alice);
  ASSERT_EQ(own.status, 200) << own.describe();
  EXPECT_EQ(client().leave("alice@example.com", alice).status, 200);
  // The public routes stay public, and the backend key still acts for anyone.
  EXPECT_EQ(client().get("/queue/status/owner", alice).status, 200);
  Headers alice_with_key = alice;
  alice_with_key.emplace_back("Authorization", std::string("Bearer ") + kApiKey);
  EXPECT_EQ(client().leave("other", alice_with_key).status, 200);
}

TEST_F(AuthTest, OpenModeNeedsNoTickets) {
  WAITROOM_START_SERVER({"--auth-mode", "open", "--max-active-users", "1"});
  const auto joined = client().join("seed-client");
  ASSERT_EQ(joined.status, 200) << joined.describe();
  EXPECT_TRUE(ticket_of(joined).empty()) << "open mode issues no ticket: " << joined.describe();
  SseStream stream(port(), "seed-client");
  ASSERT_TRUE(stream.is_open()) << stream.response().describe();
  WsClient ws(port(), "seed-client");
  ASSERT_TRUE(ws.is_open()) << ws.response().describe();
  EXPECT_EQ(client().confirm("seed-client").status, 200);
  EXPECT_EQ(client().heartbeat("seed-client").status, 200);
  EXPECT_EQ(client().join("seed-client").status, 200) << "repeat join without a ticket";
  EXPECT_EQ(client().leave("seed-client").status, 200);
  ASSERT_TRUE(stream.wait_for(has_status_reason("disconnected", "left"), 5s));

  // The server warns that it runs without tickets.
  std::string logs = server().stderr_text(1 << 20) + server().stdout_text();
  for (auto& c : logs) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_NE(logs.find("open"), std::string::npos) << "no start-up warning about open mode";
}

}  // namespace
}  // namespace waitroom::test
