// Checks `waitroom load-test` against a real server (issue 5): a `group` run of 20 users
// with short reaction and stay times against a server with 5 slots ends by itself well
// before its cap, every user finishes, and its JSON summary agrees with the server's own
// /queue/metrics: the server counted exactly the joins the tester made and admitted
// exactly the users the tester served, and every served user either left or saw its session
// run out. Also checks `single` and that a refused connection is reported, not hung on.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

struct LoadTestRun {
  int exit_code = -1;
  Json summary;
  std::string output;
};

// Runs `waitroom load-test <args> --json FILE` with a hard time limit of its own, so a
// hung tester fails the test instead of reaching ctest's timeout.
LoadTestRun load_test(const std::filesystem::path& dir, const std::string& args) {
  const auto json_file = dir / "summary.json";
  const auto log_file = dir / "load-test.log";
  std::filesystem::remove(json_file);
  const std::string command = "timeout -k 5 90 '" + waitroom_binary().string() + "' load-test " +
                              args + " --json '" + json_file.string() + "' >'" + log_file.string() +
                              "' 2>&1";
  LoadTestRun run;
  const int status = std::system(command.c_str());
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream log(log_file);
  run.output.assign(std::istreambuf_iterator<char>(log), {});
  std::ifstream json(json_file);
  if (json) run.summary = Json::parse(json, nullptr, false);
  return run;
}

class LoadTestCommand : public WaitroomTest {
 protected:
  std::filesystem::path dir() const { return data_dir().parent_path(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
};

TEST_F(LoadTestCommand, GroupRunEndsByItselfAndAgreesWithServerMetrics) {
  WAITROOM_START_SERVER({"--max-active-users", "5", "--session-duration", "2s", "--draft-duration",
                         "1s", "--max-draft-misses", "1"});
  const auto started = std::chrono::steady_clock::now();
  LoadTestRun run = load_test(dir(), "group --size 20 --url " + url() +
                                         " --reaction-time 0.05..0.2 --stay 0.2..0.6"
                                         " --heartbeat-interval 0.2 --no-confirm-ratio 0.2"
                                         " --leave-ratio 0.6 --duration 40 --seed 42");
  const double took_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_TRUE(run.summary.is_object()) << run.output;
  const Json& users = run.summary["users"];
  EXPECT_EQ(run.summary["mode"], "group");
  EXPECT_EQ(users["started"], 20) << run.output;
  EXPECT_EQ(users["joined"], 20) << run.output;
  EXPECT_EQ(users["finished"], 20) << "the run ended by itself, not at its cap\n" << run.output;
  EXPECT_EQ(users["unfinished"], 0) << run.output;
  EXPECT_LT(took_s, 40) << run.output;
  EXPECT_EQ(run.summary["error_count"], 0) << run.output;
  EXPECT_EQ(users["drafted"], 20) << run.output;
  EXPECT_EQ(users["served"].get<int>() + users["abandoned"].get<int>(), 20) << run.output;
  EXPECT_EQ(users["left"].get<int>() + users["session_expired"].get<int>(),
            users["served"].get<int>())
      << run.output;
  EXPECT_EQ(run.summary["latency_ms"]["join"]["count"], 20);
  EXPECT_EQ(run.summary["latency_ms"]["confirm"]["count"], users["served"]);
  // 15 users waited (5 slots): each has a wait and an estimate to compare.
  EXPECT_EQ(run.summary["estimate"]["users"], 15) << run.output;

  const auto response = client().metrics();
  ASSERT_EQ(response.status, 200) << response.describe();
  const Json metrics = response.json();
  EXPECT_EQ(metrics["total_joins"], users["joined"]) << metrics.dump();
  // The server counts an admission when a draft is confirmed: exactly the users served.
  EXPECT_EQ(metrics["total_admissions"], users["served"]) << metrics.dump();
  // Nobody the tester served still holds a session: they left or their session ended.
  EXPECT_EQ(metrics["active_users"], 0) << metrics.dump();
}

TEST_F(LoadTestCommand, SingleUserRunsStartToEnd) {
  WAITROOM_START_SERVER({"--max-active-users", "1", "--session-duration", "1s"});
  LoadTestRun run = load_test(dir(), "single alice --url " + url() +
                                         " --reaction-time 0.05 --stay 0.1 --leave-ratio 1"
                                         " --no-confirm-ratio 0 --duration 20");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.summary["users"]["served"], 1) << run.output;
  EXPECT_EQ(run.summary["users"]["left"], 1) << run.output;
  const auto status = client().status("alice").json();
  EXPECT_EQ(status["status"], "disconnected") << status.dump();
}

TEST_F(LoadTestCommand, RefusedConnectionIsReportedAsAnError) {
  WAITROOM_START_SERVER({});
  const std::string closed_url = url();
  server().stop();
  LoadTestRun run = load_test(dir(), "group --size 3 --duration 10 --url " + closed_url);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  ASSERT_TRUE(run.summary.is_object()) << run.output;
  EXPECT_EQ(run.summary["users"]["joined"], 0);
  EXPECT_EQ(run.summary["error_count"], 3) << run.output;
}

}  // namespace
}  // namespace waitroom::test
