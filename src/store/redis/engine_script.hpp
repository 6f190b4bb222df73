// The engine script (lua/*.lua, concatenated and embedded at build time by embed_lua.cmake)
// and its SHA-1, the name EVALSHA calls it by.
#pragma once

#include <string_view>

namespace waitroom::store::redis {

std::string_view engine_script();
std::string_view engine_script_sha1();

}  // namespace waitroom::store::redis
