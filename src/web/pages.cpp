// The waiting-room page: the template, its strings and the checks of the page settings; see
// pages.hpp.
//
// The template syntax is the smallest that keeps the HTML a plain file: {{name}} is replaced
// by a value escaped for HTML, {{{name}}} by a value that is already safe (the JSON block,
// the logo element built here), and {{! text}} is a comment. An unknown name becomes nothing. The
// strings come from web/strings.json, which also travels whole in the page's JSON block for the
// script.
#include <nlohmann/json.hpp>

#include "web/assets.hpp"
#include "web/pages.hpp"

namespace waitroom::web {
namespace {

using nlohmann::json;

json parse_strings(std::string_view text) {
  auto parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("en") ||
      !parsed["en"].is_object()) {
    return json();
  }
  return parsed;
}

// The string table: parsed once from the embedded copy, or at each request from --web-root
// (falling back to the embedded one if the file on disk does not parse).
json strings_for(const PageOptions& options) {
  static const json embedded = parse_strings(*web_file(PageOptions{}, "strings.json"));
  if (!options.web_root.empty()) {
    if (auto text = web_file(options, "strings.json")) {
      auto parsed = parse_strings(*text);
      if (!parsed.is_null()) return parsed;
    }
  }
  return embedded;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// JSON for a <script type="application/json"> block: "<", ">" and "&" only ever occur inside
// strings there, where \u escapes mean the same, and without them no "</script>" or "<!--"
// can end the block early.
std::string script_safe(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + 64);
  for (char c : text) {
    switch (c) {
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += c;
    }
  }
  return out;
}

class PageRenderer {
 public:
  PageRenderer(const PageOptions& options, Language language)
      : options_(options),
        language_(language_code(language)),
        other_(language == Language::fr ? "en" : "fr"),
        strings_(strings_for(options)) {}

  std::string render(std::string_view page) const {
    std::string out;
    out.reserve(page.size() + 8192);
    while (!page.empty()) {
      const auto open = page.find("{{");
      if (open == std::string_view::npos) break;
      out += page.substr(0, open);
      page.remove_prefix(open);
      const bool raw = page.starts_with("{{{");
      const std::string_view close_mark = raw ? "}}}" : "}}";
      const std::size_t name_at = raw ? 3 : 2;
      const auto close = page.find(close_mark, name_at);
      if (close == std::string_view::npos) break;
      const std::string_view name = page.substr(name_at, close - name_at);
      page.remove_prefix(close + close_mark.size());
      if (name.starts_with('!')) {
        if (page.starts_with('\n')) page.remove_prefix(1);  // a comment takes its line along
        continue;
      }
      const std::string value = lookup(name);
      out += raw ? value : escape_html(value);
    }
    out += page;
    return out;
  }

 private:
  // A string of the table in the page's language (English when missing), with {service}.
  std::string text(std::string_view language, std::string_view key) const {
    const std::string name(key);
    for (std::string_view candidate : {language, std::string_view("en")}) {
      const std::string code(candidate);
      if (strings_.contains(code) && strings_[code].is_object() && strings_[code].contains(name) &&
          strings_[code][name].is_string()) {
        return replace_all(strings_[code][name].get<std::string>(), "{service}",
                           options_.service_name);
      }
    }
    return {};
  }

  std::string welcome(std::string_view language) const {
    if (language == "fr" && !options_.welcome_text_fr.empty()) return options_.welcome_text_fr;
    return options_.welcome_text;
  }

  std::string config_json() const {
    json config = {{"prefix", options_.prefix},
                   {"lang", language_},
                   {"service", options_.service_name},
                   {"has_upstream", options_.has_upstream},
                   {"strings", strings_},
                   {"welcome", {{"en", welcome("en")}, {"fr", welcome("fr")}}}};
    return script_safe(config);
  }

  std::string lookup(std::string_view name) const {
    if (name.starts_with("t.")) return text(language_, name.substr(2));
    if (name.starts_with("asset:")) return asset_url(options_, name.substr(6));
    if (name == "lang") return std::string(language_);
    if (name == "other_lang") return std::string(other_);
    if (name == "other_lang_name") return text(other_, "language_name");
    if (name == "title") return text(language_, "title_waiting");
    if (name == "service_name") return options_.service_name;
    if (name == "prefix") return options_.prefix;
    if (name == "welcome") return welcome(language_);
    if (name == "welcome_hidden") return welcome(language_).empty() ? "hidden" : "";
    if (name == "config") return config_json();
    if (name == "logo") {
      if (options_.logo_url.empty()) return {};
      // Decorative: the service's name is written next to it.
      return "<img class=\"logo\" src=\"" + escape_html(options_.logo_url) + "\" alt=\"\">";
    }
    return {};
  }

  const PageOptions& options_;
  std::string_view language_;
  std::string_view other_;
  json strings_;
};

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF.
    const std::uint32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < minimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string waiting_room_html(const PageOptions& options, std::string_view accept_language) {
  const auto page = web_file(options, "waiting-room.html");
  return PageRenderer(options, choose_language(accept_language)).render(page.value_or(""));
}

std::string_view waiting_room_csp() {
  return "default-src 'none'; script-src 'self'; style-src 'self'; "
         "img-src 'self' https: http: data:; connect-src 'self'; base-uri 'none'; "
         "form-action 'self'; frame-ancestors 'none'";
}

std::string check_logo_url(std::string_view value) {
  if (value.empty()) return {};
  const std::string expected =
      "an https:// or http:// URL, a path starting with /, or a data:image/ URL, at most "
      "2048 characters without spaces or quotes";
  if (value.size() > 2048) return expected;
  const bool scheme_ok = value.starts_with("https://") || value.starts_with("http://") ||
                         (value.starts_with("/") && !value.starts_with("//")) ||
                         value.starts_with("data:image/");
  if (!scheme_ok) return expected;
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F || c == '"' || c == '\'' || c == '<' || c == '>' ||
        c == '\\' || c == '`') {
      return expected;
    }
  }
  return {};
}

std::string check_page_text(std::string_view value, std::size_t max_length) {
  const std::string expected = "UTF-8 text of at most " + std::to_string(max_length) +
                               " bytes, without control characters other than line breaks";
  if (value.size() > max_length || !valid_utf8(value)) return expected;
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\n') || byte == 0x7F) return expected;
  }
  return {};
}

}  // namespace waitroom::web
