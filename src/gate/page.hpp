// The one page the gate writes itself: the app behind the waiting room does not answer. The
// waiting-room page comes from the web module (http::waiting_room_response).
#pragma once

#include <string>
#include <string_view>

namespace waitroom::gate {

// 502 for a browser: the app behind the waiting room does not answer.
std::string upstream_unavailable_page(std::string_view accept_language);

}  // namespace waitroom::gate
