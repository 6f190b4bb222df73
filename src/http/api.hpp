// The API handlers of docs/API-CONTRACT.md: request in, response out, nothing about the
// transport. Client mistakes get 4xx answers (invalid user id 422, malformed JSON 400,
// missing credentials 401, someone else's 403); a 500 is reserved for true internal
// errors, which the session catches and logs.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "http/router.hpp"
#include "http/server.hpp"

namespace waitroom::http {

// Answers every route but the streams. May throw on internal errors only.
boost::asio::awaitable<Response> handle_api(ServerContext& context, const Request& request,
                                            const RouteMatch& match);

// GET /queue/status/{id}, the hot path: appends the whole HTTP response (status line,
// headers, body) to `out` without building a Response. False, with `out` untouched, when
// the user id is invalid: the caller then takes the general path, which answers 422.
boost::asio::awaitable<bool> answer_status(ServerContext& context, const Request& request,
                                           std::string_view parameter, std::string& out);

// What a stream request (events, ws) resolves to: the user id and who acts on it, or the
// refusal to send (an invalid user id). Whether the actor may open the stream is decided
// when the store opens it (open_stream); refusal_for answers a refused opening.
struct StreamAdmission {
  std::optional<Response> refusal;
  std::string user_id;
  store::Actor actor;
};
StreamAdmission admit_stream(const ServerContext& context, const Request& request,
                             const RouteMatch& match);

// The 401 or 403 for a caller whom the store refused to let act.
Response refusal_for(const Request& request, const store::Actor& actor);

// `{"detail": detail}` with the given status (and WWW-Authenticate on 401).
Response error_response(const Request& request, boost::beast::http::status status,
                        std::string_view detail);
Response json_response(const Request& request, boost::beast::http::status status, std::string body);
// 503 `{"detail": ...}` with Retry-After: the store could not answer (store::Unavailable).
Response unavailable_response(const Request& request, std::string_view detail);

}  // namespace waitroom::http
