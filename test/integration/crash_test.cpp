// Checks the durable embedded store against the real binary (DESIGN.md §5, issue 4):
//   - crash: many concurrent clients join, confirm and leave while the server is killed with
//     SIGKILL at random moments (several rounds, each on the data the last one left); after
//     each restart every answered operation is reflected (an answered join is in the room
//     unless a later leave was answered, an answered confirm is connected, an answered leave
//     is gone), operations in flight at the kill are either applied or not but nothing else,
//     the FIFO order of joins answered one after the other holds, positions are exactly
//     1..N, and active + draft <= cap;
//   - damaged files: a torn journal tail is cut with a warning and the server starts; a
//     corrupted record followed by valid ones, a wrong version and garbage make the binary
//     refuse to start (non-zero exit, a message naming the file and offset) and leave the
//     file untouched;
//   - deadlines across a restart on short durations: a session that ended while the server
//     was down is ended at start, a draft that expired is requeued, and the user's stream
//     gets that state when it reconnects.
// The seed of the kill points is printed; WAITROOM_CRASH_SEED replays it.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// What one client knows about one user id: the last answered operation and the one that
// was in flight when the server died.
enum class Op { none, join, confirm, leave };
struct Known {
  Op answered = Op::none;
  Op in_flight = Op::none;
  Clock::time_point join_sent{};      // of the last answered join that created a place
  Clock::time_point join_answered{};  // idem
  bool created = false;               // that last join took a new place (not an idempotent repeat)
  std::string ticket;
};

class CrashTest : public WaitroomTest {
 protected:
  static constexpr int kCap = 3;
  static constexpr int kClients = 16;
  static constexpr int kIdsPerClient = 12;
  std::atomic<std::uint64_t> answered_{0};

  std::string id(int client, int index) {
    return "c" + std::to_string(client) + "u" + std::to_string(index);
  }

  // One client's random work until the server stops answering.
  void client_loop(int client, std::uint64_t seed, std::map<std::string, Known>& known,
                   std::atomic<bool>& dead) {
    std::mt19937_64 random(seed);
    std::unique_ptr<HttpClient> http;
    try {
      http = new_client();
    } catch (const std::exception&) {
      return;
    }
    while (!dead.load()) {
      const std::string user = id(client, static_cast<int>(random() % kIdsPerClient));
      Known& k = known[user];
      const auto pick = random() % 10;
      Op op = pick < 5 ? Op::join : pick < 8 ? Op::confirm : Op::leave;
      if (op != Op::join && k.ticket.empty()) op = Op::join;
      k.in_flight = op;
      const auto sent = Clock::now();
      HttpResponse response;
      try {
        switch (op) {
          case Op::join:
            response = http->join(user, k.ticket.empty() ? Headers{} : bearer(k.ticket));
            break;
          case Op::confirm:
            response = http->confirm(user, bearer(k.ticket));
            break;
          case Op::leave:
            response = http->leave(user, bearer(k.ticket));
            break;
          case Op::none:
            break;
        }
      } catch (const std::exception&) {
        return;  // the server died with this operation in flight
      }
      if (response.status == 0 || response.status >= 500) return;
      k.in_flight = Op::none;
      if (response.status != 200) continue;  // refused: changed nothing
      ++answered_;
      k.answered = op;
      if (op == Op::join) {
        Json json = response.json();
        if (std::string ticket = ticket_of(response); !ticket.empty()) k.ticket = ticket;
        const bool created = json.value("last_status", Json()).is_null() ||
                             json.value("last_status", Json()) == "disconnected";
        if (created) {
          k.created = true;
          k.join_sent = sent;
          k.join_answered = Clock::now();
        }
      } else if (op == Op::leave) {
        k.created = false;
      }
    }
  }

