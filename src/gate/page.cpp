// The gate's error page; see page.hpp.
#include "gate/page.hpp"

#include "web/assets.hpp"

namespace waitroom::gate {

std::string upstream_unavailable_page(const web::PageOptions& options,
                                      std::string_view accept_language) {
  const bool french = web::choose_language(accept_language) == web::Language::fr;
  const std::string name = web::escape_html(options.service_name);
  const std::string retry = std::to_string(kUnavailableRetrySeconds);
  const std::string title = french ? "Service indisponible" : "Service unavailable";
  const std::string text =
      french ? name + " ne répond pas pour le moment. Cette page réessaie toute seule toutes les " +
                   retry + " secondes."
             : name + " does not answer right now. This page tries again by itself every " + retry +
                   " seconds.";
  std::string html = "<!doctype html>\n<html lang=\"";
  html += french ? "fr" : "en";
  html +=
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta http-equiv=\"refresh\" content=\"" +
      retry + "\">\n<title>" + title + " – " + name + "</title>\n";
  for (const char* sheet : {"waiting-room.css", "theme.css"}) {
    html += "<link rel=\"stylesheet\" href=\"" + web::asset_url(options, sheet) + "\">\n";
  }
  html += "<link rel=\"icon\" href=\"" + web::asset_url(options, "favicon.svg") +
          "\" type=\"image/svg+xml\">\n</head>\n<body>\n"
          "<main class=\"card\" id=\"waitroom-error\" aria-labelledby=\"wr-heading\">\n"
          "<header class=\"brand\">";
  if (!options.logo_url.empty()) {
    html += "<img class=\"logo\" src=\"" + web::escape_html(options.logo_url) + "\" alt=\"\">";
  }
  html += "<span class=\"service-name\">" + name + "</span></header>\n<h1 id=\"wr-heading\">" +
          title + "</h1>\n<p class=\"lead\" role=\"alert\">" + text +
          "</p>\n<a class=\"button primary\" id=\"wr-retry\" href=\"\">" +
          (french ? "Réessayer" : "Try again") + "</a>\n</main>\n</body>\n</html>\n";
  return html;
}

}  // namespace waitroom::gate
