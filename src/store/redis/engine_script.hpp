// The engine (lua/*.lua), embedded at build time by embed_lua.cmake in two forms: a Redis
// function library (loaded with FUNCTION LOAD, called with FCALL by its function's name) and
// a plain script (called with EVALSHA by its SHA-1), for a Redis older than 7.
#pragma once

#include <string_view>

namespace waitroom::store::redis {

std::string_view engine_library();
std::string_view engine_function_name();
std::string_view engine_script();
std::string_view engine_script_sha1();

}  // namespace waitroom::store::redis
