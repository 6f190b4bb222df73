// The files of web/, compiled into the binary by src/web/embed.cmake (a generated .cpp).
#pragma once

#include <span>
#include <string_view>

namespace waitroom::web {

struct EmbeddedFile {
  std::string_view name;     // the file name in web/, e.g. "waiting-room.js"
  std::string_view content;  // its bytes
};

// Every embedded file, in the order src/web/CMakeLists.txt lists them.
std::span<const EmbeddedFile> embedded_files();

}  // namespace waitroom::web
