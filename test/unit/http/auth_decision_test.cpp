// Checks who a request acts as (the Actor built from its credentials) and what follows once
// the store checks it against a record (allow / 401 / 403), admin decisions, credential
// parsing from the Cookie and Authorization headers, and the ticket cookie.
#include <gtest/gtest.h>

#include "http/auth.hpp"

namespace waitroom::http {
namespace {

Credentials bearer(std::string_view token) {
  Credentials credentials;
  credentials.bearer = token;
  return credentials;
}

Credentials cookie(std::string_view ticket) {
  Credentials credentials;
  credentials.cookie_ticket = ticket;
  return credentials;
}

class AuthDecisionTest : public ::testing::Test {
 protected:
  auth::TicketSigner signer_{std::string(32, 's')};
  AuthPolicy policy_{
      .open = false, .api_key = "backend-key", .admin_token = "admin-token", .signer = &signer_};

  // What the caller gets when the store checks its actor against a record of `generation`
  // (nullopt: the id is unknown).
  AuthDecision decide(const Credentials& credentials, std::string_view user_id,
                      std::optional<std::uint64_t> generation) const {
    const auto actor = actor_for(policy_, credentials, user_id);
    return actor.may_act_on(generation) ? AuthDecision::allow : refusal_of(actor);
  }
};

TEST_F(AuthDecisionTest, NoCredentialsIsUnauthorized) {
  EXPECT_EQ(decide({}, "u1", 1), AuthDecision::unauthorized);
  EXPECT_EQ(decide(bearer("garbage"), "u1", 1), AuthDecision::unauthorized);
}

TEST_F(AuthDecisionTest, OwnTicketAllows) {
  const auto ticket = signer_.issue("u1", 3);
  EXPECT_EQ(decide(cookie(ticket), "u1", 3), AuthDecision::allow);
  EXPECT_EQ(decide(bearer(ticket), "u1", 3), AuthDecision::allow);
  // Unknown record: a valid ticket for the id is accepted (the operation then answers).
  EXPECT_EQ(decide(bearer(ticket), "u1", std::nullopt), AuthDecision::allow);
}

TEST_F(AuthDecisionTest, OtherUserOrOlderGenerationIsForbidden) {
  EXPECT_EQ(decide(bearer(signer_.issue("u2", 3)), "u1", 3), AuthDecision::forbidden);
  EXPECT_EQ(decide(cookie(signer_.issue("u1", 2)), "u1", 3), AuthDecision::forbidden);
}

TEST_F(AuthDecisionTest, AnyAuthorisingCredentialWins) {
  const auto own = signer_.issue("u1", 3);
  const auto other = signer_.issue("u2", 1);
  Credentials both = cookie(own);
  both.bearer = other;
  EXPECT_EQ(decide(both, "u1", 3), AuthDecision::allow);
}

TEST_F(AuthDecisionTest, ApiKeyActsForAnyoneAdminTokenForNobody) {
  EXPECT_EQ(decide(bearer("backend-key"), "anyone", 7), AuthDecision::allow);
  EXPECT_EQ(decide(bearer("admin-token"), "u1", 1), AuthDecision::forbidden);
}

TEST_F(AuthDecisionTest, OpenModeAllowsEverything) {
  policy_.open = true;
  EXPECT_EQ(decide({}, "u1", 1), AuthDecision::allow);
}

TEST_F(AuthDecisionTest, AdminNeedsTheAdminToken) {
  EXPECT_EQ(authorize_admin(policy_, {}), AuthDecision::unauthorized);
  EXPECT_EQ(authorize_admin(policy_, bearer("backend-key")), AuthDecision::forbidden);
  EXPECT_EQ(authorize_admin(policy_, bearer("admin-token")), AuthDecision::allow);
  policy_.admin_token.clear();
  EXPECT_EQ(authorize_admin(policy_, bearer("")), AuthDecision::unauthorized);
  EXPECT_EQ(authorize_admin(policy_, bearer("x")), AuthDecision::forbidden);
}

TEST(Credentials, ParsesCookieAndBearer) {
  auto credentials =
      parse_credentials("a=1; waitroom_ticket=v1.abc.1.sig ; b=2", "Bearer  token-value ");
  EXPECT_EQ(credentials.cookie_ticket, "v1.abc.1.sig");
  EXPECT_EQ(credentials.bearer, "token-value");
  credentials = parse_credentials("", "bearer x");
  EXPECT_EQ(credentials.bearer, "x");
  credentials = parse_credentials("other=1", "Basic abc");
  EXPECT_TRUE(credentials.cookie_ticket.empty());
  EXPECT_TRUE(credentials.bearer.empty());
  EXPECT_EQ(find_cookie("x_waitroom_ticket=1; waitroom_ticket=\"q\"", "waitroom_ticket"), "q");
}

TEST(Credentials, TicketCookie) {
  EXPECT_EQ(ticket_cookie("T", false), "waitroom_ticket=T; Path=/; HttpOnly; SameSite=Lax");
  EXPECT_EQ(ticket_cookie("T", true), "waitroom_ticket=T; Path=/; HttpOnly; SameSite=Lax; Secure");
}

}  // namespace
}  // namespace waitroom::http
