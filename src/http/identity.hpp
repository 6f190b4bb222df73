// Who the caller is, without a user id in the path: the routes that answer "me" (the
// waiting-room page's {prefix}/queue/me, the overlay script) and, behind the gate, the
// admission decision.
//
// Today the identity comes from a ticket (the `waitroom_ticket` cookie, or a ticket as
// `Authorization: Bearer`), verified with the TicketSigner. A ticket names a user id and the
// generation of that id's record it was issued for: a record re-created since (the id was
// forgotten and taken again) belongs to someone else, which the caller checks against the
// store (`owns`). This is the one place to add other sources of identity (a trusted header
// set by a front proxy).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/engine.hpp"
#include "http/server.hpp"

namespace waitroom::http {

struct CallerIdentity {
  std::string user_id;
  // The record generation the credential was issued for; nullopt when the source vouches
  // for the id itself (any generation).
  std::optional<std::uint64_t> generation;

  // Whether `view` (the id's record, nullopt when the id is unknown) is this caller's.
  bool owns(const std::optional<engine::UserView>& view) const {
    return !view || !generation || view->generation == *generation;
  }
};

// The caller's identity, or nullopt when the request carries none that verifies.
std::optional<CallerIdentity> identify_caller(const ServerContext& context, const Request& request);

}  // namespace waitroom::http
