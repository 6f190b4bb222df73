// The HTML the gate answers itself.
//
// waiting_room_page is a placeholder until the web module's page (web::waiting_room_html,
// issue 3's other half) is merged: the lead switches this ONE function to it. It is a
// valid page that says where the waiting room lives (`id="waitroom"`, the prefix).
#pragma once

#include <string>
#include <string_view>

namespace waitroom::gate {

std::string waiting_room_page(std::string_view prefix, std::string_view accept_language);

// 502 for a browser: the app behind the waiting room does not answer.
std::string upstream_unavailable_page(std::string_view accept_language);

}  // namespace waitroom::gate
