// The one page the gate writes itself: the app behind the waiting room does not answer. The
// waiting-room page comes from the web module (http::waiting_room_response).
#pragma once

#include <string>
#include <string_view>

#include "web/pages.hpp"

namespace waitroom::gate {

// How often the 502 page tries the app again by itself.
inline constexpr int kUnavailableRetrySeconds = 15;

// 502 for a browser: the app behind the waiting room does not answer. The page looks like
// the waiting room (its style sheets, colours, name and logo, under the prefix, which the
// gate serves even while the app is down), offers to try again, and does so by itself every
// kUnavailableRetrySeconds, so a visitor gets the app back once it answers.
std::string upstream_unavailable_page(const web::PageOptions& options,
                                      std::string_view accept_language);

}  // namespace waitroom::gate