  // Checks the restarted server against what the clients were told.
  void check_after_restart(const std::vector<std::map<std::string, Known>>& known) {
    std::map<std::string, Json> status;
    std::vector<std::pair<std::uint64_t, std::string>> waiting;
    for (const auto& per_client : known) {
      for (const auto& [user, k] : per_client) {
        Json s = client().status(user).json();
        status[user] = s;
        const Json state = s.value("status", Json());
        const auto in = [&](std::initializer_list<const char*> states) {
          for (const char* st : states) {
            if (state == st) return true;
          }
          return false;
        };
        SCOPED_TRACE(user + " " + s.dump());
        // An operation in flight may or may not have been applied: accept both outcomes.
        const bool maybe_left = k.in_flight == Op::leave;
        const bool maybe_joined = k.in_flight == Op::join;
        const bool maybe_confirmed = k.in_flight == Op::confirm;
        switch (k.answered) {
          case Op::join:
            if (maybe_left) {
              EXPECT_TRUE(in({"waiting", "draft", "connected", "disconnected"}));
            } else {
              EXPECT_TRUE(in({"waiting", "draft", "connected"})) << "an answered join was lost";
            }
            break;
          case Op::confirm:
            if (maybe_left) {
              EXPECT_TRUE(in({"connected", "disconnected"}));
            } else {
              EXPECT_EQ(state, "connected") << "an answered confirm was lost";
            }
            break;
          case Op::leave:
            if (maybe_joined) {
              EXPECT_TRUE(in({"disconnected", "waiting", "draft"}));
            } else {
              EXPECT_EQ(state, "disconnected") << "an answered leave was lost";
            }
            break;
          case Op::none:
            if (maybe_joined) {
              EXPECT_TRUE(state.is_null() || in({"waiting", "draft"}));
            } else if (!maybe_confirmed) {
              EXPECT_TRUE(state.is_null() || in({"disconnected"}));
            }
            break;
        }
        if (state == "waiting") waiting.emplace_back(s["position"].get<std::uint64_t>(), user);
      }
    }
    // Positions are exactly 1..N.
    std::sort(waiting.begin(), waiting.end());
    for (std::size_t i = 0; i < waiting.size(); ++i)
      ASSERT_EQ(waiting[i].first, i + 1) << "positions have a gap or a repeat";
    // FIFO: of two waiting users whose creating joins did not overlap in time, the one
    // answered first is ahead (no draft expires in this test, so nobody was requeued).
    std::map<std::string, const Known*> by_user;
    for (const auto& per_client : known) {
      for (const auto& [user, k] : per_client) by_user[user] = &k;
    }
    for (std::size_t i = 0; i < waiting.size(); ++i) {
      for (std::size_t j = i + 1; j < waiting.size(); ++j) {
        const Known* ahead = by_user[waiting[i].second];
        const Known* behind = by_user[waiting[j].second];
        if (!ahead->created || !behind->created || ahead->in_flight != Op::none ||
            behind->in_flight != Op::none)
          continue;
        EXPECT_FALSE(behind->join_answered < ahead->join_sent)
            << waiting[j].second << " joined before " << waiting[i].second << " but is behind";
      }
    }
    Json metrics = client().metrics().json();
    EXPECT_LE(metrics["active_users"].get<int>() + metrics["draft_users"].get<int>(), kCap)
        << metrics.dump();
    EXPECT_EQ(metrics["waiting_users"].get<std::size_t>(), waiting.size()) << metrics.dump();
  }
};

TEST_F(CrashTest, KillNineAtRandomMomentsLosesNothingAnswered) {
  std::uint64_t seed = std::random_device{}();
  if (const char* given = std::getenv("WAITROOM_CRASH_SEED")) seed = std::stoull(given);
  std::cerr << "crash test seed " << seed << " (replay with WAITROOM_CRASH_SEED)\n";
  std::mt19937_64 random(seed);
  // Long timeouts: nobody may time out during the test, so every change comes from a client.
  WAITROOM_START_SERVER({"--max-active-users", std::to_string(kCap), "--draft-duration", "600",
                         "--session-duration", "3600", "--presence-timeout", "3600",
                         "--idle-timeout", "3600"});
  std::vector<std::map<std::string, Known>> known(kClients);
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::atomic<bool> dead{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c)
      clients.emplace_back(
          [&, c, s = random()] { client_loop(c, s, known[static_cast<std::size_t>(c)], dead); });
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + random() % 500));  // the kill point
    restart_server(false);  // kill -9, then the same command line on the same data
    dead = true;
    for (auto& thread : clients) thread.join();
    if (HasFatalFailure()) return;
    std::cerr << "round " << round << ": " << answered_.load() << " operations answered so far\n";
    check_after_restart(known);
    if (HasFailure()) return;
    // What the check saw is now the answered state: nothing stays in flight.
    for (auto& per_client : known) {
      for (auto& [user, k] : per_client) {
        if (k.in_flight == Op::none) continue;
        Json s = client().status(user).json();
        const Json state = s.value("status", Json());
        k.answered = state == "connected"                     ? Op::confirm
                     : state == "waiting" || state == "draft" ? Op::join
                     : state == "disconnected"                ? Op::leave
                                                              : Op::none;
        k.created = false;  // its join time is unknown: leave it out of the FIFO check
        k.in_flight = Op::none;
      }
    }
  }
  EXPECT_GT(answered_.load(), 200u) << "the load was too light to test anything";
}

// ---- damaged files ---------------------------------------------------------------------

