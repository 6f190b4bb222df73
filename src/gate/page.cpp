// Placeholder pages; see page.hpp.
#include "gate/page.hpp"

namespace waitroom::gate {
namespace {

bool prefers_french(std::string_view accept_language) {
  // The first language listed decides; good enough for a placeholder.
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

std::string waiting_room_page(std::string_view prefix, std::string_view accept_language) {
  const bool french = prefers_french(accept_language);
  std::string body = "<main id=\"waitroom\" data-prefix=\"";
  body += prefix;
  body += "\">\n<h1>";
  body += french ? "Salle d'attente" : "Waiting room";
  body += "</h1>\n<p>";
  body += french ? "Le service est complet. Votre place dans la file est sur "
                 : "The service is full. Your place in the queue is at ";
  body += "<a href=\"";
  body += prefix;
  body += "/\">";
  body += prefix;
  body += "/</a>.</p>\n</main>";
  return page(french ? "fr" : "en", french ? "Salle d'attente" : "Waiting room", body);
}

std::string upstream_unavailable_page(std::string_view accept_language) {
  const bool french = prefers_french(accept_language);
  return page(french ? "fr" : "en", french ? "Service indisponible" : "Service unavailable",
              french ? "<main id=\"waitroom-error\"><h1>Service indisponible</h1><p>Le service "
                       "ne répond pas. Réessayez dans un instant.</p></main>"
                     : "<main id=\"waitroom-error\"><h1>Service unavailable</h1><p>The service "
                       "does not answer. Try again in a moment.</p></main>");
}

}  // namespace waitroom::gate
