// The Redis store with several waitroom instances on one Redis (issue 6, DESIGN.md §5):
// - a user joins on one instance and confirms, leaves or watches on another (one ticket
//   secret), and a notification reaches the user's stream on whichever instance holds it, and
//   the seed's channel queue_status:{user_id} in Redis; coalesced position updates follow the
//   queue wherever it changed;
// - clients spread over two instances at random keep every invariant of DESIGN.md §2, and
//   both instances report the same room;
// - kill -9 one instance: the other keeps admitting, fires the dead one's timers within about
//   a second, and the streams the dead one held stop counting as presence once its lease ran
//   out.
#include <csignal>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "harness/load_clients.hpp"
#include "harness/push_stream.hpp"
#include "harness/redis_room_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class RedisInstancesTest : public RedisRoomTest {};

TEST_F(RedisInstancesTest, JoinOnOneConfirmOnTheOtherAndNotificationsFollowTheStream) {
  start_redis();
  const std::vector<std::string> args{"--max-active-users", "1", "--draft-duration", "30s"};
  const auto a = start_instance(args);
  const auto b = start_instance(args);
  ASSERT_FALSE(HasFailure());

  const auto alice = client(a).join("alice");
  ASSERT_EQ(alice.json().value("commit_status", Json()), "draft") << alice.describe();
  const auto bob = client(b).join("bob");
  ASSERT_EQ(bob.json().value("commit_position", Json()), 1) << bob.describe();
  const std::string alice_ticket = ticket_of(alice);
  const std::string bob_ticket = ticket_of(bob);

  // Bob watches on A with the ticket B issued; outside subscribers read the seed's channel.
  RedisSubscription seed_channel(redis().port(), {channel("bob")});
  SseStream bob_stream(port(a), "bob", bearer(bob_ticket));
  ASSERT_TRUE(bob_stream.is_open()) << bob_stream.response().describe();
  const auto first = bob_stream.next_event(5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->value("status", Json()), "waiting") << first->dump();
  EXPECT_EQ(first->value("position", Json()), 1) << first->dump();

  // Alice confirms on B with A's ticket; both instances see the same room.
  const auto confirmed = client(b).confirm("alice", bearer(alice_ticket));
  ASSERT_EQ(confirmed.status, 200) << confirmed.describe();
  EXPECT_EQ(client(a).status("alice").json().value("position", Json()), -2);
  EXPECT_EQ(client(b).get("/queue/get_users", bearer(kAdminToken)).json()["active_users"],
            Json::array({"alice"}));
  // Someone else's ticket acts nowhere.
  EXPECT_EQ(client(a).leave("alice", bearer(bob_ticket)).status, 403);

  // Dave waits behind bob, watching on B.
  const auto dave = client(b).join("dave");
  ASSERT_EQ(dave.json().value("commit_position", Json()), 2) << dave.describe();
  SseStream dave_stream(port(b), "dave", bearer(ticket_of(dave)));
  const auto dave_first = dave_stream.next_event(5s);
  ASSERT_TRUE(dave_first);
  EXPECT_EQ(dave_first->value("position", Json()), 2) << dave_first->dump();

  // Alice leaves on B: bob's stream on A hears his draft at once.
  const auto sent = Clock::now();
  ASSERT_EQ(client(b).leave("alice", bearer(alice_ticket)).status, 200);
  const auto draft = bob_stream.wait_for(has_status("draft"), 5s);
  ASSERT_TRUE(draft) << "no draft on bob's stream";
  const auto delay = std::chrono::duration<double, std::milli>(draft->received_at - sent);
  std::cout << "[ measure ] leave on instance B -> draft on the stream held by instance A: "
            << delay.count() << " ms\n";
  EXPECT_LT(delay, 1000ms);
  EXPECT_EQ(draft->json["duration"], 30) << draft->json.dump();

  // Dave moved up: a coalesced position update (at most one a second) on B, from the queue
  // version kept in Redis.
  const auto moved = dave_stream.wait_for(
      [](const Json& json) { return json.value("position", Json()) == 1; }, 5s);
  EXPECT_TRUE(moved) << "no position update for dave";

  // The same notification on the seed's channel, with the store sequence as a last field.
  const auto published = seed_channel.next(5s);
  ASSERT_TRUE(published);
  EXPECT_EQ(published->channel, channel("bob"));
  const Json payload = Json::parse(published->payload, nullptr, false);
  ASSERT_TRUE(payload.is_object()) << published->payload;
  EXPECT_EQ(payload["status"], "draft");
  EXPECT_EQ(payload["expires_at"], draft->json["expires_at"]);
  EXPECT_TRUE(payload["seq"].is_number_unsigned()) << published->payload;

  // Bob confirms on A; his stream hears it, and so would a WebSocket on B.
  WsClient bob_ws(port(b), "bob", bearer(bob_ticket));
  ASSERT_TRUE(bob_ws.is_open()) << bob_ws.response().describe();
  const auto ws_first = bob_ws.next_event(5s);
  ASSERT_TRUE(ws_first);
  EXPECT_EQ(ws_first->value("status", Json()), "draft") << ws_first->dump();
  ASSERT_EQ(client(a).confirm("bob", bearer(bob_ticket)).status, 200);
  EXPECT_TRUE(bob_stream.wait_for(has_status("connected"), 5s));
  EXPECT_TRUE(bob_ws.wait_for(has_status("connected"), 5s));
  EXPECT_EQ(client(b).health().json(), Json({{"status", "ok"}, {"store", "redis"}}));
}

