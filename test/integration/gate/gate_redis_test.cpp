// The gate on the Redis store (issues 3 and 6): two `waitroom serve --store redis --upstream`
// instances on one Redis, in front of the node upstream app.
// - A session that ends on one instance (an admin kick answered by B) closes the tunnelled
//   WebSocket and the in-flight stream that the other instance (A) carries for that user,
//   within a second: A hears of it only through its subscription to the user's channel.
// - A user admitted on one instance is proxied by the other (one room, one ticket secret).
// - While Redis is down, the gate cannot tell who holds a slot: a proxied request is
//   answered 503 with Retry-After at once, never a hang, and the service comes back with
//   Redis.
#include "gate/gate_fixture.hpp"
#include "harness/push_stream.hpp"
#include "harness/redis_room_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kPrefix = "/_waitroom";

class GateRedisTest : public RedisRoomTest {
 protected:
  void SetUp() override {
    upstream_ = std::make_unique<UpstreamApp>(upstream_log_.path() / "upstream-stderr.log");
    // AOF on: the room must still be there when Redis comes back.
    start_redis({.append_only = true});
  }

  std::size_t start_gate() {
    return start_instance({"--upstream", upstream_->url(), "--max-active-users", "2"});
  }

  // Joins and confirms `user_id` through the prefixed API of `instance`; the Cookie value.
  std::string admit(std::size_t instance, const std::string& user_id) {
    const auto joined = client(instance).post(std::string(kPrefix) + "/queue/join/" + user_id);
    EXPECT_EQ(joined.status, 200) << joined.describe();
    const std::string value = "waitroom_ticket=" + ticket_of(joined);
    const auto confirmed = client(instance).post(std::string(kPrefix) + "/queue/confirm/" + user_id,
                                                 {}, {{"Cookie", value}});
    EXPECT_EQ(confirmed.status, 200) << confirmed.describe();
    return value;
  }

 private:
  TempDir upstream_log_{"waitroom-upstream"};
  std::unique_ptr<UpstreamApp> upstream_;
};

TEST_F(GateRedisTest, ASessionEndedOnOneInstanceClosesTheTrafficOfTheOther) {
  const auto a = start_gate();
  const auto b = start_gate();
  ASSERT_FALSE(HasFailure());
  const Headers me = {{"Cookie", admit(a, "alice")}};

  // Admitted on A, proxied by B as well.
  EXPECT_EQ(client(b).get("/api/data", me).status, 200);

  RawWebSocket tunnel(port(a), "/ws/echo", me);
  ASSERT_TRUE(tunnel.is_open()) << tunnel.error();
  ASSERT_TRUE(tunnel.send("ping"));
  EXPECT_EQ(tunnel.receive(3s).value_or("(nothing)"), "ping");
  auto tokens = SseStream::open_target(port(a), "/api/chat/completions?tokens=500&interval=50", me);
  ASSERT_TRUE(tokens->is_open()) << tokens->response().describe();
  ASSERT_TRUE(tokens->next_message(3s));

  const auto kicked_at = SteadyClock::now();
  const auto kicked =
      client(b).post(std::string(kPrefix) + "/queue/admin/kick/alice", {}, bearer(kAdminToken));
  ASSERT_EQ(kicked.status, 200) << kicked.describe();
  const auto after = tunnel.receive(3s);
  EXPECT_FALSE(after) << "the tunnel still carries " << *after;
  EXPECT_FALSE(tunnel.timed_out()) << "instance A did not close the tunnel";
  EXPECT_TRUE(tokens->wait_closed(2s)) << "the stream on A went on after the session ended";
  EXPECT_LT(SteadyClock::now() - kicked_at, 1s);
  EXPECT_EQ(client(a).get("/api/data", me).status, 429);
}

TEST_F(GateRedisTest, RedisDownIsA503ForProxiedRequestsUntilItComesBack) {
  const auto a = start_gate();
  ASSERT_FALSE(HasFailure());
  const Headers me = {{"Cookie", admit(a, "alice")}};
  ASSERT_EQ(client(a).get("/api/data", me).status, 200);

  redis().stop();
  const auto asked_at = SteadyClock::now();
  const auto refused = client(a).get("/api/data", me);
  EXPECT_EQ(refused.status, 503) << refused.describe();
  EXPECT_TRUE(refused.header("Retry-After").has_value());
  EXPECT_EQ(refused.json().value("detail", Json()).is_string(), true) << refused.describe();
  // Refused Redis connections fail at once; REDIS_TIMEOUT (2 s) bounds a silent one.
  EXPECT_LT(SteadyClock::now() - asked_at, 3s);

  redis().start();
  ASSERT_TRUE(wait_healthy(client(a), 10s, kPrefix)) << "instance A did not come back with Redis";
  EXPECT_EQ(client(a).get("/api/data", me).status, 200);
}

}  // namespace
}  // namespace waitroom::test
