// Checks that bad input gets the contract's error and never hurts the server
// (API-CONTRACT.md, STYLE.md "put a limit on everything"): invalid user ids (too long,
// bad characters, URL-encoded slashes, NUL, non-ASCII) → 422; malformed JSON → 400; a
// body over 16 KiB → 413; unknown route → 404; wrong method → 405 with Allow; headers over
// the limit → 431; each a JSON {"detail": ...}. Garbage bytes get the connection closed,
// and a slowloris connection (headers never finished) is closed by --header-timeout while
// other clients are served. /health answers after each. Raw bytes that are not UTF-8 (in
// a path, a stream's path, a setting's value) get the same 422, as valid JSON.
#include <cstdlib>
#include <iostream>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class BadInputTest : public WaitroomTest {
 protected:
  void expect_error(const HttpResponse& response, int status, const std::string& what) {
    EXPECT_EQ(response.status, status) << what << ": " << response.describe();
    const auto type = response.header("Content-Type");
    EXPECT_TRUE(type && type->find("application/json") != std::string::npos)
        << what << ": Content-Type " << type.value_or("(none)");
    Json json = response.json();
    EXPECT_TRUE(json.is_object() && json.contains("detail") && json["detail"].is_string())
        << what << ": " << response.describe();
  }

  void expect_healthy() {
    auto fresh = new_client();
    const auto health = fresh->health();
    EXPECT_EQ(health.status, 200) << health.describe();
    EXPECT_EQ(health.json(), Json({{"status", "ok"}, {"store", "embedded"}})) << health.describe();
    EXPECT_TRUE(server().running());
  }
};

TEST_F(BadInputTest, InvalidUserIds) {
  WAITROOM_START_SERVER({});
  const std::string longest(64, 'a');
  EXPECT_EQ(client().status(longest).status, 200) << "64 characters are allowed";
  EXPECT_EQ(client().status("Az09._-@+~").status, 200) << "every allowed character";
  EXPECT_EQ(client().get("/queue/status/a%40b").status, 200) << "%40 decodes to @";

  const std::vector<std::string> invalid_targets = {
      "/queue/status/" + std::string(65, 'a'),
      "/queue/status/a%2Fb",
      "/queue/status/a%2fb",
      "/queue/status/%2F",
      "/queue/status/a%20b",
      "/queue/status/a%00b",
      "/queue/status/caf%C3%A9",
      "/queue/status/a%21b",
      "/queue/status/a%3Cscript%3E",
      "/queue/status/..%2F..%2Fetc",
      "/queue/status/a:b",
  };
  for (const auto& target : invalid_targets) {
    const auto response = client().get(target);
    expect_error(response, 422, "GET " + target);
    if (response.status == 422) {
      EXPECT_NE(response.json().value("detail", "").find("invalid user id"), std::string::npos)
          << target << ": " << response.describe();
    }
  }
  for (const std::string& id :
       std::vector<std::string>{std::string(65, 'b'), std::string("x/y"), std::string("x y")}) {
    expect_error(client().join(id), 422, "join " + id);
  }
  // None of these created a user.
  EXPECT_EQ(client().metrics().json().value("total_joins", Json()), 0);
  // A bad percent-encoding is a bad id (or a bad request), never a crash.
  const auto bad_escape = client().get("/queue/status/a%zz");
  EXPECT_TRUE(bad_escape.status == 422 || bad_escape.status == 400) << bad_escape.describe();
  expect_healthy();
}

