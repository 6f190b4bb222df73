// The Redis store when Redis fails (issue 6):
// - Redis restarted (AOF on, appendfsync always) while joins keep coming: every join that was
//   answered 200 is still there afterwards, the API answers 503 with Retry-After while Redis
//   is down, the service resumes by itself, and an open stream is dropped so that its client
//   reconnects and reads its state afresh;
// - Redis unreachable when the instance starts: it listens anyway, answers 503 with
//   Retry-After on every route and in /health, and serves once Redis comes up;
// - Redis stalled (SIGSTOP) under a request: 503 within the configured timeout, never a hang,
//   and service again once it resumes.
#include <signal.h>

#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "harness/load_clients.hpp"
#include "harness/push_stream.hpp"
#include "harness/redis_room_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

void expect_unavailable(const HttpResponse& response, const std::string& what) {
  EXPECT_EQ(response.status, 503) << what << ": " << response.describe();
  EXPECT_EQ(response.header("Retry-After").value_or(""), "1") << what;
  const Json json = response.json();
  EXPECT_TRUE(json.is_object() && json.contains("detail")) << what << ": " << response.body;
}

class RedisFailureTest : public RedisRoomTest {};

TEST_F(RedisFailureTest, RestartLosesNoAcknowledgedJoin) {
  start_redis({.append_only = true});
  const auto a = start_instance(
      {"--redis-timeout", "500ms", "--max-active-users", "5", "--draft-duration", "600s"});
  ASSERT_FALSE(HasFailure());
  for (int i = 0; i < 5; ++i) client(a).join("holder-" + std::to_string(i));
  const auto watcher = client(a).join("watcher");
  SseStream stream(port(a), "watcher", bearer(ticket_of(watcher)));
  ASSERT_TRUE(stream.next_event(5s));

  // One client joins new ids without pause; what it was told 200 must never be lost.
  std::mutex mutex;
  std::vector<std::string> acknowledged;
  std::vector<std::string> errors;
  std::atomic<int> unavailable{0};
  std::atomic<double> slowest_503{0};
  std::atomic<bool> stop{false};
  std::thread joiner([&] {
    HttpClient joins(port(a));
    for (int n = 0; !stop.load() && n < 100'000; ++n) {
      const std::string id = "r-" + std::to_string(n);
      const auto sent = Clock::now();
      try {
        const auto response = joins.join(id);
        const double took = seconds_since(sent);
        std::lock_guard lock(mutex);
        if (response.status == 200) {
          acknowledged.push_back(id);
        } else if (response.status == 503) {
          ++unavailable;
          if (took > slowest_503) slowest_503 = took;
          if (!response.header("Retry-After") && errors.size() < 5) {
            errors.push_back("503 without Retry-After");
          }
        } else if (errors.size() < 5) {
          errors.push_back(response.describe());
        }
      } catch (const std::exception& error) {
        std::lock_guard lock(mutex);
        if (errors.size() < 5) errors.push_back(id + ": " + error.what());
      }
    }
  });
  auto count = [&] {
    std::lock_guard lock(mutex);
    return acknowledged.size();
  };
  auto wait_for = [&](auto condition, std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!condition() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    return condition();
  };
  EXPECT_TRUE(wait_for([&] { return count() >= 200; }, 20s));
  const std::size_t before_kill = count();
  redis().kill9();
  EXPECT_TRUE(wait_for([&] { return unavailable.load() > 0; }, 5s)) << "no 503 while Redis is down";
  const std::size_t during = count();
  redis().start();
  const auto restarted = Clock::now();
  EXPECT_TRUE(wait_for([&] { return count() >= during + 100; }, 20s))
      << "the service did not resume";
  const double resumed_after = seconds_since(restarted);
  stop = true;
  joiner.join();
  std::cout << "[ measure ] " << before_kill << " joins before the kill, " << unavailable
            << " answered 503 while Redis was down (slowest " << slowest_503 << " s), resumed "
            << resumed_after << " s after Redis restarted; " << count() << " acknowledged\n";
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_LT(slowest_503.load(), 2.0) << "a request hung past the timeout";

  const Json users = client(a).get("/queue/get_users", bearer(kAdminToken)).json();
  std::set<std::string> present;
  for (const char* list : {"waiting_users", "draft_users", "active_users"}) {
    for (const auto& id : users[list]) present.insert(id.get<std::string>());
  }
  std::size_t lost = 0;
  for (const auto& id : acknowledged) lost += present.count(id) == 0 ? 1 : 0;
  EXPECT_EQ(lost, 0u) << "acknowledged joins lost across the Redis restart";
  EXPECT_EQ(client(a).metrics().json().value("waiting_users", -1),
            static_cast<int>(users["waiting_users"].size()));

  // The stream was dropped when the subscription came back: the client reconnects and gets
  // its current state first.
  EXPECT_TRUE(stream.wait_closed(10s)) << "the stream survived lost notifications";
  SseStream again(port(a), "watcher", bearer(ticket_of(watcher)));
  const auto state = again.next_event(5s);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->value("status", Json()), "waiting") << state->dump();
  EXPECT_EQ(state->value("position", Json()), 1) << state->dump();
}

