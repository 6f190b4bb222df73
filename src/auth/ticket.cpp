// Identity tickets: "v1.<base64url(user_id)>.<generation>.<base64url(HMAC-SHA256)>".
//
// The MAC covers the exact text before the last dot ("v1.<id>.<generation>"), so the
// version, the user id and the generation are all bound to it, and a parser quirk cannot
// make two different texts carry one signature: verify() recomputes the MAC over the
// bytes it received, compares it in constant time, and only then trusts the fields. The
// ticket comes from the network, so verify() never throws and never reads more than
// kMaxTicketLength bytes; every malformed input is simply "not a ticket".
//
// The secret file is created with O_EXCL in a temporary name and then linked to its
// final name, which fails instead of overwriting when another process won the race;
// the loser reads the winner's secret. Either way no reader ever sees a partial file.
#include "auth/ticket.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace waitroom::auth {
namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::size_t kMinSecretBytes = 32;
constexpr std::size_t kMacBytes = 32;
// A 64-byte id, its base64, a 20-digit generation and the MAC fit in well under this.
constexpr std::size_t kMaxTicketLength = 512;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    auto n = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
             (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
             std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    auto n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
  } else if (rest == 2) {
    auto n = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
             (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Strict decoding: no padding, no stray characters, and unused low bits must be zero,
// so that each byte string has exactly one encoding.
std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = base64url_value(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace

// HMAC-SHA256 (RFC 2104) over OpenSSL's SHA-256 with the key's two blocks hashed once, at
// start-up: a MAC copies the two states and hashes the data and the inner digest, two
// compressions for a ticket. OpenSSL 3's HMAC() fetches the algorithm and schedules the key
// at every call (about 20,000 instructions per ticket, a quarter of a join), and duplicating
// a keyed EVP_MAC_CTX allocates three digest contexts (about 12,000). The SHA256_* functions
// are deprecated in OpenSSL 3 in favour of EVP, whose context copies allocate; they remain
// part of its API, and only this file uses them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct TicketSigner::Keys {
  SHA256_CTX inner;
  SHA256_CTX outer;
};

namespace {

constexpr std::size_t kHmacBlockBytes = 64;

std::shared_ptr<const TicketSigner::Keys> hmac_keys(std::string_view secret) {
  std::array<unsigned char, kHmacBlockBytes> block{};
  if (secret.size() > kHmacBlockBytes) {
    SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), block.data());
  } else {
    std::memcpy(block.data(), secret.data(), secret.size());
  }
  auto keys = std::make_shared<TicketSigner::Keys>();
  std::array<unsigned char, kHmacBlockBytes> pad{};
  for (std::size_t i = 0; i < kHmacBlockBytes; ++i) pad[i] = block[i] ^ 0x36;
  SHA256_Init(&keys->inner);
  SHA256_Update(&keys->inner, pad.data(), pad.size());
  for (std::size_t i = 0; i < kHmacBlockBytes; ++i) pad[i] = block[i] ^ 0x5c;
  SHA256_Init(&keys->outer);
  SHA256_Update(&keys->outer, pad.data(), pad.size());
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  return keys;
}

std::array<unsigned char, kMacBytes> mac_of(const TicketSigner::Keys& keys, std::string_view data) {
  std::array<unsigned char, kMacBytes> inner_digest{};
  std::array<unsigned char, kMacBytes> mac{};
  SHA256_CTX context = keys.inner;
  SHA256_Update(&context, data.data(), data.size());
  SHA256_Final(inner_digest.data(), &context);
  context = keys.outer;
  SHA256_Update(&context, inner_digest.data(), inner_digest.size());
  SHA256_Final(mac.data(), &context);
  OPENSSL_cleanse(&context, sizeof context);
  return mac;
}
#pragma GCC diagnostic pop

std::string trim(std::string text) {
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!text.empty() && is_space(text.back())) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && is_space(text[start])) ++start;
  return text.substr(start);
}

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

std::optional<std::string> read_secret_file(const std::filesystem::path& file) {
  std::error_code ec;
  auto status = std::filesystem::status(file, ec);
  if (status.type() == std::filesystem::file_type::not_found) return std::nullopt;
  if (ec) {
    throw std::runtime_error("cannot read the ticket secret file " + file.string() + ": " +
                             ec.message());
  }
  if (status.type() != std::filesystem::file_type::regular) {
    throw std::runtime_error("the ticket secret file " + file.string() + " is not a regular file");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read the ticket secret file " + file.string() + ": " +
                             errno_text(errno));
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string secret = trim(content.str());
  if (secret.size() < kMinSecretBytes) {
    throw std::runtime_error("the ticket secret file " + file.string() + " holds " +
                             std::to_string(secret.size()) + " bytes; at least " +
                             std::to_string(kMinSecretBytes) + " are needed");
  }
  return secret;
}

