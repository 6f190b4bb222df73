// Identity tickets: proof that a caller is the one who joined as a given user id.
//
// A ticket is "v1.<base64url(user_id)>.<generation>.<base64url(HMAC-SHA256)>", signed
// with a server secret. The generation is the engine's per-record number (see
// engine::UserView::generation): when a user id is forgotten and later taken again, the
// new record has a new generation and the old tickets stop working. Comparisons of MACs
// are constant-time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace waitroom::auth {

struct TicketClaims {
  std::string user_id;
  std::uint64_t generation = 0;
};

class TicketSigner {
 public:
  // `secret` must be at least 32 bytes.
  explicit TicketSigner(std::string secret);

  std::string issue(std::string_view user_id, std::uint64_t generation) const;
  // The claims of a well-formed ticket with a valid signature; nullopt otherwise.
  std::optional<TicketClaims> verify(std::string_view ticket) const;

  // The HMAC's two hash states after the key's inner and outer blocks (ticket.cpp).
  struct Keys;

 private:
  // Keyed once; read-only afterwards (each MAC works on copies), so the signer is safe to
  // share between threads.
  std::shared_ptr<const Keys> keys_;
};

// Reads the secret from `file`, or creates it there (32 random bytes, hex, mode 0600)
// when it does not exist, creating parent directories. Throws std::runtime_error with a
// clear message when the file cannot be read or created or holds fewer than 32 bytes.
std::string load_or_create_secret(const std::filesystem::path& file);

bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace waitroom::auth
