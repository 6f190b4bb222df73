// Choosing the page's language from Accept-Language (RFC 9110 §12.5.4).
//
// The header is a comma-separated list of language ranges, each with an optional weight
// "q=0.8" (0 to 1, three decimals at most; 0 means "not acceptable"). A range matches a
// language when its primary subtag is that language ("fr", "fr-CA", "FR"); "*" matches any.
// A language takes the best weight of the ranges that name it (of "*" when none does); the
// language with the higher weight wins, and on a tie the one listed first. Only the first
// 64 ranges and 4 KiB are read: the header comes from anyone.
#include <algorithm>
#include <cctype>

#include "web/pages.hpp"

namespace waitroom::web {
namespace {

constexpr std::size_t kMaxHeader = 4096;
constexpr int kMaxRanges = 64;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The weight of "q=0.5" in thousandths; -1 when malformed.
int parse_weight(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > 5) return -1;
  if (text[0] == '1') {
    if (text.size() == 1) return 1000;
    if (text[1] != '.') return -1;
    for (char c : text.substr(2)) {
      if (c != '0') return -1;
    }
    return 1000;
  }
  if (text[0] != '0') return -1;
  if (text.size() == 1) return 0;
  if (text[1] != '.') return -1;
  int value = 0;
  int scale = 100;
  for (char c : text.substr(2)) {
    if (c < '0' || c > '9') return -1;
    value += (c - '0') * scale;
    scale /= 10;
  }
  return value;
}

}  // namespace

Language choose_language(std::string_view header) {
  header = header.substr(0, kMaxHeader);
  // Best weight seen for each language, and for "*"; -1: not mentioned.
  int english = -1;
  int french = -1;
  int any = -1;
  bool french_first = false;  // on equal weights, the one listed first wins
  int ranges = 0;
  while (!header.empty() && ranges < kMaxRanges) {
    const auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    ++ranges;
    const auto semicolon = item.find(';');
    std::string_view range = trim(item.substr(0, semicolon));
    int weight = 1000;
    if (semicolon != std::string_view::npos) {
      std::string_view parameters = item.substr(semicolon + 1);
      const auto equals = parameters.find('=');
      if (equals == std::string_view::npos || !iequals(trim(parameters.substr(0, equals)), "q")) {
        continue;
      }
      weight = parse_weight(parameters.substr(equals + 1));
      if (weight < 0) continue;
    }
    const std::string_view primary = range.substr(0, range.find('-'));
    if (iequals(primary, "en")) {
      english = std::max(english, weight);
    } else if (iequals(primary, "fr")) {
      if (french < 0 && english < 0) french_first = true;
      french = std::max(french, weight);
    } else if (range == "*") {
      any = std::max(any, weight);
    }
  }
  // Languages not named take the weight of "*".
  if (english < 0) english = any;
  if (french < 0) french = any;
  if (french > 0 && (french > english || (french == english && french_first))) {
    return Language::fr;
  }
  return Language::en;
}

std::string_view language_code(Language language) {
  return language == Language::fr ? "fr" : "en";
}

}  // namespace waitroom::web
