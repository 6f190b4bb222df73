// The waiting-room page: what the configuration may change in it, and the page itself.
//
// The page is a template (web/waiting-room.html) filled in per request: the language is
// chosen from Accept-Language (English or French; both string tables travel in the page, so
// the language can be switched without a reload), and every setting a deployer may change
// (service name, logo, colours, welcome text) is escaped into it. Every URL in the page is
// absolute under `prefix`, so the gate can serve it at whatever path the browser asked for.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace waitroom::web {

struct PageOptions {
  // Where waitroom's own routes live: "" without an upstream, "/_waitroom" by default with
  // one. Set by the wiring, not a page setting; must be "" or "/" followed by URL-safe
  // characters.
  std::string prefix;
  // Behind the gate: confirming reloads the page (the gate then lets the user through) and
  // the connected screen links to the service. Set by the wiring.
  bool has_upstream = false;

  std::string service_name = "waitroom";
  std::string logo_url;                      // empty: no logo
  std::string theme_color = "#1d4ed8";       // buttons, progress, the position number
  std::string theme_background = "#f3f5f9";  // the page behind the card
  std::string theme_text = "#111827";
  std::string welcome_text;     // shown under every screen; empty: nothing
  std::string welcome_text_fr;  // the French version; empty: welcome_text
  // Non-empty: read the web files from this directory at each request (live editing)
  // instead of the copies embedded in the binary.
  std::filesystem::path web_root;
};

enum class Language : std::uint8_t { en, fr };

// The best of English and French for an Accept-Language header (RFC 9110 §12.5.4: q-values,
// language ranges, "*"); English when neither is acceptable or the header is malformed.
Language choose_language(std::string_view accept_language);
std::string_view language_code(Language language);

// The whole page, in the language chosen from `accept_language`.
std::string waiting_room_html(const PageOptions& options, std::string_view accept_language);

// The Content-Security-Policy the page is written for: nothing from elsewhere but the logo.
std::string_view waiting_room_csp();

// Checks of the settings that cannot fail a start but deserve a word in the log (colours
// whose contrast is too low to read, per WCAG 2.1).
std::vector<std::string> page_warnings(const PageOptions& options);

// Validation of the page settings, for the configuration table: an empty string when the
// value is acceptable, otherwise what is wrong with it.
std::string check_colour(std::string_view value);
std::string check_logo_url(std::string_view value);
std::string check_page_text(std::string_view value, std::size_t max_length);

// Escapes text for HTML element content and quoted attribute values.
std::string escape_html(std::string_view text);

}  // namespace waitroom::web
