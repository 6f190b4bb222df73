// Checks route matching: parameters, query strings, 404 for unknown paths and 405 with
// the allowed methods for known paths under another method.
#include <gtest/gtest.h>

#include "http/router.hpp"

namespace waitroom::http {
namespace {

using boost::beast::http::verb;
using Kind = RouteMatch::Kind;

TEST(Router, MatchesParameterRoutes) {
  const auto router = Router::api_routes();
  auto match = router.match(verb::get, "/queue/status/u1");
  ASSERT_EQ(match.kind, Kind::found);
  EXPECT_EQ(match.route, RouteId::status);
  EXPECT_EQ(match.parameter, "u1");

  match = router.match(verb::post, "/queue/join/a%40b?x=1");
  ASSERT_EQ(match.kind, Kind::found);
  EXPECT_EQ(match.route, RouteId::join);
  EXPECT_EQ(match.parameter, "a%40b");
}

TEST(Router, DistinguishesLiteralAndParameterRoutes) {
  const auto router = Router::api_routes();
  auto match = router.match(verb::post, "/queue/heartbeat");
  ASSERT_EQ(match.kind, Kind::found);
  EXPECT_EQ(match.route, RouteId::heartbeat_body);
  match = router.match(verb::post, "/queue/heartbeat/u2");
  ASSERT_EQ(match.kind, Kind::found);
  EXPECT_EQ(match.route, RouteId::heartbeat);
  EXPECT_EQ(match.parameter, "u2");
}

TEST(Router, UnknownPathsAreNotFound) {
  const auto router = Router::api_routes();
  EXPECT_EQ(router.match(verb::get, "/nope").kind, Kind::not_found);
  EXPECT_EQ(router.match(verb::get, "/queue/status/").kind, Kind::not_found);
  EXPECT_EQ(router.match(verb::get, "/queue/status/a/b").kind, Kind::not_found);
  EXPECT_EQ(router.match(verb::get, "/healthz").kind, Kind::not_found);
}

TEST(Router, OtherMethodIsNotAllowedWithAllowList) {
  const auto router = Router::api_routes();
  auto match = router.match(verb::get, "/queue/join/u1");
  EXPECT_EQ(match.kind, Kind::method_not_allowed);
  EXPECT_EQ(match.allow, "POST");
  match = router.match(verb::delete_, "/queue/admin/settings");
  EXPECT_EQ(match.kind, Kind::method_not_allowed);
  EXPECT_EQ(match.allow, "GET, HEAD, POST");
}

TEST(Router, HeadIsAnsweredLikeGetExceptOnTheStreams) {
  const auto router = Router::api_routes("/_waitroom");
  for (const auto* target :
       {"/_waitroom/health", "/_waitroom/", "/_waitroom", "/_waitroom/metrics",
        "/_waitroom/assets/overlay.js", "/_waitroom/queue/status/u1", "/_waitroom/queue/me",
        "/_waitroom/queue/metrics", "/_waitroom/queue/admin/settings", "/_waitroom/authz"}) {
    const auto get = router.match(verb::get, target);
    const auto head = router.match(verb::head, target);
    ASSERT_EQ(head.kind, Kind::found) << target;
    EXPECT_EQ(head.route, get.route) << target;
    EXPECT_EQ(head.parameter, get.parameter) << target;
  }
  // A stream has no answer without its body.
  for (const auto* target : {"/_waitroom/queue/events/u1", "/_waitroom/ws/u1"}) {
    const auto head = router.match(verb::head, target);
    EXPECT_EQ(head.kind, Kind::method_not_allowed) << target;
    EXPECT_EQ(head.allow, "GET") << target;
  }
  EXPECT_EQ(router.match(verb::head, "/_waitroom/queue/join/u1").kind, Kind::method_not_allowed);
  EXPECT_EQ(router.match(verb::post, "/_waitroom/health").allow, "GET, HEAD");
  EXPECT_EQ(router.match(verb::head, "/_waitroom/nope").kind, Kind::not_found);
}

TEST(Router, PrefixMovesEveryRouteUnderIt) {
  const auto router = Router::api_routes("/_waitroom");
  auto match = router.match(verb::get, "/_waitroom/queue/status/u1");
  ASSERT_EQ(match.kind, Kind::found);
  EXPECT_EQ(match.route, RouteId::status);
  EXPECT_EQ(match.parameter, "u1");
  EXPECT_EQ(router.match(verb::get, "/_waitroom/health").kind, Kind::found);
  EXPECT_EQ(router.match(verb::get, "/queue/status/u1").kind, Kind::not_found);
  EXPECT_EQ(router.match(verb::get, "/health").kind, Kind::not_found);
}

TEST(Router, PageAssetsAndMeLiveUnderThePrefix) {
  const auto root = Router::api_routes();
  EXPECT_EQ(root.match(verb::get, "/").route, RouteId::page);
  EXPECT_EQ(root.match(verb::get, "/?lang=fr").route, RouteId::page);
  EXPECT_EQ(root.match(verb::post, "/").kind, Kind::method_not_allowed);
  EXPECT_EQ(root.match(verb::get, "/queue/me").route, RouteId::me);
  auto match = root.match(verb::get, "/assets/overlay.js?v=1");
  ASSERT_EQ(match.kind, Kind::found);
  EXPECT_EQ(match.route, RouteId::asset);
  EXPECT_EQ(match.parameter, "overlay.js");
  EXPECT_EQ(root.match(verb::get, "/assets/").kind, Kind::not_found);
  EXPECT_EQ(root.match(verb::get, "/assets/a/b.js").kind, Kind::not_found);

  const auto gate = Router::api_routes("/_waitroom");
  EXPECT_EQ(gate.match(verb::get, "/_waitroom/").route, RouteId::page);
  EXPECT_EQ(gate.match(verb::get, "/_waitroom").route, RouteId::page);
  EXPECT_EQ(gate.match(verb::get, "/_waitroom/queue/me").route, RouteId::me);
  EXPECT_EQ(gate.match(verb::get, "/_waitroom/assets/overlay.js").route, RouteId::asset);
  // The upstream's paths stay the upstream's.
  EXPECT_EQ(gate.match(verb::get, "/").kind, Kind::not_found);
  EXPECT_EQ(gate.match(verb::get, "/assets/overlay.js").kind, Kind::not_found);
  EXPECT_EQ(gate.match(verb::get, "/_waitroomx").kind, Kind::not_found);
}

}  // namespace
}  // namespace waitroom::http