TEST_F(BadInputTest, BadBodiesRoutesMethodsAndHeaders) {
  WAITROOM_START_SERVER({"--api-key", kApiKey});
  expect_error(client().post("/queue/heartbeat", "{not json", bearer(kApiKey)), 400,
               "malformed JSON");
  expect_error(client().post("/queue/heartbeat", "", bearer(kApiKey)), 400, "empty body");
  for (const std::string body : std::vector<const char*>{R"([1,2])", R"({"user_id":5})", R"({})"}) {
    const auto response = client().post("/queue/heartbeat", body, bearer(kApiKey));
    EXPECT_TRUE(response.status == 400 || response.status == 422)
        << body << ": " << response.describe();
  }
  expect_error(client().post("/queue/heartbeat", R"({"user_id":"a/b"})", bearer(kApiKey)), 422,
               "invalid id in the body");
  expect_healthy();

  const std::string big_body = R"({"user_id":")" + std::string(17 * 1024, 'x') + R"("})";
  expect_error(client().post("/queue/heartbeat", big_body, bearer(kApiKey)), 413, "17 KiB body");
  expect_error(new_client()->post("/queue/join/big", std::string(20 * 1024, ' ')), 413,
               "20 KiB body on join");
  expect_healthy();

  const auto not_found = client().get("/nope");
  expect_error(not_found, 404, "GET /nope");
  EXPECT_EQ(not_found.json().value("detail", ""), "not found") << not_found.describe();
  expect_error(client().post("/queue/nope/u1"), 404, "POST /queue/nope/u1");
  expect_error(client().get("/queue"), 404, "GET /queue");

  const auto get_join = client().get("/queue/join/u1");
  expect_error(get_join, 405, "GET /queue/join/u1");
  const auto allow = get_join.header("Allow");
  EXPECT_TRUE(allow && allow->find("POST") != std::string::npos)
      << "405 names the allowed method: " << allow.value_or("(no Allow)");
  const auto post_health = client().post("/health");
  expect_error(post_health, 405, "POST /health");
  EXPECT_TRUE(post_health.header("Allow") &&
              post_health.header("Allow")->find("GET") != std::string::npos);
  expect_error(client().request("DELETE", "/queue/status/u1"), 405, "DELETE /queue/status/u1");
  expect_error(client().post("/metrics"), 405, "POST /metrics");
  EXPECT_EQ(client().metrics().json().value("total_joins", Json()), 0);
  expect_healthy();

  auto fresh = new_client();
  const auto huge = fresh->get("/health", {{"X-Huge", std::string(10 * 1024, 'h')}});
  expect_error(huge, 431, "10 KiB header");
  auto many = new_client();
  Headers many_headers;
  for (int i = 0; i < 800; ++i) many_headers.emplace_back("X-H" + std::to_string(i), "value-value");
  expect_error(many->get("/health", many_headers), 431, "800 small headers (17 KiB)");
  auto tiny = new_client();
  Headers tiny_headers(3400, {"X", "y"});
  expect_error(tiny->get("/health", tiny_headers), 431, "3,400 headers of 6 bytes (20 KiB)");
  expect_healthy();
}

// Sends `request` on a fresh connection and reads until the server closes it: the status
// code and the body (everything after the header).
std::pair<int, std::string> raw_exchange(std::uint16_t port, const std::string& request) {
  RawConnection raw(port);
  raw.send(request);
  raw.read_until_closed(5s);
  const auto& text = raw.received();
  int status = 0;
  if (text.rfind("HTTP/1.", 0) == 0 && text.size() >= 12) status = std::atoi(text.c_str() + 9);
  const auto header_end = text.find("\r\n\r\n");
  return {status, header_end == std::string::npos ? "" : text.substr(header_end + 4)};
}