TEST_F(RedisInstancesTest, ClientsSpreadOverTwoInstancesKeepTheInvariants) {
  constexpr int kCap = 10;
  start_redis();
  const std::vector<std::string> args{"--max-active-users", std::to_string(kCap),
                                      "--draft-duration",   "120s",
                                      "--session-duration", "300s"};
  const auto a = start_instance(args);
  const auto b = start_instance(args);
  ASSERT_FALSE(HasFailure());
  std::uint64_t seed = std::random_device{}();
  if (const char* text = std::getenv("WAITROOM_SEED")) seed = std::strtoull(text, nullptr, 10);
  std::cout << "[ seed    ] WAITROOM_SEED=" << seed << "\n";

  InvariantMonitor monitor({port(a), port(b)}, kCap);
  const auto started = Clock::now();
  LoadStats stats;
  const LoadOptions options{.clients = 120,
                            .operations_per_client = kSanitized ? 8 : 30,
                            .request_timeout = kSanitized ? 30s : 10s,
                            .deadline = started + (kSanitized ? 100s : 45s),
                            .seed = seed};
  const auto address = boost::asio::ip::make_address("127.0.0.1");
  run_load({{address, port(a)}, {address, port(b)}}, options, stats);
  monitor.stop();
  std::cout << "[ measure ] " << stats.operations << " operations over two instances in "
            << seconds_since(started) << " s, " << monitor.snapshots() << " monitor snapshots\n";
  EXPECT_EQ(stats.failures, 0) << stats.describe_errors();
  EXPECT_EQ(stats.operations, options.clients * options.operations_per_client);
  EXPECT_EQ(monitor.violations(), "");

  // Quiescence: both instances describe the same room, and it is consistent.
  const Json metrics = client(a).metrics().json();
  const Json users = client(a).get("/queue/get_users", bearer(kAdminToken)).json();
  EXPECT_EQ(check_snapshot(metrics, users, kCap), "");
  EXPECT_EQ(client(b).metrics().json(), metrics);
  EXPECT_EQ(client(b).get("/queue/get_users", bearer(kAdminToken)).json(), users);
  const auto waiting = users.value("waiting_users", Json::array());
  const auto holders = users["draft_users"].size() + users["active_users"].size();
  if (!waiting.empty()) {
    EXPECT_EQ(holders, static_cast<std::size_t>(kCap)) << "users wait while a slot is free";
  }
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    const Json status = client(i % 2 == 0 ? a : b).status(waiting[i].get<std::string>()).json();
    EXPECT_EQ(status.value("position", Json()), i + 1) << status.dump();
  }
}

TEST_F(RedisInstancesTest, KillingOneInstanceLeavesTheOtherInCharge) {
  start_redis();
  const std::vector<std::string> args{"--max-active-users",   "1", "--draft-duration",   "1s",
                                      "--max-draft-misses",   "1", "--presence-timeout", "2s",
                                      "--redis-stream-lease", "1s"};
  const auto a = start_instance(args);
  const auto b = start_instance(args);
  ASSERT_FALSE(HasFailure());

  const auto drafted_at = Clock::now();
  const auto first = client(a).join("first");
  ASSERT_EQ(first.json().value("commit_status", Json()), "draft") << first.describe();
  const auto second = client(b).join("second");
  SseStream second_stream(port(b), "second", bearer(ticket_of(second)));
  ASSERT_TRUE(second_stream.next_event(5s));
  // "watcher" is present only through its stream, held by A.
  const auto watcher = client(a).join("watcher");
  SseStream watcher_stream(port(a), "watcher", bearer(ticket_of(watcher)));
  ASSERT_TRUE(watcher_stream.next_event(5s));
  RedisSubscription watcher_channel(redis().port(), {channel("watcher")});

  const auto killed_at = Clock::now();
  instance(a).kill9();

  // B fires first's draft deadline (armed by A) and admits second.
  const auto draft = second_stream.wait_for(has_status("draft"), 5s);
  ASSERT_TRUE(draft) << "B did not fire A's timer";
  const double after_deadline =
      std::chrono::duration<double>(draft->received_at - drafted_at).count() - 1.0;
  std::cout << "[ measure ] A killed; A's draft deadline fired by B " << after_deadline
            << " s after it\n";
  EXPECT_LT(after_deadline, 1.0);
  EXPECT_EQ(client(b).status("first").json().value("reason", Json()), "draft_timeout");
  ASSERT_EQ(client(b).confirm("second", bearer(ticket_of(second))).status, 200);

  // A's lease runs out (1 s): watcher's stream no longer counts, and 2 s later it is dropped.
  const auto abandoned = watcher_channel.next(10s);
  ASSERT_TRUE(abandoned) << "watcher was never dropped";
  EXPECT_NE(abandoned->payload.find(R"("status":"disconnected","reason":"abandoned")"),
            std::string::npos)
      << abandoned->payload;
  const double dropped_after = seconds_since(killed_at);
  std::cout << "[ measure ] the dead instance's stream stopped counting as presence: watcher "
               "dropped "
            << dropped_after << " s after the kill (lease 1 s + presence 2 s)\n";
  EXPECT_GT(dropped_after, 2.0);
  EXPECT_LT(dropped_after, 6.0);
  const Json metrics = client(b).metrics().json();
  EXPECT_EQ(metrics.value("active_users", -1), 1) << metrics.dump();
}

}  // namespace
}  // namespace waitroom::test
