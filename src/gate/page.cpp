// The gate's error page; see page.hpp.
#include "gate/page.hpp"

namespace waitroom::gate {
namespace {

bool prefers_french(std::string_view accept_language) {
  // The first language listed decides; enough for a one-line error page.
  while (!accept_language.empty() && accept_language.front() == ' ')
    accept_language.remove_prefix(1);
  return accept_language.starts_with("fr") || accept_language.starts_with("FR");
}

std::string page(std::string_view lang, std::string_view title, std::string_view body) {
  std::string html = "<!doctype html>\n<html lang=\"";
  html += lang;
  html +=
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
  html += title;
  html += "</title>\n</head>\n<body>\n";
  html += body;
  html += "\n</body>\n</html>\n";
  return html;
}

}  // namespace

std::string upstream_unavailable_page(std::string_view accept_language) {
  const bool french = prefers_french(accept_language);
  return page(french ? "fr" : "en", french ? "Service indisponible" : "Service unavailable",
              french ? "<main id=\"waitroom-error\"><h1>Service indisponible</h1><p>Le service "
                       "ne répond pas. Réessayez dans un instant.</p></main>"
                     : "<main id=\"waitroom-error\"><h1>Service unavailable</h1><p>The service "
                       "does not answer. Try again in a moment.</p></main>");
}

}  // namespace waitroom::gate
