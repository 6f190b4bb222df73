// Checks the waiting-room page without a server: the language chosen from Accept-Language
// (weights, ranges, "*", malformed and oversized headers), the page in each language with
// every URL under the prefix, every setting escaped (HTML and the script's JSON block), the
// validators of the page settings and their use by the configuration table, the derived
// palette's contrast, and the strings of both languages having the same keys.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "cli/config.hpp"
#include "web/assets.hpp"
#include "web/pages.hpp"

namespace waitroom::web {
namespace {

TEST(ChooseLanguage, FollowsWeightsAndOrder) {
  EXPECT_EQ(choose_language(""), Language::en);
  EXPECT_EQ(choose_language("fr"), Language::fr);
  EXPECT_EQ(choose_language("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7"), Language::fr);
  EXPECT_EQ(choose_language("en-GB,en;q=0.9,fr;q=0.8"), Language::en);
  EXPECT_EQ(choose_language("de-DE,de;q=0.9,fr;q=0.5,en;q=0.4"), Language::fr);
  EXPECT_EQ(choose_language("de-DE, en;q=0.3, fr-CA;q=0.6"), Language::fr);
  EXPECT_EQ(choose_language("FR-be"), Language::fr);
  EXPECT_EQ(choose_language("fr;q=1.0, en;q=1"), Language::fr);  // a tie: the first listed
  EXPECT_EQ(choose_language("en, fr"), Language::en);
  EXPECT_EQ(choose_language("fr-CA;q=0.2, fr;q=0.9, en;q=0.5"), Language::fr);  // best weight
}

TEST(ChooseLanguage, WildcardAndRefusals) {
  EXPECT_EQ(choose_language("*"), Language::en);
  EXPECT_EQ(choose_language("de, *;q=0.5"), Language::en);
  EXPECT_EQ(choose_language("en;q=0, *"), Language::fr);  // English refused, anything else ok
  EXPECT_EQ(choose_language("fr;q=0"), Language::en);
  EXPECT_EQ(choose_language("de, es"), Language::en);
}

TEST(ChooseLanguage, MalformedHeadersFallBackToEnglish) {
  EXPECT_EQ(choose_language("fr;q=2"), Language::en);
  EXPECT_EQ(choose_language("fr;q=abc"), Language::en);
  EXPECT_EQ(choose_language("fr;q=0.12345"), Language::en);
  EXPECT_EQ(choose_language("fr;level=1"), Language::en);
  EXPECT_EQ(choose_language(";;;,,,"), Language::en);
  EXPECT_EQ(choose_language(std::string(100000, ',') + "fr"), Language::en);  // past 4 KiB
  std::string many;
  for (int i = 0; i < 100; ++i) many += "de,";
  EXPECT_EQ(choose_language(many + "fr"), Language::en);  // past 64 ranges
  EXPECT_EQ(choose_language(std::string("fr\0en", 5)), Language::en);
}

TEST(WaitingRoomHtml, EnglishAndFrench) {
  PageOptions options;
  options.service_name = "Lucie";
  const auto english = waiting_room_html(options, "en-US,en");
  EXPECT_NE(english.find("<html lang=\"en\">"), std::string::npos);
  EXPECT_NE(english.find("<title>Waiting room – Lucie</title>"), std::string::npos);
  EXPECT_NE(english.find("Joining the queue…"), std::string::npos);
  const auto french = waiting_room_html(options, "fr-FR,fr;q=0.9");
  EXPECT_NE(french.find("<html lang=\"fr\">"), std::string::npos);
  EXPECT_NE(french.find("<title>Salle d&#39;attente – Lucie</title>"), std::string::npos);
  EXPECT_NE(french.find("Entrée dans la file…"), std::string::npos);
  // The language switch offers the other one.
  EXPECT_NE(french.find("lang=\"en\">English</button>"), std::string::npos);
  // No placeholder or template comment is left.
  for (const auto& page : {english, french}) {
    EXPECT_EQ(page.find("{{"), std::string::npos);
    EXPECT_EQ(page.find("double braces"), std::string::npos);
  }
}

TEST(WaitingRoomHtml, EveryUrlIsAbsoluteUnderThePrefix) {
  PageOptions options;
  options.prefix = "/_waitroom";
  const auto page = waiting_room_html(options, "");
  const std::regex url_attribute(R"re((?:src|href)="([^"]*)")re");
  int urls = 0;
  for (auto it = std::sregex_iterator(page.begin(), page.end(), url_attribute);
       it != std::sregex_iterator(); ++it) {
    const std::string url = (*it)[1];
    ++urls;
    // The continue link goes to the service itself; everything else is waitroom's.
    if (url == "/") continue;
    EXPECT_EQ(url.rfind("/_waitroom/assets/", 0), 0u) << url;
    EXPECT_NE(url.find("?v="), std::string::npos) << url;
  }
  EXPECT_GE(urls, 5);
  EXPECT_NE(page.find("\"prefix\":\"/_waitroom\""), std::string::npos);
}

TEST(WaitingRoomHtml, SettingsAreEscaped) {
  PageOptions options;
  options.service_name = "<script>alert('x')</script>&\"";
  options.logo_url = "https://example.org/logo.svg?a=1&b=2";
  options.welcome_text = "Hello </script><!-- <b>bold</b>";
  const auto page = waiting_room_html(options, "en");
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"),
            std::string::npos);
  EXPECT_NE(page.find("<img class=\"logo\" src=\"https://example.org/logo.svg?a=1&amp;b=2\" "
                      "alt=\"\">"),
            std::string::npos);
  // In the JSON block, no "</script" or "<!--" can close it early.
  const auto block_start = page.find("id=\"waitroom-config\">");
  ASSERT_NE(block_start, std::string::npos);
  const auto json_start = block_start + std::string("id=\"waitroom-config\">").size();
  const auto json_end = page.find("</script>", json_start);
  const auto block = page.substr(json_start, json_end - json_start);
  EXPECT_EQ(block.find('<'), std::string::npos) << block.substr(0, 200);
  const auto config = nlohmann::json::parse(block);
  EXPECT_EQ(config["service"], options.service_name);
  EXPECT_EQ(config["welcome"]["en"], options.welcome_text);
  EXPECT_EQ(config["welcome"]["fr"], options.welcome_text);  // no French text: the same
  EXPECT_EQ(config["has_upstream"], false);
}

TEST(WaitingRoomHtml, WelcomeTextPerLanguage) {
  PageOptions options;
  auto page = waiting_room_html(options, "en");
  EXPECT_NE(page.find("id=\"wr-welcome\" hidden></p>"), std::string::npos);
  options.welcome_text = "Open to everyone.";
  options.welcome_text_fr = "Ouvert à tous.";
  page = waiting_room_html(options, "fr");
  EXPECT_NE(page.find("id=\"wr-welcome\" >Ouvert à tous.</p>"), std::string::npos);
  page = waiting_room_html(options, "en");
  EXPECT_NE(page.find("id=\"wr-welcome\" >Open to everyone.</p>"), std::string::npos);
}

TEST(Strings, BothLanguagesHaveTheSameKeys) {
  const auto text = web_file(PageOptions{}, "strings.json");
  ASSERT_TRUE(text);
  const auto strings = nlohmann::json::parse(*text);
  ASSERT_TRUE(strings["en"].is_object());
  ASSERT_TRUE(strings["fr"].is_object());
  for (const auto& [key, value] : strings["en"].items()) {
    EXPECT_TRUE(strings["fr"].contains(key)) << "French lacks " << key;
    EXPECT_TRUE(value.is_string()) << key;
  }
  EXPECT_EQ(strings["en"].size(), strings["fr"].size());
}

TEST(PageSettings, Validators) {
  EXPECT_EQ(check_colour("#1d4ed8"), "");
  EXPECT_EQ(check_colour("#FFF"), "");
  for (const char* bad : {"", "1d4ed8", "#12345", "#ggg", "red", "#1234567", "#fff;x:y"}) {
    EXPECT_NE(check_colour(bad), "") << bad;
  }
  EXPECT_EQ(check_logo_url(""), "");
  EXPECT_EQ(check_logo_url("https://example.org/logo.png"), "");
  EXPECT_EQ(check_logo_url("/static/logo.svg"), "");
  EXPECT_EQ(check_logo_url("data:image/png;base64,AAAA"), "");
  for (const char* bad : {"javascript:alert(1)", "//evil.example/x.png", "logo.png", "https://a b",
                          "https://x/\"onerror=\"x", "https://x/<", "ftp://x"}) {
    EXPECT_NE(check_logo_url(bad), "") << bad;
  }
  EXPECT_NE(check_logo_url("https://x/" + std::string(3000, 'a')), "");
  EXPECT_EQ(check_page_text("Lucie, l'IA publique\nÀ votre service", 100), "");
  EXPECT_NE(check_page_text(std::string(101, 'a'), 100), "");
  EXPECT_NE(check_page_text("bell\x07", 100), "");
  EXPECT_NE(check_page_text("\xC3\x28", 100), "");      // invalid UTF-8
  EXPECT_NE(check_page_text("\xED\xA0\x80", 100), "");  // a surrogate
  EXPECT_NE(check_page_text("\xC0\xAF", 100), "");      // overlong
}

TEST(PageSettings, ComeFromTheConfigurationTable) {
  const auto command =
      cli::parse_command_line({"waitroom", "serve", "--service-name", "Lucie", "--theme-color",
                               "#0a7", "--logo-url", "/logo.svg", "--welcome-text-fr", "Bienvenue"},
                              {{"THEME_TEXT", "#222222"}, {"WELCOME_TEXT", "Welcome"}});
  const auto& page = command.config.page;
  EXPECT_EQ(page.service_name, "Lucie");
  EXPECT_EQ(page.theme_color, "#0a7");
  EXPECT_EQ(page.theme_text, "#222222");
  EXPECT_EQ(page.logo_url, "/logo.svg");
  EXPECT_EQ(page.welcome_text, "Welcome");
  EXPECT_EQ(page.welcome_text_fr, "Bienvenue");
  try {
    cli::parse_command_line({"waitroom", "serve", "--theme-background", "blue"}, {});
    FAIL() << "a colour name is refused";
  } catch (const cli::ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("theme_background (flag --theme-background)"),
              std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("#rgb or #rrggbb"), std::string::npos) << error.what();
  }
  EXPECT_THROW(cli::parse_command_line({"waitroom", "serve", "--logo-url", "javascript:x"}, {}),
               cli::ConfigError);
  EXPECT_THROW(cli::parse_command_line({"waitroom", "serve"}, {{"SERVICE_NAME", "a\x01"}}),
               cli::ConfigError);
}

TEST(Theme, DerivedColoursKeepTheirContrast) {
  PageOptions options;
  EXPECT_TRUE(page_warnings(options).empty());
  const auto css = theme_css(options);
  EXPECT_NE(css.find("--wr-accent: #1d4ed8;"), std::string::npos) << css;
  EXPECT_NE(css.find("--wr-accent-text: #ffffff;"), std::string::npos) << css;

  // A pale accent: the labels on it turn black, and as text it is darkened to stay legible.
  options.theme_color = "#ffe066";
  const auto pale = theme_css(options);
  EXPECT_NE(pale.find("--wr-accent-text: #000000;"), std::string::npos) << pale;
  EXPECT_EQ(pale.find("--wr-accent-on-background: #ffe066;"), std::string::npos) << pale;

  // Grey text on a grey background is reported.
  options.theme_text = "#888888";
  options.theme_background = "#777777";
  const auto warnings = page_warnings(options);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("theme_text #888888"), std::string::npos) << warnings[0];

  // A dark theme works too.
  options.theme_text = "#f5f5f5";
  options.theme_background = "#101418";
  options.theme_color = "#60a5fa";
  EXPECT_TRUE(page_warnings(options).empty());
}

}  // namespace
}  // namespace waitroom::web
