// Checks the gate's 502 page (src/gate/page.hpp): in the visitor's language (Accept-Language
// with q-values), in the waiting room's look (its style sheets under the prefix, the
// service's name escaped, the logo), with a link to try again and a refresh that retries by
// itself.
#include <gtest/gtest.h>

#include "gate/page.hpp"

namespace waitroom::gate {
namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(GatePage, UnavailablePageLooksLikeTheWaitingRoom) {
  web::PageOptions options;
  options.prefix = "/_waitroom";
  options.service_name = "Lucie <beta>";
  const auto html = upstream_unavailable_page(options, "en-GB,en;q=0.8");
  EXPECT_TRUE(contains(html, "<html lang=\"en\">")) << html;
  EXPECT_TRUE(contains(html, "<title>Service unavailable – Lucie &lt;beta&gt;</title>")) << html;
  EXPECT_TRUE(contains(html, "href=\"/_waitroom/assets/waiting-room.css?v=")) << html;
  EXPECT_TRUE(contains(html, "href=\"/_waitroom/assets/theme.css?v=")) << html;
  EXPECT_TRUE(contains(html, "<span class=\"service-name\">Lucie &lt;beta&gt;</span>")) << html;
  EXPECT_FALSE(contains(html, "<beta>")) << html;
  EXPECT_FALSE(contains(html, "<img")) << "no logo configured: " << html;
  EXPECT_TRUE(contains(html, "<h1 id=\"wr-heading\">Service unavailable</h1>")) << html;
  EXPECT_TRUE(contains(html, "<meta http-equiv=\"refresh\" content=\"" +
                                 std::to_string(kUnavailableRetrySeconds) + "\">"))
      << html;
  EXPECT_TRUE(contains(html, "<a class=\"button primary\" id=\"wr-retry\" href=\"\">Try again</a>"))
      << html;
}

TEST(GatePage, UnavailablePageSpeaksFrenchWhenPreferred) {
  web::PageOptions options;
  options.prefix = "/_waitroom";
  options.logo_url = "/logo.png?a=1&b=2";
  const auto html = upstream_unavailable_page(options, "de;q=0.9, fr-CA;q=0.95, en;q=0.5");
  EXPECT_TRUE(contains(html, "<html lang=\"fr\">")) << html;
  EXPECT_TRUE(contains(html, "<h1 id=\"wr-heading\">Service indisponible</h1>")) << html;
  EXPECT_TRUE(contains(html, ">Réessayer</a>")) << html;
  EXPECT_TRUE(contains(html, "<img class=\"logo\" src=\"/logo.png?a=1&amp;b=2\" alt=\"\">"))
      << html;
  // English is the answer to anything else, including a malformed header.
  EXPECT_TRUE(contains(upstream_unavailable_page(options, ";;q=x,"), "lang=\"en\""));
}

}  // namespace
}  // namespace waitroom::gate
