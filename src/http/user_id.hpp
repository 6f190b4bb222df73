// User ids as they arrive in a path segment: URL-decoded, then checked against the
// contract's alphabet (1–64 characters of A-Z a-z 0-9 . _ - @ + ~). Nothing else reaches
// the store, which is also why user ids can be written into JSON without escaping.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace waitroom::http {

// Percent-decodes a path segment into `out` ('+' stays '+': this is a path, not a form).
// False on a malformed escape.
bool url_decode(std::string_view segment, std::string& out);

bool valid_user_id(std::string_view user_id, std::size_t max_length);

// Decodes and validates; returns a view of either `segment` itself (the common case, no
// escapes, no copy) or of `scratch`. nullopt when invalid.
std::optional<std::string_view> decode_user_id(std::string_view segment, std::size_t max_length,
                                               std::string& scratch);

}  // namespace waitroom::http