class DamagedFilesTest : public WaitroomTest {
 protected:
  // Writes some state, stops the server cleanly, and answers the journal's path.
  std::filesystem::path prepare() {
    start_server({"--max-active-users", "1"});
    if (HasFatalFailure()) return {};
    for (int i = 0; i < 20; ++i) client().join("user" + std::to_string(i));
    restart_server(true);  // a clean stop and start: the journal is complete
    if (HasFatalFailure()) return {};
    server().stop();
    return data_dir() / "journal";
  }

  // Runs the binary on the data directory and expects it to refuse to start.
  void expect_refusal(const std::string& needle) {
    ProcessOptions options;
    options.binary = waitroom_binary();
    options.args = {"serve", "--host",     "127.0.0.1",        "--port",
                    "0",     "--data-dir", data_dir().string()};
    options.stderr_file = data_dir().parent_path() / "refused-stderr.log";
    options.start_timeout = 10s;
    try {
      ServerProcess process(options);
      ADD_FAILURE() << "the server started on a damaged data directory";
      process.kill9();
    } catch (const std::exception&) {
      // Expected: it exited before printing its listening line.
    }
    std::string log = read_file(options.stderr_file);
    EXPECT_NE(log.find("refusing to start"), std::string::npos) << log;
    EXPECT_NE(log.find(needle), std::string::npos) << log;
    EXPECT_NE(log.find("offset"), std::string::npos) << log;
  }
};

TEST_F(DamagedFilesTest, TornTailIsCutWithAWarning) {
  auto journal = prepare();
  if (HasFatalFailure()) return;
  std::string bytes = read_file(journal);
  write_file(journal, bytes + std::string("\x30\x00\x00\x00\x12\x34", 6));  // a torn frame
  restart_server(false);
  if (HasFatalFailure()) return;
  EXPECT_EQ(client().status("user19").json().value("position", Json()), 19);
  EXPECT_NE(server().stderr_text().find("torn tail"), std::string::npos) << server().stderr_text();
}

TEST_F(DamagedFilesTest, CorruptionFollowedByValidRecordsIsRefused) {
  auto journal = prepare();
  if (HasFatalFailure()) return;
  std::string bytes = read_file(journal);
  bytes[40] ^= 0x20;  // inside the first commit
  write_file(journal, bytes);
  expect_refusal("journal");
  EXPECT_EQ(read_file(journal), bytes) << "a refused file is left untouched";
}

TEST_F(DamagedFilesTest, WrongVersionIsRefused) {
  auto journal = prepare();
  if (HasFatalFailure()) return;
  std::string bytes = read_file(journal);
  bytes[8] = 9;  // the version; the header checksum no longer matches either
  write_file(journal, bytes);
  expect_refusal("journal");
  EXPECT_EQ(read_file(journal), bytes);
}

TEST_F(DamagedFilesTest, GarbageIsRefused) {
  auto journal = prepare();
  if (HasFatalFailure()) return;
  std::string garbage(4096, '\0');
  std::mt19937 random(1);
  for (char& c : garbage) c = static_cast<char>(random());
  write_file(journal, garbage);
  expect_refusal("bad magic");
  EXPECT_EQ(read_file(journal), garbage);
}

// ---- deadlines across a restart ------------------------------------------------------------

TEST_F(CrashTest, DeadlinesThatPassedWhileDownFireAtStart) {
  WAITROOM_START_SERVER({"--max-active-users", "2", "--draft-duration", "2", "--session-duration",
                         "2", "--presence-timeout", "3600", "--max-draft-misses", "3"});
  const std::string holder = ticket_of(client().join("holder"));
  ASSERT_EQ(client().confirm("holder", bearer(holder)).status, 200);
  const std::string drafted = ticket_of(client().join("drafted"));
  ASSERT_EQ(client().status("drafted").json().value("status", Json()), "draft");
  server().kill9();
  std::this_thread::sleep_for(2500ms);  // both deadlines pass while the server is down
  restart_server(false);
  if (HasFatalFailure()) return;
  Json s = client().status("holder").json();
  EXPECT_EQ(s.value("status", Json()), "disconnected") << s.dump();
  // The draft ran out: requeued, and with the slots free it is offered a new draft at once.
  Json d = client().status("drafted").json();
  EXPECT_TRUE(d.value("status", Json()) == "draft" || d.value("status", Json()) == "waiting")
      << d.dump();
  SseStream stream(port(), "drafted", bearer(drafted));
  ASSERT_EQ(stream.status(), 200);
  auto first = stream.next_event(5s);
  ASSERT_TRUE(first) << "no state on reconnect";
  EXPECT_EQ((*first)["user_id"], "drafted") << first->dump();
  EXPECT_TRUE((*first)["status"] == "draft" || (*first)["status"] == "waiting") << first->dump();
}

