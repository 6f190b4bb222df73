// The colours of the page: parsing and checking the three colour settings, and deriving the
// rest of the palette (card surface, muted text, borders, the accent as text) so that every
// pair the page draws meets the contrast WCAG 2.1 asks for: 4.5:1 for text, 3:1 for large
// text and for the borders of controls. A derived colour that falls short is moved towards
// the text colour until it passes.
#include <array>
#include <cmath>
#include <cstdio>
#include <optional>

#include "web/assets.hpp"
#include "web/pages.hpp"

namespace waitroom::web {
namespace {

struct Colour {
  double r = 0, g = 0, b = 0;  // 0..255
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "#rgb" or "#rrggbb".
std::optional<Colour> parse_colour(std::string_view text) {
  if (text.size() != 4 && text.size() != 7) return std::nullopt;
  if (text[0] != '#') return std::nullopt;
  std::array<int, 6> digits{};
  const std::size_t count = text.size() - 1;
  for (std::size_t i = 0; i < count; ++i) {
    digits[i] = hex_digit(text[i + 1]);
    if (digits[i] < 0) return std::nullopt;
  }
  if (count == 3) {
    return Colour{digits[0] * 17.0, digits[1] * 17.0, digits[2] * 17.0};
  }
  return Colour{digits[0] * 16.0 + digits[1], digits[2] * 16.0 + digits[3],
                digits[4] * 16.0 + digits[5]};
}

std::string to_hex(const Colour& colour) {
  auto channel = [](double value) {
    return static_cast<unsigned>(std::lround(std::fmin(255.0, std::fmax(0.0, value))));
  };
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", channel(colour.r), channel(colour.g),
                channel(colour.b));
  return buffer;
}

// WCAG 2.1 relative luminance.
double luminance(const Colour& colour) {
  auto linear = [](double channel) {
    const double c = channel / 255.0;
    return c <= 0.03928 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * linear(colour.r) + 0.7152 * linear(colour.g) + 0.0722 * linear(colour.b);
}

double contrast(const Colour& a, const Colour& b) {
  const double la = luminance(a);
  const double lb = luminance(b);
  return (std::fmax(la, lb) + 0.05) / (std::fmin(la, lb) + 0.05);
}

// `weight` of a, the rest of b.
Colour mix(const Colour& a, const Colour& b, double weight) {
  return {a.r * weight + b.r * (1 - weight), a.g * weight + b.g * (1 - weight),
          a.b * weight + b.b * (1 - weight)};
}

// `colour`, moved towards `towards` in tenths until it contrasts `ratio` with `against`.
Colour ensure_contrast(const Colour& colour, const Colour& against, const Colour& towards,
                       double ratio) {
  for (int step = 0; step <= 10; ++step) {
    const Colour candidate = mix(towards, colour, step / 10.0);
    if (contrast(candidate, against) >= ratio) return candidate;
  }
  return towards;
}

struct Palette {
  Colour accent, accent_text, accent_on_background, background, surface, text, muted, border,
      border_strong;
};

const Colour kWhite{255, 255, 255};
const Colour kBlack{0, 0, 0};

Palette palette(const PageOptions& options) {
  const PageOptions defaults;
  auto colour = [](const std::string& text, const std::string& fallback) {
    auto parsed = parse_colour(text);
    return parsed ? *parsed : *parse_colour(fallback);
  };
  Palette p;
  p.accent = colour(options.theme_color, defaults.theme_color);
  p.background = colour(options.theme_background, defaults.theme_background);
  p.text = colour(options.theme_text, defaults.theme_text);
  // The card: near white on a light background, a step lighter on a dark one.
  const bool light = luminance(p.background) > 0.4;
  p.surface = light ? mix(kWhite, p.background, 0.85) : mix(kWhite, p.background, 0.06);
  // Button labels: white or black, whichever reads better on the accent.
  p.accent_text = contrast(kWhite, p.accent) >= contrast(kBlack, p.accent) ? kWhite : kBlack;
  p.accent_on_background = ensure_contrast(p.accent, p.surface, p.text, 4.5);
  p.muted = ensure_contrast(mix(p.text, p.surface, 0.72), p.surface, p.text, 4.5);
  p.border = mix(p.text, p.surface, 0.14);
  p.border_strong = ensure_contrast(mix(p.text, p.surface, 0.4), p.surface, p.text, 3.0);
  return p;
}

}  // namespace

std::string check_colour(std::string_view value) {
  if (parse_colour(value)) return {};
  return "a colour written #rgb or #rrggbb, e.g. \"#1d4ed8\"";
}

std::string theme_css(const PageOptions& options) {
  const Palette p = palette(options);
  std::string css =
      "/* Generated from the theme settings (theme_color, theme_background, "
      "theme_text). */\n:root {\n";
  auto variable = [&](std::string_view name, const Colour& value) {
    css += "  --wr-";
    css += name;
    css += ": ";
    css += to_hex(value);
    css += ";\n";
  };
  variable("accent", p.accent);
  variable("accent-text", p.accent_text);
  variable("accent-on-background", p.accent_on_background);
  variable("background", p.background);
  variable("surface", p.surface);
  variable("text", p.text);
  variable("muted", p.muted);
  variable("border", p.border);
  variable("border-strong", p.border_strong);
  variable("focus", p.accent_on_background);
  css += "}\n";
  return css;
}

std::vector<std::string> page_warnings(const PageOptions& options) {
  std::vector<std::string> warnings;
  const Palette p = palette(options);
  auto ratio_text = [](double ratio) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.1f:1", ratio);
    return std::string(buffer);
  };
  if (const double ratio = contrast(p.text, p.surface); ratio < 4.5) {
    warnings.push_back("theme_text " + options.theme_text + " on the page's card (" +
                       to_hex(p.surface) + ", from theme_background " + options.theme_background +
                       ") has a contrast of " + ratio_text(ratio) +
                       ", below the 4.5:1 that text needs to be readable");
  }
  if (const double ratio = contrast(p.accent, p.accent_text); ratio < 4.5) {
    warnings.push_back("button labels on theme_color " + options.theme_color +
                       " have a contrast of " + ratio_text(ratio) +
                       " at best, below 4.5:1: choose a darker or lighter colour");
  }
  return warnings;
}

}  // namespace waitroom::web
