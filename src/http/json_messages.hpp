// The JSON shapes of notifications (SSE data lines, WebSocket frames) and the number and
// instant formats every answer shares (docs/API-CONTRACT.md): durations in seconds, an
// integer when whole and a decimal with millisecond precision otherwise; instants in ISO
// 8601 UTC with milliseconds; estimated waits in whole seconds, rounded up.
//
// These are built by appending to a string rather than through a JSON library: they sit
// on the hot path (every status poll, every notification), and every value in them is a
// number, a fixed word, or a user id that was validated to contain no character that
// JSON would escape.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engine/engine.hpp"
#include "engine/time.hpp"

namespace waitroom::http {

void append_seconds(std::string& out, Duration duration);
void append_estimated_wait(std::string& out, Duration duration);
void append_instant(std::string& out, TimePoint instant);
std::string format_instant(TimePoint instant);

// The notification an engine event becomes.
std::string event_message(const engine::Event& event);
// A waiting user's coalesced position update.
std::string position_message(std::string_view user_id, std::uint64_t position,
                             Duration estimated_wait);
// The first message of a new stream: the user's state in the notification shapes;
// `{"user_id":...,"status":null}` for an unknown user.
std::string state_message(std::string_view user_id, const std::optional<engine::UserView>& view,
                          TimePoint now);

// The body of GET /queue/status/{id}.
void append_status_body(std::string& out, std::string_view user_id,
                        const std::optional<engine::UserView>& view, TimePoint now);

// The body of POST /queue/join/{id}, in the seed's key order; `ticket` empty: null (open
// mode). A ticket is base64url and digits, so like the user id it needs no escaping.
void append_join_body(std::string& out, std::string_view user_id, const engine::JoinResult& result,
                      std::string_view ticket);

}  // namespace waitroom::http