std::string random_hex_secret() {
  std::array<unsigned char, kMinSecretBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("cannot generate a ticket secret: RAND_bytes failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return hex;
}

void write_all(int fd, std::string_view data, const std::filesystem::path& file) {
  while (!data.empty()) {
    ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("cannot write " + file.string() + ": " + errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
}

// Creates `file` holding `secret`, or returns false when it already exists.
bool create_secret_file(const std::filesystem::path& file, const std::string& secret) {
  std::filesystem::path temp = file;
  temp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot create the ticket secret file " + temp.string() + ": " +
                             errno_text(errno));
  }
  try {
    // The mode given to open() is filtered by the umask; 0600 is what we want exactly.
    if (::fchmod(fd, 0600) != 0) {
      throw std::runtime_error("cannot chmod " + temp.string() + ": " + errno_text(errno));
    }
    write_all(fd, secret + "\n", temp);
    if (::fsync(fd) != 0) {
      throw std::runtime_error("cannot sync " + temp.string() + ": " + errno_text(errno));
    }
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  ::close(fd);

  // link() publishes the complete file under its final name, and unlike rename() it
  // refuses to replace a secret that another process has just created.
  bool created = true;
  if (::link(temp.c_str(), file.c_str()) != 0) {
    int error = errno;
    if (error == EEXIST) {
      created = false;
    } else if (error == EPERM || error == ENOTSUP || error == EOPNOTSUPP || error == ENOSYS) {
      // Some file systems have no hard links; rename is atomic too, only not exclusive.
      if (::rename(temp.c_str(), file.c_str()) != 0) {
        error = errno;
        ::unlink(temp.c_str());
        throw std::runtime_error("cannot create the ticket secret file " + file.string() + ": " +
                                 errno_text(error));
      }
      temp.clear();
    } else {
      ::unlink(temp.c_str());
      throw std::runtime_error("cannot create the ticket secret file " + file.string() + ": " +
                               errno_text(error));
    }
  }
  if (!temp.empty()) ::unlink(temp.c_str());

  // Make the new name itself durable, so a crash cannot lose the secret after tickets
  // signed with it went out.
  std::filesystem::path parent = file.parent_path().empty() ? "." : file.parent_path();
  int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return created;
}

}  // namespace

TicketSigner::TicketSigner(std::string secret) {
  if (secret.size() < kMinSecretBytes) {
    throw std::invalid_argument("the ticket secret must be at least " +
                                std::to_string(kMinSecretBytes) + " bytes long");
  }
  keys_ = hmac_keys(secret);
  OPENSSL_cleanse(secret.data(), secret.size());
}

std::string TicketSigner::issue(std::string_view user_id, std::uint64_t generation) const {
  std::string ticket(kVersion);
  ticket += '.';
  ticket += base64url_encode(user_id);
  ticket += '.';
  ticket += std::to_string(generation);
  auto mac = mac_of(*keys_, ticket);
  ticket += '.';
  ticket +=
      base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  return ticket;
}

std::optional<TicketClaims> TicketSigner::verify(std::string_view ticket) const {
  try {
    if (ticket.empty() || ticket.size() > kMaxTicketLength) return std::nullopt;

    // Exactly four dot-separated fields.
    std::size_t first = ticket.find('.');
    if (first == std::string_view::npos) return std::nullopt;
    std::size_t second = ticket.find('.', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    std::size_t third = ticket.find('.', second + 1);
    if (third == std::string_view::npos) return std::nullopt;
    if (ticket.find('.', third + 1) != std::string_view::npos) return std::nullopt;

    if (ticket.substr(0, first) != kVersion) return std::nullopt;
    std::string_view encoded_id = ticket.substr(first + 1, second - first - 1);
    std::string_view generation_text = ticket.substr(second + 1, third - second - 1);
    std::string_view encoded_mac = ticket.substr(third + 1);

    auto given_mac = base64url_decode(encoded_mac);
    if (!given_mac || given_mac->size() != kMacBytes) return std::nullopt;
    auto expected = mac_of(*keys_, ticket.substr(0, third));
    if (CRYPTO_memcmp(expected.data(), given_mac->data(), kMacBytes) != 0) return std::nullopt;

    // Signed by us, so the fields were written by issue(); they are still checked, so
    // that a bug elsewhere cannot turn into a strange identity.
    auto user_id = base64url_decode(encoded_id);
    if (!user_id || user_id->empty()) return std::nullopt;
    if (generation_text.empty() || generation_text.size() > 20) return std::nullopt;
    if (generation_text.size() > 1 && generation_text[0] == '0') return std::nullopt;
    std::uint64_t generation = 0;
    auto [end, ec] = std::from_chars(generation_text.data(),
                                     generation_text.data() + generation_text.size(), generation);
    if (ec != std::errc{} || end != generation_text.data() + generation_text.size()) {
      return std::nullopt;
    }
    return TicketClaims{std::move(*user_id), generation};
  } catch (...) {
    // Only allocation or an OpenSSL failure can get here; neither is the caller's fault,
    // and an unverifiable ticket is not a valid one.
    return std::nullopt;
  }
}

std::string load_or_create_secret(const std::filesystem::path& file) {
  if (auto secret = read_secret_file(file)) return *secret;

  std::error_code ec;
  if (file.has_parent_path()) {
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      throw std::runtime_error("cannot create the directory " + file.parent_path().string() +
                               " for the ticket secret: " + ec.message());
    }
  }
  std::string secret = random_hex_secret();
  if (create_secret_file(file, secret)) return secret;
  // Another process created it first: use theirs, so that both sign alike.
  if (auto theirs = read_secret_file(file)) return *theirs;
  throw std::runtime_error("the ticket secret file " + file.string() +
                           " vanished while it was being created");
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  // The length is not secret (MACs and keys have fixed, public lengths); the content is.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace waitroom::auth
