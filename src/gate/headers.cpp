// Header rewriting for the gate; see headers.hpp.
#include "gate/headers.hpp"

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <vector>

#include "http/auth.hpp"

namespace waitroom::gate {

namespace beast_http = boost::beast::http;

namespace {

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Calls `each` with every comma-separated token of a field value, trimmed.
template <class Each>
void for_each_token(std::string_view value, Each&& each) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto token = trim(value.substr(0, comma));
    if (!token.empty()) each(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool has_token(std::string_view value, std::string_view wanted) {
  bool found = false;
  for_each_token(value, [&](std::string_view token) { found = found || iequals(token, wanted); });
  return found;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::size_t ifind(std::string_view text, std::string_view part, std::size_t from) {
  if (part.empty()) return from <= text.size() ? from : std::string_view::npos;
  for (std::size_t i = from; i + part.size() <= text.size(); ++i) {
    if (iequals(text.substr(i, part.size()), part)) return i;
  }
  return std::string_view::npos;
}

bool is_websocket_upgrade(const RequestHeader& header) {
  return header.method() == beast_http::verb::get &&
         has_token(header[beast_http::field::connection], "upgrade") &&
         has_token(header[beast_http::field::upgrade], "websocket");
}

void strip_hop_by_hop(Fields& fields, bool keep_upgrade) {
  // The fields that Connection names, collected before Connection itself goes.
  std::vector<std::string> named;
  const auto [first, last] = fields.equal_range(beast_http::field::connection);
  for (auto it = first; it != last; ++it) {
    for_each_token(it->value(), [&](std::string_view token) { named.emplace_back(token); });
  }
  for (const auto& name : named) {
    if (keep_upgrade && iequals(name, "upgrade")) continue;
    fields.erase(name);
  }
  fields.erase(beast_http::field::connection);
  fields.erase(beast_http::field::keep_alive);
  fields.erase(beast_http::field::te);
  fields.erase(beast_http::field::trailer);
  fields.erase(beast_http::field::transfer_encoding);
  fields.erase("Proxy-Connection");
  if (!keep_upgrade) fields.erase(beast_http::field::upgrade);
  std::vector<std::string> proxy_fields;
  for (const auto& field : fields) {
    const auto name = field.name_string();
    if (name.size() >= 6 && iequals(name.substr(0, 6), "proxy-")) proxy_fields.emplace_back(name);
  }
  for (const auto& name : proxy_fields) fields.erase(name);
  if (keep_upgrade) {
    fields.set(beast_http::field::connection, "Upgrade");
    fields.set(beast_http::field::upgrade, "websocket");
  }
}

std::string without_ticket_cookie(std::string_view cookie_header) {
  std::string out;
  while (!cookie_header.empty()) {
    const auto end = cookie_header.find(';');
    const auto pair = trim(cookie_header.substr(0, end));
    cookie_header =
        end == std::string_view::npos ? std::string_view{} : cookie_header.substr(end + 1);
    if (pair.empty()) continue;
    const auto name = trim(pair.substr(0, pair.find('=')));
    if (name == "waitroom_ticket") continue;
    if (!out.empty()) out += "; ";
    out += pair;
  }
  return out;
}

void prepare_upstream_request(RequestHeader& header, const ForwardedFor& from) {
  const bool websocket = is_websocket_upgrade(header);
  strip_hop_by_hop(header, websocket);
  header.erase(beast_http::field::expect);

  header.erase(kUserHeader);
  header.set(kUserHeader, from.user_id);

  std::string forwarded_for(header["X-Forwarded-For"]);
  if (!forwarded_for.empty()) forwarded_for += ", ";
  forwarded_for += from.client_address;
  header.set("X-Forwarded-For", forwarded_for);
  const auto proto = header["X-Forwarded-Proto"];
  if (!iequals(proto, "http") && !iequals(proto, "https")) header.set("X-Forwarded-Proto", "http");
  if (header["X-Forwarded-Host"].empty()) {
    const auto host = header[beast_http::field::host];
    if (!host.empty()) header.set("X-Forwarded-Host", host);
  }

  if (auto it = header.find(beast_http::field::cookie); it != header.end()) {
    auto rest = without_ticket_cookie(it->value());
    header.erase(beast_http::field::cookie);
    if (!rest.empty()) header.set(beast_http::field::cookie, rest);
  }
  if (header[beast_http::field::host].empty() && !from.upstream_host.empty()) {
    header.set(beast_http::field::host, from.upstream_host);
  }
  header.version(11);
}

std::string upstream_authority(std::string_view host, std::uint16_t port) {
  std::string authority =
      host.find(':') != std::string_view::npos ? "[" + std::string(host) + "]" : std::string(host);
  if (port != 80) authority += ":" + std::to_string(port);
  return authority;
}

bool is_navigation(const RequestHeader& header) {
  if (header.method() != beast_http::verb::get && header.method() != beast_http::verb::head) {
    return false;
  }
  if (iequals(header["Sec-Fetch-Mode"], "navigate")) return true;
  return ifind(header[beast_http::field::accept], "text/html") != std::string_view::npos;
}

bool is_html(std::string_view content_type) {
  content_type = trim(content_type.substr(0, content_type.find(';')));
  return iequals(content_type, "text/html");
}

void inject_before_body_end(std::string& html, std::string_view tag) {
  std::size_t at = std::string::npos;
  for (std::size_t from = 0;;) {
    const auto found = ifind(html, "</body", from);
    if (found == std::string::npos) break;
    at = found;
    from = found + 1;
  }
  html.insert(at == std::string::npos ? html.size() : at, tag);
}

}  // namespace waitroom::gate
