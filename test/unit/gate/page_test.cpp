// Checks the gate's 502 page (src/gate/page.hpp): in the visitor's language (Accept-Language
// with q-values), in the waiting room's look (its style sheets under the prefix, the
// service's name escaped, the logo), with a link to try again and a refresh that retries by
// itself.
#include <gtest/gtest.h>

#include <initializer_list>

#include "gate/page.hpp"

namespace waitroom::gate {
namespace {

void expect_contains(const std::string& html, std::initializer_list<std::string_view> parts) {
  for (const auto part : parts) {
    EXPECT_NE(html.find(part), std::string::npos) << "missing " << part << " in\n" << html;
  }
}

TEST(GatePage, UnavailablePageLooksLikeTheWaitingRoom) {
  web::PageOptions options;
  options.prefix = "/_waitroom";
  options.service_name = "Lucie <beta>";
  const auto html = upstream_unavailable_page(options, "en-GB,en;q=0.8");
  const auto refresh =
      "<meta http-equiv=\"refresh\" content=\"" + std::to_string(kUnavailableRetrySeconds) + "\">";
  expect_contains(
      html,
      {"<html lang=\"en\">", "<title>Service unavailable – Lucie &lt;beta&gt;</title>",
       "href=\"/_waitroom/assets/waiting-room.css?v=", "href=\"/_waitroom/assets/theme.css?v=",
       "<span class=\"service-name\">Lucie &lt;beta&gt;</span>",
       "<h1 id=\"wr-heading\">Service unavailable</h1>", refresh,
       "<a class=\"button primary\" id=\"wr-retry\" href=\"\">Try again</a>"});
  EXPECT_EQ(html.find("<beta>"), std::string::npos) << html;
  EXPECT_EQ(html.find("<img"), std::string::npos) << "no logo configured: " << html;
}

TEST(GatePage, UnavailablePageSpeaksFrenchWhenPreferred) {
  web::PageOptions options;
  options.prefix = "/_waitroom";
  options.logo_url = "/logo.png?a=1&b=2";
  const auto html = upstream_unavailable_page(options, "de;q=0.9, fr-CA;q=0.95, en;q=0.5");
  expect_contains(
      html, {"<html lang=\"fr\">", "<h1 id=\"wr-heading\">Service indisponible</h1>",
             ">Réessayer</a>", "<img class=\"logo\" src=\"/logo.png?a=1&amp;b=2\" alt=\"\">"});
  // English is the answer to anything else, including a malformed header.
  expect_contains(upstream_unavailable_page(options, ";;q=x,"), {"lang=\"en\""});
}

}  // namespace
}  // namespace waitroom::gate
