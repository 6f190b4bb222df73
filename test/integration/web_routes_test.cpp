// Checks the waiting room's browser-facing routes on the real server: the page (HTML, the
// language of Accept-Language, the settings given as flags, its security headers), the
// assets (content types, ETag and 304, a year of cache only for the versioned URL, 404 JSON
// for anything else; --web-root serves edited files from disk, never cached), and GET
// /queue/me, which answers who the ticket cookie says the caller
// is, nothing for a bearer token or a forged, missing or outdated ticket, and the admission
// switch. HEAD is answered on every GET route but the streams, like GET without the body.
#include <fstream>
#include <regex>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {
namespace {

class WebRoutesTest : public WaitroomTest {};

TEST_F(WebRoutesTest, ThePageInTheCallersLanguage) {
  WAITROOM_START_SERVER({"--service-name", "Lucie", "--theme-color", "#0a7d55"});
  const auto english = client().get("/");
  ASSERT_EQ(english.status, 200) << english.describe();
  EXPECT_EQ(english.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(english.header("Cache-Control"), "no-store");
  EXPECT_EQ(english.header("Vary"), "Accept-Language");
  EXPECT_EQ(english.header("X-Content-Type-Options"), "nosniff");
  const auto csp = english.header("Content-Security-Policy");
  ASSERT_TRUE(csp);
  EXPECT_NE(csp->find("script-src 'self'"), std::string::npos) << *csp;
  EXPECT_NE(csp->find("frame-ancestors 'none'"), std::string::npos) << *csp;
  EXPECT_NE(english.body.find("<html lang=\"en\">"), std::string::npos);
  EXPECT_NE(english.body.find("<title>Waiting room – Lucie</title>"), std::string::npos);

  const auto french = client().get("/", {{"Accept-Language", "fr-CA,fr;q=0.9,en;q=0.5"}});
  ASSERT_EQ(french.status, 200);
  EXPECT_NE(french.body.find("<html lang=\"fr\">"), std::string::npos);
  EXPECT_NE(french.body.find("Salle d&#39;attente – Lucie"), std::string::npos);

  // The theme follows the flags.
  const std::regex theme_link(R"re(href="(/assets/theme\.css\?v=[0-9a-f]+)")re");
  std::smatch link;
  ASSERT_TRUE(std::regex_search(english.body, link, theme_link));
  const auto theme = client().get(link[1].str());
  ASSERT_EQ(theme.status, 200) << theme.describe();
  EXPECT_NE(theme.body.find("--wr-accent: #0a7d55;"), std::string::npos) << theme.body;

  const auto post = client().post("/");
  EXPECT_EQ(post.status, 405) << post.describe();
  EXPECT_EQ(post.json()["detail"], "method not allowed");
}

TEST_F(WebRoutesTest, AssetsAreCachedByVersionAndRevalidatedOtherwise) {
  WAITROOM_START_SERVER({});
  const auto script = client().get("/assets/overlay.js");
  ASSERT_EQ(script.status, 200) << script.describe();
  EXPECT_EQ(script.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(script.header("Cache-Control"), "no-cache");
  const auto etag = script.header("ETag");
  ASSERT_TRUE(etag);
  EXPECT_NE(script.body.find("waitroomOverlay"), std::string::npos);

  const auto again = client().get("/assets/overlay.js", {{"If-None-Match", *etag}});
  EXPECT_EQ(again.status, 304) << again.describe();
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.header("ETag"), etag);
  const auto changed = client().get("/assets/overlay.js", {{"If-None-Match", "\"other\""}});
  EXPECT_EQ(changed.status, 200);

  const std::string version = etag->substr(1, etag->size() - 2);
  const auto versioned = client().get("/assets/overlay.js?v=" + version);
  EXPECT_EQ(versioned.header("Cache-Control"), "public, max-age=31536000, immutable");
  const auto stale = client().get("/assets/overlay.js?v=0000000000000000");
  EXPECT_EQ(stale.header("Cache-Control"), "no-cache");

  EXPECT_EQ(client().get("/assets/waiting-room.css").header("Content-Type"),
            "text/css; charset=utf-8");
  EXPECT_EQ(client().get("/assets/favicon.svg").header("Content-Type"), "image/svg+xml");
  for (const char* path : {"/assets/nope.js", "/assets/waiting-room.html", "/assets/strings.json",
                           "/assets/%2e%2e%2fCMakeLists.txt", "/assets/..", "/assets/a%00b"}) {
    const auto missing = client().get(path);
    EXPECT_EQ(missing.status, 404) << path << ": " << missing.describe();
    EXPECT_EQ(missing.json()["detail"], "not found") << path;
  }
}

TEST_F(WebRoutesTest, HeadIsAnsweredLikeGetWithoutTheBody) {
  // Load balancers check health with HEAD; curl -I asks for any page.
  WAITROOM_START_SERVER({"--prefix", "/_waitroom", "--admin-token", kAdminToken});
  const std::vector<std::pair<std::string, Headers>> targets = {
      {"/_waitroom/health", {}},
      {"/_waitroom/", {{"Accept-Language", "fr"}}},
      {"/_waitroom", {}},
      {"/_waitroom/assets/overlay.js", {}},
      {"/_waitroom/assets/waiting-room.css", {}},
      {"/_waitroom/metrics", {}},
      {"/_waitroom/queue/metrics", {}},
      {"/_waitroom/queue/status/nobody", {}},
      {"/_waitroom/queue/me", {}},
      {"/_waitroom/queue/admin/settings", bearer(kAdminToken)},
  };
  for (const auto& [target, headers] : targets) {
    const auto get = client().request("GET", target, {}, headers);
    const auto head = client().request("HEAD", target, {}, headers);
    EXPECT_EQ(head.status, get.status) << "HEAD " << target << ": " << head.describe();
    EXPECT_TRUE(head.body.empty()) << "HEAD " << target;
    EXPECT_EQ(head.header("Content-Length"), std::to_string(get.body.size())) << "HEAD " << target;
    EXPECT_EQ(head.header("Content-Type"), get.header("Content-Type")) << "HEAD " << target;
    EXPECT_EQ(head.header("Cache-Control"), get.header("Cache-Control")) << "HEAD " << target;
  }
  // An error answer to HEAD has no body either, and the connection goes on.
  const auto missing = client().request("HEAD", "/_waitroom/assets/nope.js");
  EXPECT_EQ(missing.status, 404) << missing.describe();
  EXPECT_TRUE(missing.body.empty());
  // The streams have no meaning without their body.
  for (const char* target : {"/_waitroom/queue/events/u1", "/_waitroom/ws/u1"}) {
    const auto stream = client().request("HEAD", target);
    EXPECT_EQ(stream.status, 405) << target << ": " << stream.describe();
    EXPECT_EQ(stream.header("Allow"), "GET") << target;
  }
  EXPECT_EQ(client().post("/_waitroom/health").header("Allow"), "GET, HEAD");
  EXPECT_EQ(client().health().status, 404);  // outside the prefix
  EXPECT_EQ(client().get("/_waitroom/health").status, 200);
}

TEST_F(WebRoutesTest, WebRootServesTheFilesOnDisk) {
  TempDir web_root("waitroom-web-root");
  std::ofstream(web_root.path() / "waiting-room.css") << "body { color: #123456; }\n";
  std::ofstream(web_root.path() / "waiting-room.html") << "<p>{{service_name}} edited</p>\n";
  WAITROOM_START_SERVER({"--web-root", web_root.path().string(), "--service-name", "Lucie"});
  const auto page = client().get("/");
  EXPECT_EQ(page.body, "<p>Lucie edited</p>\n");
  const auto css = client().get("/assets/waiting-room.css");
  ASSERT_EQ(css.status, 200) << css.describe();
  EXPECT_EQ(css.body, "body { color: #123456; }\n");
  // Even its versioned URL is revalidated: the file may change at any moment.
  const auto etag = css.header("ETag");
  ASSERT_TRUE(etag);
  const auto versioned =
      client().get("/assets/waiting-room.css?v=" + etag->substr(1, etag->size() - 2));
  EXPECT_EQ(versioned.header("Cache-Control"), "no-cache");
  // A file missing from the directory: the embedded copy.
  const auto script = client().get("/assets/overlay.js");
  EXPECT_NE(script.body.find("waitroomOverlay"), std::string::npos);
}

TEST_F(WebRoutesTest, MeAnswersWhoTheTicketSays) {
  WAITROOM_START_SERVER(
      {"--max-active-users", "1", "--idle-timeout", "60s", "--admin-token", kAdminToken});
  auto me = client().get("/queue/me");
  ASSERT_EQ(me.status, 200) << me.describe();
  EXPECT_EQ(me.header("Cache-Control"), "no-store");
  Json json = me.json();
  EXPECT_TRUE(json["user_id"].is_null()) << me.describe();
  EXPECT_EQ(json["paused"], false);
  EXPECT_EQ(json["expiring_soon"], 60);
  EXPECT_EQ(json["heartbeat_interval"], 20);  // a third of the idle timeout

  const std::string holder = ticket_of(client().join("holder"));
  const std::string waiter = ticket_of(client().join("waiter"));
  me = client().get("/queue/me", ticket_cookie(waiter));
  json = me.json();
  EXPECT_EQ(json["user_id"], "waiter") << me.describe();
  EXPECT_EQ(json["status"], "waiting");
  EXPECT_EQ(json["position"], 1);
  EXPECT_TRUE(json["estimated_wait"].is_number());
  me = client().get("/queue/me", ticket_cookie(holder));
  json = me.json();
  EXPECT_EQ(json["user_id"], "holder") << me.describe();
  EXPECT_EQ(json["status"], "draft");
  EXPECT_TRUE(json["remaining_time"].is_number());

  // Reading "me" is no proof of presence or activity, and changes nothing.
  EXPECT_EQ(client().metrics().json()["waiting_users"], 1);

  // A bearer token is not an identity here (behind the gate, Authorization is the
  // upstream's); nor is a forged or damaged ticket.
  EXPECT_TRUE(client().get("/queue/me", bearer(holder)).json()["user_id"].is_null());
  std::string forged = waiter;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_TRUE(client().get("/queue/me", ticket_cookie(forged)).json()["user_id"].is_null());
  EXPECT_TRUE(client().get("/queue/me", ticket_cookie("garbage")).json()["user_id"].is_null());

  // A disconnected user is told why.
  ASSERT_EQ(client().leave("waiter", bearer(waiter)).status, 200);
  json = client().get("/queue/me", ticket_cookie(waiter)).json();
  EXPECT_EQ(json["status"], "disconnected");
  EXPECT_EQ(json["reason"], "left");

  // The admission switch.
  ASSERT_EQ(client().post("/queue/admin/pause", "", bearer(kAdminToken)).status, 200);
  EXPECT_EQ(client().get("/queue/me").json()["paused"], true);
}

TEST_F(WebRoutesTest, MeIgnoresATicketOfAnOlderGeneration) {
  WAITROOM_START_SERVER({"--disconnected-retention", "300ms"});
  const std::string old_ticket = ticket_of(client().join("reused"));
  ASSERT_EQ(client().leave("reused", bearer(old_ticket)).status, 200);
  ASSERT_TRUE(wait_until_forgotten(client(), "reused"));
  // Forgotten: the ticket still names the id, which is free to take again.
  auto json = client().get("/queue/me", ticket_cookie(old_ticket)).json();
  EXPECT_EQ(json["user_id"], "reused");
  EXPECT_TRUE(json["status"].is_null());
  // Taken again by someone else: the old ticket is nobody's.
  ASSERT_EQ(client().join("reused").status, 200);
  json = client().get("/queue/me", ticket_cookie(old_ticket)).json();
  EXPECT_TRUE(json["user_id"].is_null()) << json.dump();
}

TEST_F(WebRoutesTest, OpenModeHasNoIdentity) {
  WAITROOM_START_SERVER({"--auth-mode", "open"});
  ASSERT_EQ(client().join("someone").status, 200);
  const auto json = client().get("/queue/me").json();
  EXPECT_TRUE(json["user_id"].is_null());
  EXPECT_EQ(json["paused"], false);
}

}  // namespace
}  // namespace waitroom::test