// ---- reconnecting streams ------------------------------------------------------------------

// Opens a raw SSE stream (so that the `id:` lines are visible), reads for `wait`, and
// answers everything received, headers included.
std::string raw_sse(std::uint16_t port, const std::string& user, const std::string& ticket,
                    std::optional<std::uint64_t> last_event_id, std::chrono::milliseconds wait) {
  RawConnection connection(port);
  std::string request = "GET /queue/events/" + user +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + ticket + "\r\n";
  if (last_event_id) request += "Last-Event-ID: " + std::to_string(*last_event_id) + "\r\n";
  request += "\r\n";
  EXPECT_TRUE(connection.send(request));
  connection.read_until_closed(wait);
  return connection.received();
}

// The ids of the `id:` lines, in order.
std::vector<std::uint64_t> sse_ids(const std::string& text) {
  std::vector<std::uint64_t> ids;
  for (std::size_t at = text.find("\nid: "); at != std::string::npos;
       at = text.find("\nid: ", at + 1))
    ids.push_back(std::stoull(text.substr(at + 5)));
  return ids;
}

TEST_F(CrashTest, StreamIdsSurviveARestartAndLastEventIdIsHonoured) {
  WAITROOM_START_SERVER({"--max-active-users", "1"});
  const std::string holder = ticket_of(client().join("holder"));
  ASSERT_EQ(client().confirm("holder", bearer(holder)).status, 200);
  const std::string waiter = ticket_of(client().join("waiter"));

  std::string first = raw_sse(port(), "waiter", waiter, std::nullopt, 500ms);
  auto ids = sse_ids(first);
  ASSERT_EQ(ids.size(), 1u) << first;
  EXPECT_NE(first.find("\"status\":\"waiting\""), std::string::npos) << first;
  const std::uint64_t seen = ids[0];

  restart_server(false);  // kill -9
  if (HasFatalFailure()) return;
  // The client holds the current state: a reconnect with its last id gets no duplicate.
  std::string again = raw_sse(port(), "waiter", waiter, seen, 500ms);
  EXPECT_TRUE(sse_ids(again).empty()) << again;
  EXPECT_EQ(again.find("data:"), std::string::npos) << again;

  // The state moves on; a client with the old id gets the current state at once, with an id
  // above every id handed out before the restart.
  ASSERT_EQ(client().leave("holder", bearer(holder)).status, 200);
  std::string behind = raw_sse(port(), "waiter", waiter, seen, 500ms);
  auto behind_ids = sse_ids(behind);
  ASSERT_EQ(behind_ids.size(), 1u) << behind;
  EXPECT_GT(behind_ids[0], seen);
  EXPECT_NE(behind.find("\"status\":\"draft\""), std::string::npos) << behind;

  // A WebSocket that reconnects after a restart gets the current state at once.
  restart_server(false);
  if (HasFatalFailure()) return;
  WsClient ws(port(), "waiter", bearer(waiter));
  auto state = ws.next_event(5s);
  ASSERT_TRUE(state) << "no state on WebSocket reconnect";
  EXPECT_EQ((*state)["status"], "draft") << state->dump();
}

TEST_F(CrashTest, LastEventIdIsHonouredWithoutADataDirectory) {
  WAITROOM_START_SERVER({"--max-active-users", "1", "--ephemeral", "true"});
  const std::string holder = ticket_of(client().join("holder"));
  ASSERT_EQ(client().confirm("holder", bearer(holder)).status, 200);
  const std::string waiter = ticket_of(client().join("waiter"));
  auto ids = sse_ids(raw_sse(port(), "waiter", waiter, std::nullopt, 300ms));
  ASSERT_EQ(ids.size(), 1u);

  // Opening and closing streams, polls and heartbeats change nothing the client shows.
  ASSERT_EQ(client().status("waiter").status, 200);
  ASSERT_EQ(client().heartbeat("holder", bearer(holder)).status, 200);
  std::string again = raw_sse(port(), "waiter", waiter, ids[0], 300ms);
  EXPECT_TRUE(sse_ids(again).empty()) << again;
  EXPECT_EQ(again.find("data:"), std::string::npos) << again;

  ASSERT_EQ(client().leave("holder", bearer(holder)).status, 200);
  std::string behind = raw_sse(port(), "waiter", waiter, ids[0], 300ms);
  auto behind_ids = sse_ids(behind);
  ASSERT_EQ(behind_ids.size(), 1u) << behind;
  EXPECT_GT(behind_ids[0], ids[0]);
  EXPECT_NE(behind.find("\"status\":\"draft\""), std::string::npos) << behind;
}

}  // namespace
}  // namespace waitroom::test
