// URL-decoding and validation of user ids from path segments.
#include "http/user_id.hpp"

namespace waitroom::http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool allowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == '@' || c == '+' || c == '~';
}

}  // namespace

bool url_decode(std::string_view segment, std::string& out) {
  out.clear();
  out.reserve(segment.size());
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out += segment[i];
      continue;
    }
    if (i + 2 >= segment.size()) return false;
    const int high = hex_value(segment[i + 1]);
    const int low = hex_value(segment[i + 2]);
    if (high < 0 || low < 0) return false;
    out += char(high * 16 + low);
    i += 2;
  }
  return true;
}

bool valid_user_id(std::string_view user_id, std::size_t max_length) {
  if (user_id.empty() || user_id.size() > max_length) return false;
  for (char c : user_id) {
    if (!allowed(c)) return false;
  }
  return true;
}

std::optional<std::string_view> decode_user_id(std::string_view segment, std::size_t max_length,
                                               std::string& scratch) {
  std::string_view decoded = segment;
  if (segment.find('%') != std::string_view::npos) {
    if (!url_decode(segment, scratch)) return std::nullopt;
    decoded = scratch;
  }
  if (!valid_user_id(decoded, max_length)) return std::nullopt;
  return decoded;
}

}  // namespace waitroom::http
