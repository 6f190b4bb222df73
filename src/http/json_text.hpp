// JSON text that never throws on what a client sent.
//
// nlohmann's dump() throws type_error.316 on a string that is not valid UTF-8, and error
// messages echo client bytes (a user id from the path, a setting's value, a header): a raw
// 0xff in a path would turn a 422 into a 500, or end a connection with an exception where
// no one catches it. Every JSON answer that may carry client bytes is written here instead,
// with each invalid byte replaced by U+FFFD.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace waitroom::http {

inline std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// `{"detail": detail}`, the body of every error answer.
inline std::string detail_json(std::string_view detail) {
  return json_text(nlohmann::json{{"detail", detail}});
}

}  // namespace waitroom::http