TEST_F(RedisFailureTest, UnreachableAtStartAnswers503ThenServes) {
  const std::uint16_t redis_port = free_port();
  const auto a = start_instance_on(redis_port, {"--redis-timeout", "300ms"});
  ASSERT_FALSE(HasFailure()) << "the instance must start without Redis";

  const auto health = client(a).health();
  EXPECT_EQ(health.status, 503) << health.describe();
  EXPECT_EQ(health.json().value("status", Json()), "unavailable") << health.describe();
  EXPECT_EQ(health.json().value("store", Json()), "redis") << health.describe();
  const auto sent = Clock::now();
  expect_unavailable(client(a).join("early"), "join");
  expect_unavailable(client(a).status("early"), "status");
  expect_unavailable(client(a).metrics(), "metrics");
  expect_unavailable(client(a).post("/queue/admin/pause", "", bearer(kAdminToken)), "pause");
  SseStream stream(port(a), "early", bearer(kApiKey));
  expect_unavailable(stream.response(), "events");
  EXPECT_LT(seconds_since(sent), 2.0) << "503s must come fast while Redis is down";

  start_redis({.port = redis_port});
  ASSERT_FALSE(HasFailure());
  EXPECT_TRUE(wait_healthy(client(a), 15s)) << "the instance did not connect to Redis";
  const auto joined = client(a).join("early");
  EXPECT_EQ(joined.status, 200) << joined.describe();
  EXPECT_EQ(joined.json().value("commit_status", Json()), "draft") << joined.describe();
}

TEST_F(RedisFailureTest, StalledRedisAnswers503WithinTheTimeout) {
  start_redis();
  const auto a = start_instance({"--redis-timeout", "500ms"});
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(client(a).join("u1").status, 200);

  ASSERT_EQ(::kill(redis().pid(), SIGSTOP), 0);
  const auto sent = Clock::now();
  const auto stalled = client(a).join("u2");
  const double took = seconds_since(sent);
  std::cout << "[ measure ] join with Redis stalled: 503 after " << took << " s (timeout 0.5 s)\n";
  expect_unavailable(stalled, "join while Redis is stalled");
  EXPECT_GT(took, 0.3);
  EXPECT_LT(took, 1.5) << "no hang past the timeout";
  const auto health = client(a).health();
  EXPECT_EQ(health.status, 503) << health.describe();

  ASSERT_EQ(::kill(redis().pid(), SIGCONT), 0);
  EXPECT_TRUE(wait_healthy(client(a), 15s)) << "no recovery after Redis resumed";
  const auto joined = client(a).join("u3");
  EXPECT_EQ(joined.status, 200) << joined.describe();
  EXPECT_EQ(client(a).status("u1").json().value("status", Json()), "draft");
}

}  // namespace
}  // namespace waitroom::test
