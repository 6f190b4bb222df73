// Checks what the gate changes in relayed headers (src/gate/headers.hpp) and how its
// watchers read a notification: hop-by-hop fields (those Connection names too) removed,
// a WebSocket handshake's Upgrade kept, X-Forwarded-* appended or kept, X-Waitroom-User
// replaced, the ticket cookie removed, a Host added when an HTTP/1.0 client sent none,
// navigations told from fetches, the overlay put
// before the last </body>, and which notifications end a session.
#include <gtest/gtest.h>

#include "gate/headers.hpp"
#include "gate/traffic.hpp"

namespace waitroom::gate {
namespace {

namespace beast_http = boost::beast::http;

RequestHeader request(beast_http::verb method = beast_http::verb::get) {
  RequestHeader header;
  header.method(method);
  header.target("/x");
  header.version(11);
  return header;
}

TEST(GateHeaders, HopByHopFieldsAreRemoved) {
  auto header = request();
  header.set("Connection", "keep-alive, X-One");
  header.insert("Connection", "x-two");
  header.set("X-One", "1");
  header.set("X-Two", "2");
  header.set("Keep-Alive", "timeout=5");
  header.set("TE", "trailers");
  header.set("Trailer", "X-Sum");
  header.set("Upgrade", "h2c");
  header.set("Proxy-Authorization", "Basic x");
  header.set("Proxy-Connection", "keep-alive");
  header.set("X-Kept", "yes");
  strip_hop_by_hop(header, false);
  for (const char* gone : {"Connection", "X-One", "X-Two", "Keep-Alive", "TE", "Trailer", "Upgrade",
                           "Proxy-Authorization", "Proxy-Connection"}) {
    EXPECT_EQ(header.find(gone), header.end()) << gone;
  }
  EXPECT_EQ(header["X-Kept"], "yes");
}

TEST(GateHeaders, WebSocketHandshakeKeepsItsUpgrade) {
  auto header = request();
  header.set("Connection", "keep-alive, Upgrade");
  header.set("Upgrade", "websocket");
  header.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  ASSERT_TRUE(is_websocket_upgrade(header));
  prepare_upstream_request(header, {"127.0.0.1", "alice"});
  EXPECT_EQ(header["Connection"], "Upgrade");
  EXPECT_EQ(header["Upgrade"], "websocket");
  EXPECT_EQ(header["Sec-WebSocket-Key"], "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_FALSE(is_websocket_upgrade(request(beast_http::verb::post)));
}

TEST(GateHeaders, ForwardedFieldsAndIdentity) {
  auto header = request();
  header.set("Host", "chat.example");
  header.set("X-Waitroom-User", "mallory");
  header.insert("X-Waitroom-User", "eve");
  header.set("Expect", "100-continue");
  header.set("Cookie", "a=1; waitroom_ticket=v1.x.1.y; b=2");
  prepare_upstream_request(header, {"10.1.2.3", "alice"});
  EXPECT_EQ(header.count("X-Waitroom-User"), 1u);
  EXPECT_EQ(header["X-Waitroom-User"], "alice");
  EXPECT_EQ(header["X-Forwarded-For"], "10.1.2.3");
  EXPECT_EQ(header["X-Forwarded-Proto"], "http");
  EXPECT_EQ(header["X-Forwarded-Host"], "chat.example");
  EXPECT_EQ(header["Cookie"], "a=1; b=2");
  EXPECT_EQ(header.find("Expect"), header.end());

  // Behind a TLS terminator: its X-Forwarded-* are kept, the address appended.
  auto behind = request();
  behind.set("X-Forwarded-For", "198.51.100.7");
  behind.set("X-Forwarded-Proto", "https");
  behind.set("X-Forwarded-Host", "public.example");
  behind.set("Cookie", "waitroom_ticket=v1.x.1.y");
  prepare_upstream_request(behind, {"127.0.0.1", "bob"});
  EXPECT_EQ(behind["X-Forwarded-For"], "198.51.100.7, 127.0.0.1");
  EXPECT_EQ(behind["X-Forwarded-Proto"], "https");
  EXPECT_EQ(behind["X-Forwarded-Host"], "public.example");
  EXPECT_EQ(behind.find("Cookie"), behind.end());
}

TEST(GateHeaders, AnHttp10RequestWithoutHostGetsTheUpstreamsHost) {
  // HTTP/1.0 needs no Host, the HTTP/1.1 request to the upstream does (RFC 9112 §3.2).
  auto old = request();
  old.version(10);
  prepare_upstream_request(old, {"10.1.2.3", "alice", "openwebui:8080"});
  EXPECT_EQ(old.version(), 11u);
  EXPECT_EQ(old[beast_http::field::host], "openwebui:8080");
  EXPECT_EQ(old.find("X-Forwarded-Host"), old.end()) << "the client named no host";
  // A Host the client sent is kept, whatever its version.
  auto named = request();
  named.version(10);
  named.set("Host", "chat.example");
  prepare_upstream_request(named, {"10.1.2.3", "alice", "openwebui:8080"});
  EXPECT_EQ(named[beast_http::field::host], "chat.example");

  EXPECT_EQ(upstream_authority("openwebui", 80), "openwebui");
  EXPECT_EQ(upstream_authority("openwebui", 8080), "openwebui:8080");
  EXPECT_EQ(upstream_authority("::1", 8080), "[::1]:8080");
  EXPECT_EQ(upstream_authority("::1", 80), "[::1]");
}

TEST(GateHeaders, NavigationsAreToldFromFetches) {
  auto page = request();
  page.set("Accept", "text/html,application/xhtml+xml;q=0.9");
  EXPECT_TRUE(is_navigation(page));
  auto navigate = request(beast_http::verb::head);
  navigate.set("Sec-Fetch-Mode", "navigate");
  EXPECT_TRUE(is_navigation(navigate));
  auto fetch = request();
  fetch.set("Accept", "application/json");
  EXPECT_FALSE(is_navigation(fetch));
  auto post = request(beast_http::verb::post);
  post.set("Accept", "text/html");
  EXPECT_FALSE(is_navigation(post));
}

TEST(GateHeaders, OverlayGoesBeforeTheLastBodyEnd) {
  std::string html =
      "<html><body><p>&lt;/body&gt; in text</p></body>\n<!-- </BODY> --></Body></html>";
  inject_before_body_end(html, "<script></script>");
  EXPECT_EQ(html,
            "<html><body><p>&lt;/body&gt; in text</p></body>\n<!-- </BODY> "
            "--><script></script></Body></html>");
  std::string bare = "<p>no body end</p>";
  inject_before_body_end(bare, "<s>");
  EXPECT_EQ(bare, "<p>no body end</p><s>");
  EXPECT_TRUE(is_html("text/html; charset=utf-8"));
  EXPECT_TRUE(is_html("TEXT/HTML"));
  EXPECT_FALSE(is_html("text/html-sandboxed"));
  EXPECT_FALSE(is_html("application/json"));
}

TEST(GateTraffic, WhichNotificationsEndASession) {
  EXPECT_FALSE(
      UserWatch::ends_session(R"({"user_id":"u","status":"connected","session_duration":60})"));
  EXPECT_FALSE(
      UserWatch::ends_session(R"({"user_id":"u","status":"expiring_soon","remaining_time":5})"));
  EXPECT_TRUE(
      UserWatch::ends_session(R"({"user_id":"u","status":"disconnected","reason":"kicked"})"));
  EXPECT_TRUE(UserWatch::ends_session(R"({"user_id":"u","status":"waiting","position":3})"));
  EXPECT_TRUE(UserWatch::ends_session(R"({"user_id":"u","status":null})"));
}

}  // namespace
}  // namespace waitroom::gate