TEST_F(BadInputTest, BytesThatAreNotUtf8AreAnInvalidUserIdNotAnInternalError) {
  WAITROOM_START_SERVER({"--admin-token", kAdminToken});
  const std::vector<std::string> requests = {
      "POST /queue/join/\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "GET /queue/status/\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "POST /queue/leave/a\xc3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "GET /queue/events/\xc3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "GET /ws/\xc3\xff HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  };
  for (const auto& request : requests) {
    const auto [status, body] = raw_exchange(port(), request);
    const auto what = request.substr(0, request.find(" HTTP/"));
    EXPECT_EQ(status, 422) << what << ": " << body;
    const auto json = Json::parse(body, nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << what << ": not JSON (or not UTF-8): " << body;
    EXPECT_EQ(json.value("detail", "").rfind("invalid user id: ", 0), 0u) << what << ": " << body;
  }

  // A setting's value echoed in its error, cut where a character is two bytes long.
  std::string cut_value = "x";
  for (int i = 0; i < 40; ++i) cut_value += "\xc3\xa9";  // "é" forty times
  const auto settings = client().post(
      "/queue/admin/settings", Json{{"session_duration", cut_value}}.dump(), bearer(kAdminToken));
  EXPECT_EQ(settings.status, 422) << settings.describe();
  EXPECT_FALSE(settings.json().is_discarded()) << settings.describe();
  expect_healthy();
}

TEST_F(BadInputTest, ExpectContinueIsAnsweredBeforeTheBody) {
  WAITROOM_START_SERVER({"--admin-token", kAdminToken});
  const std::string body = R"({"paused":true})";
  RawConnection connection(port());
  ASSERT_TRUE(connection.send(
      "POST /queue/admin/settings HTTP/1.1\r\nHost: x\r\n"
      "Authorization: Bearer " +
      std::string(kAdminToken) + "\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"));
  // The client holds its body back until it hears 100 (or gives up waiting, as curl does
  // after a second): nothing else can come before the body, so the read is bounded by time.
  connection.read_until_closed(500ms);
  ASSERT_EQ(connection.received().rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u)
      << connection.received();
  ASSERT_TRUE(connection.send(body));
  EXPECT_EQ(connection.read_until_closed(5s), RawConnection::ReadOutcome::closed);
  EXPECT_NE(connection.received().find("HTTP/1.1 200 OK"), std::string::npos)
      << connection.received();
  EXPECT_EQ(client().metrics().json().value("paused", Json()), true);
}

TEST_F(BadInputTest, AnHttp11RequestWithoutHostIsRefused) {
  WAITROOM_START_SERVER({});
  RawConnection connection(port());
  ASSERT_TRUE(connection.send("GET /health HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(connection.read_until_closed(5s), RawConnection::ReadOutcome::closed);
  EXPECT_EQ(connection.received().rfind("HTTP/1.1 400 ", 0), 0u) << connection.received();
  EXPECT_NE(connection.received().find("Host header"), std::string::npos) << connection.received();
  RawConnection old(port());  // HTTP/1.0 has no such rule
  ASSERT_TRUE(old.send("GET /health HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(old.read_until_closed(5s), RawConnection::ReadOutcome::closed);
  EXPECT_EQ(old.received().rfind("HTTP/1.0 200 ", 0), 0u) << old.received();
}

TEST_F(BadInputTest, GarbageBytesCloseTheConnection) {
  WAITROOM_START_SERVER({});
  const std::vector<std::string> garbage = {
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS hello
      "GARBAGE\r\n\r\n",
      "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
      "GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      std::string("GET /health HTTP/1.1\r\nHo\0st: x\r\n\r\n", 34),
  };
  for (const auto& bytes : garbage) {
    RawConnection raw(port());
    raw.send(bytes);
    const auto outcome = raw.read_until_closed(5s);
    EXPECT_EQ(outcome, RawConnection::ReadOutcome::closed)
        << "connection left open after garbage; received: " << raw.received();
    const bool answered_400 = raw.received().rfind("HTTP/1.1 4", 0) == 0;
    EXPECT_TRUE(raw.received().empty() || answered_400) << raw.received();
    expect_healthy();
  }
}

TEST_F(BadInputTest, SlowlorisIsClosedByTheHeaderTimeout) {
  WAITROOM_START_SERVER({"--header-timeout", "1s"});
  const auto started = Clock::now();
  RawConnection stalled(port());
  ASSERT_TRUE(stalled.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"));

  // Others are served meanwhile, without delay.
  for (int i = 0; i < 5; ++i) {
    const auto before = Clock::now();
    EXPECT_EQ(client().health().status, 200);
    EXPECT_LT(Clock::now() - before, 500ms);
  }
  const auto stalled_outcome = stalled.read_until_closed(5s);
  const auto stalled_closed = Clock::now() - started;
  EXPECT_EQ(stalled_outcome, RawConnection::ReadOutcome::closed) << "stalled connection kept";
  EXPECT_GE(stalled_closed, 900ms);
  EXPECT_LT(stalled_closed, 3000ms);
  std::cout << "[ measure ] stalled header closed after "
            << std::chrono::duration<double, std::milli>(stalled_closed).count() << " ms\n";
  // Either nothing or a 408 was sent before closing.
  EXPECT_TRUE(stalled.received().empty() || stalled.received().rfind("HTTP/1.1 408", 0) == 0)
      << stalled.received();
  expect_healthy();
}

TEST_F(BadInputTest, TricklingHeadersAreCutOffByTheHeaderTimeout) {
  // The deadline is for the whole header: a client sending one header line every 200 ms
  // must not keep the connection (and its buffer) forever.
  WAITROOM_START_SERVER({"--header-timeout", "1s"});
  const auto started = Clock::now();
  RawConnection trickle(port());
  ASSERT_TRUE(trickle.send("GET /health HTTP/1.1\r\n"));
  std::optional<Clock::duration> closed_after;
  int lines_sent = 0;
  while (Clock::now() - started < 6s) {
    if (trickle.read_until_closed(200ms) == RawConnection::ReadOutcome::closed) {
      closed_after = Clock::now() - started;
      break;
    }
    trickle.send("X-Slow-" + std::to_string(++lines_sent) + ": 1\r\n");
  }
  ASSERT_TRUE(closed_after) << "a trickling header was never cut off (" << lines_sent
                            << " header lines over 6 s)";
  EXPECT_LT(*closed_after, 3000ms) << "the header timeout is re-armed by each read";
  std::cout << "[ measure ] trickling header closed after "
            << std::chrono::duration<double, std::milli>(*closed_after).count() << " ms\n";
  EXPECT_EQ(client().health().status, 200);
  expect_healthy();
}

}  // namespace
}  // namespace waitroom::test
