// Checks the invariants of DESIGN.md §2 under concurrent load: 500 clients (asio
// coroutines, one keep-alive connection each) do a bounded number of random
// join/confirm/leave/status operations with their own tickets, while a monitor reads
// /queue/metrics and /queue/get_users in a loop and checks every snapshot:
// active + draft <= cap and no user id in two lists or twice in one. At quiescence the
// waiting users' positions are exactly 1..N in queue order, the slots are all used when
// anyone waits, and the server is healthy. The PRNG seed is printed; WAITROOM_SEED=<n>
// replays the same per-client operation sequences (the interleaving is the scheduler's).
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <boost/asio/ip/tcp.hpp>

#include "harness/load_clients.hpp"
#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 500;
constexpr int kOperationsPerClient = kSanitized ? 8 : 40;
constexpr auto kRequestTimeout = kSanitized ? 30s : 10s;
constexpr auto kLoadDeadline = kSanitized ? 100s : 45s;
constexpr int kCap = 20;

class ConcurrencyTest : public WaitroomTest {};

TEST_F(ConcurrencyTest, FiveHundredClientsKeepTheInvariants) {
  WAITROOM_START_SERVER({"--max-active-users", std::to_string(kCap), "--admin-token", kAdminToken,
                         "--draft-duration", "120s", "--session-duration", "300s"});
  std::uint64_t seed = std::random_device{}();
  if (const char* text = std::getenv("WAITROOM_SEED")) seed = std::strtoull(text, nullptr, 10);
  std::cout << "[ seed    ] WAITROOM_SEED=" << seed << "\n";
  RecordProperty("seed", std::to_string(seed));

  const auto started = Clock::now();
  LoadStats stats;

  // The monitor: its own connection, reading both views until the load is over.
  InvariantMonitor monitor({port()}, kCap);

  const LoadOptions options{.clients = kClients,
                            .operations_per_client = kOperationsPerClient,
                            .request_timeout = kRequestTimeout,
                            .deadline = started + kLoadDeadline,
                            .seed = seed};
  run_load({tcp::endpoint(asio::ip::make_address("127.0.0.1"), port())}, options, stats);
  monitor.stop();
  const auto elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "[ measure ] " << stats.operations << " operations by " << kClients << " clients in "
            << elapsed << " s (" << stats.operations / elapsed << " op/s), " << monitor.snapshots()
            << " monitor snapshots\n";

  EXPECT_EQ(stats.failures, 0) << stats.describe_errors();
  EXPECT_EQ(stats.operations, kClients * kOperationsPerClient) << "the load hit its deadline";
  EXPECT_EQ(monitor.violations(), "");
  EXPECT_GT(monitor.snapshots(), 0);
  ASSERT_TRUE(server().running()) << server().stderr_text();

  // Quiescence: nothing moves any more (long draft and session durations).
  const Json metrics = client().metrics().json();
  const Json users = client().get("/queue/get_users", bearer(kAdminToken)).json();
  EXPECT_EQ(check_snapshot(metrics, users, kCap), "");
  const auto waiting = users.value("waiting_users", Json::array());
  const auto drafts = users.value("draft_users", Json::array());
  const auto active = users.value("active_users", Json::array());
  EXPECT_EQ(metrics.value("waiting_users", -1), static_cast<int>(waiting.size()));
  EXPECT_EQ(metrics.value("draft_users", -1), static_cast<int>(drafts.size()));
  EXPECT_EQ(metrics.value("active_users", -1), static_cast<int>(active.size()));
  if (!waiting.empty()) {
    EXPECT_EQ(drafts.size() + active.size(), static_cast<std::size_t>(kCap))
        << "users wait while a slot is free: " << metrics.dump();
  }
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    const Json status = client().status(waiting[i].get<std::string>()).json();
    EXPECT_EQ(status.value("status", Json()), "waiting") << status.dump();
    EXPECT_EQ(status.value("position", Json()), i + 1)
        << "positions have a gap or repeat: " << status.dump();
  }
  for (const auto& id : drafts) {
    EXPECT_EQ(client().status(id.get<std::string>()).json().value("position", Json()), -1);
  }
  for (const auto& id : active) {
    EXPECT_EQ(client().status(id.get<std::string>()).json().value("position", Json()), -2);
  }
  EXPECT_EQ(client().health().status, 200);
  const ExitStatus exit = server().stop();
  EXPECT_TRUE(exit.exited && exit.code == 0) << exit.describe();
}

}  // namespace
}  // namespace waitroom::test
