// One typed, validated configuration for the whole process.
//
// Settings flow one way: defaults → environment → TOML file → command-line flags, each
// layer overriding the one before (DESIGN.md §6). Every setting is declared once, in the
// table in config.cpp, with its environment name (the seed's names are kept), its file
// key, its flag, its default and its validator. Invalid input throws ConfigError with a
// message that names the setting, the source and the accepted values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"
#include "web/pages.hpp"

namespace waitroom::cli {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class AuthMode : std::uint8_t { tickets, open };
enum class StoreKind : std::uint8_t { memory, redis };
enum class CookieSecure : std::uint8_t { automatic, always, never };

struct Limits {
  std::size_t max_user_id_length = 64;
  std::size_t max_body_bytes = 16 * 1024;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_connections = 200'000;
  Duration header_timeout = std::chrono::seconds{10};      // to read a request's headers
  Duration keep_alive_timeout = std::chrono::seconds{60};  // idle keep-alive connection
  Duration sse_keepalive_interval = std::chrono::seconds{15};
  Duration position_update_interval = std::chrono::seconds{1};
  std::size_t max_queued_messages = 64;   // per stream; a slower client is dropped
  std::size_t max_streams_per_user = 16;  // SSE + WebSocket streams open at once, per user
};

struct Config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  unsigned threads = 0;  // 0: one per core
  std::optional<std::filesystem::path> config_file;

  engine::Settings engine;
  bool paused = false;  // start with admissions paused

  AuthMode auth_mode = AuthMode::tickets;
  std::string ticket_secret;  // empty: read from ticket_secret_file or data_dir
  std::optional<std::filesystem::path> ticket_secret_file;
  std::string api_key;      // empty: no backend key accepted
  std::string admin_token;  // empty: admin routes refuse everyone
  CookieSecure cookie_secure = CookieSecure::automatic;
  std::filesystem::path data_dir = "data";
  // No files at all: the queue lives in memory only and the ticket secret is random per run.
  bool ephemeral = false;

  StoreKind store = StoreKind::memory;
  // REDIS_URL as given (redis://[[user]:password@]host[:port][/db]); parsed into the fields
  // below, which the settings after it may override one by one.
  std::string redis_url;
  std::string redis_host = "localhost";
  std::uint16_t redis_port = 6379;
  unsigned redis_db = 0;
  std::string redis_username;  // a Redis 6 ACL user, from REDIS_URL only
  std::string redis_password;  // empty: no AUTH
  // Several rooms may share one Redis: each under its own key and channel prefix.
  std::string redis_key_prefix = "waitroom:";
  std::string redis_channel_prefix = "queue_status:";
  Duration redis_timeout = std::chrono::seconds{2};
  unsigned redis_connections = 2;
  // How long another instance waits before it counts the streams of an instance that
  // stopped renewing its lease (it died) as closed.
  Duration redis_stream_lease = std::chrono::seconds{10};

  // The gate (reverse proxy, issue 3). `upstream` is the URL as given ("" = no gate);
  // upstream_host/port are its parts, filled in by the same validation.
  std::string upstream;
  std::string upstream_host;
  std::uint16_t upstream_port = 0;
  std::string prefix;  // "" = automatic: "/_waitroom" with an upstream, the root without
  std::string trusted_user_header;  // "" = identity from the ticket cookie only
  Duration upstream_connect_timeout = std::chrono::seconds{5};
  // Where waitroom's own routes live: the configured prefix, else the automatic one.
  std::string effective_prefix() const;

  Limits limits;
  // The waiting-room page's settings (service name, logo, colours, texts, --web-root).
  web::PageOptions page;
  std::string log_level = "info";  // trace, debug, info, warn, error, critical, off

  // Where each setting's value came from, by setting name ("env MAX_ACTIVE_USERS",
  // "file waitroom.toml", "flag --port", "admin"); absent means the default. For describe().
  std::map<std::string, std::string> origins;
};

using Environment = std::map<std::string, std::string>;
Environment environment_from(const char* const* envp);

// What the command line asked for.
struct Command {
  enum class Kind : std::uint8_t { serve, exit, load_test } kind = Kind::serve;
  int exit_code = 0;  // for Kind::exit (after --help, --version)
  Config config;      // for Kind::serve
  // For Kind::load_test: the arguments after `load-test`, parsed by src/loadtest (a
  // client has its own flags and shares none of the server's settings table).
  std::vector<std::string> load_test_args;
};

// Parses `waitroom serve [flags]` (and --help/--version), layering the environment and
// the config file (--config or WAITROOM_CONFIG) under the flags. Throws ConfigError.
// `args` is argv as main() receives it, program name first; a list that starts with a
// subcommand name or an option (argv + 1) is recognised and accepted as well. Help and version are
// printed to stdout (Kind::exit, code 0); `waitroom` without a subcommand prints the help
// to stderr (Kind::exit, code 2). Unknown flags and invalid values throw ConfigError.
Command parse_command_line(const std::vector<std::string>& args, const Environment& env);
// The same, printing help and version to `out` and usage to `err` (for tests).
Command parse_command_line(const std::vector<std::string>& args, const Environment& env,
                           std::ostream& out, std::ostream& err);

// Parses a duration: seconds as a number ("300", "0.5") or with a unit ("250ms", "5s",
// "2m", "1h"). Throws ConfigError naming `setting` on anything else or a negative value.
Duration parse_duration(std::string_view text, std::string_view setting);

// Reads redis://[[username]:password@]host[:port][/db] into the Redis fields of `config`.
// Throws ConfigError naming `where` on anything else (rediss:// included: no TLS).
void parse_redis_url(Config& config, std::string_view url, const std::string& where);

// Human-readable list of the effective settings, secrets masked, for the start-up log:
// one "name = value [origin]" line per setting.
std::vector<std::string> describe(const Config& config);

// The settings the admin may change while the server runs (DESIGN.md §6), by their
// names (the TOML keys: max_active_users, session_duration, paused, ...).
std::vector<std::string> runtime_setting_names();
// Sets one run-time setting from text, with the same parser and validation as the
// environment and the flags (durations in seconds or with a unit, booleans true/false).
// Throws ConfigError for an unknown name, a setting fixed at start-up, or a bad value.
void set_runtime_setting(Config& config, std::string_view name, std::string_view value);

}  // namespace waitroom::cli
