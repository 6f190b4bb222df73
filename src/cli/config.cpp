// The configuration table and the four layers that feed it.
//
// Every setting is one row of `settings()`: its name (which is also its TOML key; the
// environment variable is the name in upper case and the flag the name in kebab case, so
// the seed's MAX_ACTIVE_USERS, max_active_users and --max-active-users can never drift
// apart), its help text, the TOML type it accepts, whether the admin may change it at run
// time, and two functions: one that parses and validates a text into the Config and one
// that shows the current value. Defaults are the member initialisers of Config and
// engine::Settings, shown by the same function, so they too are written once.
//
// Every source is reduced to text before it reaches a row: environment values and flag
// values are text already, and a TOML value is first checked against the row's type
// (a string where a number belongs is an error, not a conversion) and then written out.
// Thus one parser per setting serves the environment, the file, the flags and the admin
// route, and every error message has the same shape: the setting, where the value came
// from, and what is accepted.
#include "cli/config.hpp"

#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <functional>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#ifndef WAITROOM_VERSION
#define WAITROOM_VERSION "unknown"
#endif

namespace waitroom::cli {
namespace {

// What a TOML value must be for a row; environment and flags are always text.
enum class ValueType : std::uint8_t { integer, duration, text, boolean };

std::string_view type_name(ValueType type) {
  switch (type) {
    case ValueType::integer:
      return "an integer";
    case ValueType::duration:
      return "a number of seconds or a duration string";
    case ValueType::text:
      return "a string";
    case ValueType::boolean:
      return "a boolean";
  }
  return "a value";
}

// The few settings whose environment variable is not their name in upper case: the gate's
// names in the brief (UPSTREAM_URL for --upstream, GATE_PREFIX for --prefix).
std::string_view env_alias(std::string_view name) {
  if (name == "upstream") return "UPSTREAM_URL";
  if (name == "prefix") return "GATE_PREFIX";
  return {};
}

struct Setting {
  std::string name;  // TOML key; env = upper case, flag = "--" + kebab case
  std::string group;
  std::string help;
  std::string type_hint;  // for --help, e.g. "N", "DURATION", "tickets|open"
  ValueType type;
  bool runtime = false;  // the admin may change it while the server runs
  bool secret = false;   // never shown or echoed in messages
  // Parses `text` into `config`; `where` names the setting and the source, for errors.
  std::function<void(Config& config, std::string_view text, const std::string& where)> set;
  std::function<std::string(const Config& config)> show;

  std::string env() const {
    if (auto alias = env_alias(name); !alias.empty()) return std::string(alias);
    std::string out = name;
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
  }
  std::string flag() const {
    std::string out = "--" + name;
    std::replace(out.begin(), out.end(), '_', '-');
    return out;
  }
};

std::string trim(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return std::string(text);
}

std::string lower(std::string_view text) {
  std::string out = trim(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A value as it may appear in a message: bounded and without control characters, since
// it may come from anywhere.
std::string printable(std::string_view text) {
  constexpr std::size_t kMax = 64;
  std::string out;
  for (char c : text.substr(0, kMax)) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  }
  if (text.size() > kMax) out += "...";
  return out;
}

[[noreturn]] void reject(std::string_view text, const std::string& where, std::string_view expected,
                         bool secret = false) {
  std::string shown = secret ? "" : " \"" + printable(text) + "\"";
  throw ConfigError("invalid value" + shown + " for " + where + ": expected " +
                    std::string(expected));
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  std::string trimmed = trim(text);
  if (trimmed.empty() || trimmed.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (ec != std::errc{} || end != trimmed.data() + trimmed.size()) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string value = lower(text);
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  return std::nullopt;
}

std::string format_duration(Duration duration) {
  auto ms = duration.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// Row builders. `access` is a generic lambda returning a reference to the field, so one
// lambda serves both the parser (Config&) and the display (const Config&).

template <typename Access>
Setting count(std::string name, std::string group, std::string help, bool runtime, Access access,
              std::uint64_t min, std::uint64_t max) {
  std::string accepted = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  Setting row{std::move(name),
              std::move(group),
              std::move(help) + " (" + accepted + ")",
              "N",
              ValueType::integer,
              runtime,
              false,
              nullptr,
              nullptr};
  row.set = [=](Config& config, std::string_view text, const std::string& where) {
    auto value = parse_unsigned(text);
    if (!value || *value < min || *value > max) reject(text, where, accepted);
    using Field = std::remove_reference_t<decltype(access(config))>;
    access(config) = static_cast<Field>(*value);
  };
  row.show = [=](const Config& config) { return std::to_string(access(config)); };
  return row;
}

template <typename Access>
Setting duration(std::string name, std::string group, std::string help, bool runtime, Access access,
                 std::string zero_meaning) {
  // An empty `zero_meaning` means 0 is refused; otherwise it says what 0 does.
  const bool zero_allowed = !zero_meaning.empty();
  Setting row{std::move(name),
              std::move(group),
              std::move(help) + (zero_allowed ? " (0: " + zero_meaning + ")" : " (greater than 0)"),
              "DURATION",
              ValueType::duration,
              runtime,
              false,
              nullptr,
              nullptr};
  row.set = [=](Config& config, std::string_view text, const std::string& where) {
    Duration value = parse_duration(text, where);
    if (!zero_allowed && value <= Duration{0}) {
      reject(text, where, "a duration greater than 0, e.g. \"300\", \"5s\", \"250ms\"");
    }
    access(config) = value;
  };
  row.show = [=](const Config& config) { return format_duration(access(config)); };
  return row;
}

template <typename Access>
Setting boolean(std::string name, std::string group, std::string help, bool runtime,
                Access access) {
  Setting row{
      std::move(name), std::move(group), std::move(help), "true|false", ValueType::boolean, runtime,
      false,           nullptr,          nullptr};
  row.set = [=](Config& config, std::string_view text, const std::string& where) {
    auto value = parse_bool(text);
    if (!value) reject(text, where, "true or false (also 1/0, yes/no, on/off)");
    access(config) = *value;
  };
  row.show = [=](const Config& config) { return std::string(access(config) ? "true" : "false"); };
  return row;
}

template <typename Enum, typename Access>
Setting choice(std::string name, std::string group, std::string help, bool runtime, Access access,
               std::vector<std::pair<std::string, Enum>> names) {
  std::string hint;
  std::string accepted = "one of";
  for (std::size_t i = 0; i < names.size(); ++i) {
    hint += (i ? "|" : "") + names[i].first;
    accepted += (i ? ", " : " ") + names[i].first;
  }
  Setting row{std::move(name), std::move(group), std::move(help), hint, ValueType::text, runtime,
              false,           nullptr,          nullptr};
  row.set = [=](Config& config, std::string_view text, const std::string& where) {
    std::string value = lower(text);
    for (const auto& [spelling, member] : names) {
      if (value == spelling) {
        access(config) = member;
        return;
      }
    }
    reject(text, where, accepted);
  };
  row.show = [=](const Config& config) {
    for (const auto& [spelling, member] : names) {
      if (access(config) == member) return spelling;
    }
    return std::string("?");
  };
  return row;
}

// Free text. A secret is at least `min_length` long unless empty, and never echoed.
template <typename Access>
Setting text(std::string name, std::string group, std::string help, Access access,
             std::size_t min_length, bool secret, bool empty_allowed) {
  std::string accepted = min_length > 1
                             ? "a string of at least " + std::to_string(min_length) + " characters"
                             : std::string("a non-empty string");
  if (empty_allowed) accepted += " (or empty for none)";
  Setting row{std::move(name), std::move(group),
              std::move(help), secret ? "SECRET" : "TEXT",
              ValueType::text, false,
              secret,          nullptr,
              nullptr};
  row.set = [=](Config& config, std::string_view text, const std::string& where) {
    bool ok = (text.empty() && empty_allowed) || (!text.empty() && text.size() >= min_length);
    if (!ok) reject(text, where, accepted, secret);
    access(config) = std::string(text);
  };
  row.show = [=](const Config& config) -> std::string {
    const std::string& value = access(config);
    if (!secret) return value;
    return value.empty() ? "(none)" : "******** (" + std::to_string(value.size()) + " bytes)";
  };
  return row;
}

// Text checked by `check`, which answers what a value should be ("" when it is fine).
template <typename Access>
Setting text_checked_by(std::string name, std::string group, std::string help, std::string hint,
                        Access access, std::function<std::string(std::string_view)> check) {
  Setting row{std::move(name), std::move(group), std::move(help),
              std::move(hint), ValueType::text,  false,
              false,           nullptr,          nullptr};
  row.set = [=](Config& config, std::string_view text, const std::string& where) {
    if (auto expected = check(text); !expected.empty()) reject(text, where, expected);
    access(config) = std::string(text);
  };
  row.show = [=](const Config& config) -> std::string { return access(config); };
  return row;
}

template <typename Access>
Setting path(std::string name, std::string group, std::string help, Access access) {
  Setting row{std::move(name), std::move(group), std::move(help), "PATH", ValueType::text, false,
              false,           nullptr,          nullptr};
  row.set = [=](Config& config, std::string_view text, const std::string& where) {
    if (text.empty()) reject(text, where, "a non-empty path");
    access(config) = std::filesystem::path(std::string(text));
  };
  row.show = [=](const Config& config) -> std::string {
    const auto& value = access(config);
    using Field = std::remove_cvref_t<decltype(value)>;
    if constexpr (std::is_same_v<Field, std::optional<std::filesystem::path>>) {
      return value ? value->string() : "(none)";
    } else {
      return value.string();
    }
  };
  return row;
}

// A validated free-text row: `validate` returns the value to store or throws through reject.
template <typename Access, typename Validate>
Setting checked_text(std::string name, std::string group, std::string help, std::string hint,
                     Access access, Validate validate) {
  Setting row{std::move(name), std::move(group), std::move(help),
              std::move(hint), ValueType::text,  false,
              false,           nullptr,          nullptr};
  row.set = [=](Config& config, std::string_view text, const std::string& where) {
    validate(config, trim(text), where);
  };
  row.show = [=](const Config& config) -> std::string {
    const std::string& value = access(config);
    return value.empty() ? "(none)" : value;
  };
  return row;
}

// A Redis key or channel prefix: printable, no spaces, bounded (it is part of every key).
template <typename Access>
Setting prefix(std::string name, std::string group, std::string help, Access access) {
  const std::string accepted =
      "1 to 100 printable characters without spaces or glob characters (* ? [ ])";
  Setting row{std::move(name), std::move(group), std::move(help), "TEXT", ValueType::text, false,
              false,           nullptr,          nullptr};
  row.set = [=](Config& config, std::string_view text, const std::string& where) {
    bool ok = !text.empty() && text.size() <= 100;
    for (char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte <= 0x20 || byte >= 0x7f || c == '*' || c == '?' || c == '[' || c == ']') ok = false;
    }
    if (!ok) reject(text, where, accepted);
    access(config) = std::string(text);
  };
  row.show = [=](const Config& config) { return access(config); };
  return row;
}

// REDIS_URL: host, port, database, user and password in one value (the password masked
// when shown).
Setting redis_url(std::string group) {
  Setting row{"redis_url",
              std::move(group),
              "Redis as redis://[[user]:password@]host[:port][/db] (sets redis_host, redis_port, "
              "redis_db and redis_password; those settings, if also given, override it)",
              "URL",
              ValueType::text,
              false,
              false,
              nullptr,
              nullptr};
  row.set = [](Config& config, std::string_view text, const std::string& where) {
    parse_redis_url(config, text, where);
    config.redis_url = std::string(text);
  };
  row.show = [](const Config& config) -> std::string {
    if (config.redis_url.empty()) return "(none)";
    std::string shown = "redis://";
    if (!config.redis_username.empty() || !config.redis_password.empty()) {
      shown += config.redis_username + (config.redis_password.empty() ? "@" : ":********@");
    }
    return shown + config.redis_host + ":" + std::to_string(config.redis_port) + "/" +
           std::to_string(config.redis_db);
  };
  return row;
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// http://HOST[:PORT][/]: the gate speaks plain HTTP to its upstream (TLS ends in front of
// waitroom, or the upstream is on a private network), and forwards each request's own path,
// so the URL carries no path, query or credentials.
void set_upstream(Config& config, const std::string& text, const std::string& where) {
  constexpr std::string_view expected =
      "empty (no gate) or http://HOST[:PORT], e.g. http://openwebui:8080 (no path, no https)";
  if (text.empty()) {
    config.upstream.clear();
    config.upstream_host.clear();
    config.upstream_port = 0;
    return;
  }
  std::string_view rest = text;
  if (lower(rest.substr(0, 7)) != "http://") reject(text, where, expected);
  rest.remove_prefix(7);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  std::string_view host = rest;
  std::string_view port_text;
  if (rest.starts_with('[')) {  // [IPv6]
    const auto close = rest.find(']');
    if (close == std::string_view::npos) reject(text, where, expected);
    host = rest.substr(1, close - 1);
    const auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') reject(text, where, expected);
      port_text = after.substr(1);
    }
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
      reject(text, where, expected);
    }
  } else {
    const auto colon = rest.find(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port_text = rest.substr(colon + 1);
    }
    if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), is_host_char)) {
      reject(text, where, expected);
    }
  }
  std::uint64_t port = 80;
  if (!port_text.empty() || rest.find(':') != std::string_view::npos) {
    auto parsed = parse_unsigned(port_text);
    if (!parsed || *parsed < 1 || *parsed > 65535) reject(text, where, expected);
    port = *parsed;
  }
  config.upstream = text;
  config.upstream_host = std::string(host);
  config.upstream_port = static_cast<std::uint16_t>(port);
}

// "" (automatic) or /segment[/segment...]: unreserved URL characters only, so that the
// prefix can be compared with request paths byte for byte and written into HTML as is.
void set_prefix(Config& config, const std::string& text, const std::string& where) {
  constexpr std::string_view expected =
      "empty (automatic: /_waitroom with an upstream) or a path such as /_waitroom: segments of "
      "A-Z a-z 0-9 . _ ~ -, no trailing slash, at most 64 characters";
  if (text.empty()) {
    config.prefix.clear();
    return;
  }
  if (text.size() > 64 || text[0] != '/' || text.back() == '/' ||
      text.find("//") != std::string::npos) {
    reject(text, where, expected);
  }
  for (char c : text) {
    if (!(is_host_char(c) || c == '~' || c == '/')) reject(text, where, expected);
  }
  if (text.find("/./") != std::string::npos || text.find("/../") != std::string::npos ||
      text.ends_with("/.") || text.ends_with("/..")) {
    reject(text, where, expected);
  }
  config.prefix = text;
}

// An HTTP field name (RFC 9110 token), and not one that carries something else already: the
// identity header replaces neither the credentials nor the framing of a request.
void set_trusted_user_header(Config& config, const std::string& text, const std::string& where) {
  constexpr std::string_view expected =
      "empty (none) or an HTTP header name such as X-Forwarded-Email (letters, digits, "
      "!#$%&'*+-.^_`|~; not Host, Cookie, Authorization, Connection or another hop-by-hop field)";
  if (text.empty()) {
    config.trusted_user_header.clear();
    return;
  }
  auto tchar = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  };
  if (text.size() > 64 || !std::all_of(text.begin(), text.end(), tchar)) {
    reject(text, where, expected);
  }
  const std::string name = lower(text);
  for (std::string_view refused :
       {"host", "cookie", "authorization", "connection", "keep-alive", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "content-type", "expect"}) {
    if (name == refused) reject(text, where, expected);
  }
  if (name.starts_with("proxy-")) reject(text, where, expected);
  config.trusted_user_header = text;
}

// THE table. The order is the order of --help and describe().
const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = [] {
    constexpr std::uint64_t kMaxUsers = 1'000'000;
    const std::string page = "Waiting-room page";
    auto page_text = [](std::size_t max_length) {
      return [max_length](std::string_view text) { return web::check_page_text(text, max_length); };
    };
    const std::string engine = "Queue";
    const std::string server = "Server";
    const std::string auth = "Identity";
    const std::string storage = "Storage";
    const std::string limits = "Limits";
    const std::string gate = "Gate";
    return std::vector<Setting>{
        // The engine (DESIGN.md §2); all of these may change at run time.
        count(
            "max_active_users", engine, "Users holding a slot (draft + connected)", true,
            [](auto& c) -> auto& { return c.engine.max_active_users; }, 1, kMaxUsers),
        duration(
            "session_duration", engine, "Length of a session", true,
            [](auto& c) -> auto& { return c.engine.session_duration; }, ""),
        duration(
            "draft_duration", engine, "Time to confirm a slot held for you", true,
            [](auto& c) -> auto& { return c.engine.draft_duration; }, ""),
        duration(
            "idle_timeout", engine, "Disconnect a connected user without activity", true,
            [](auto& c) -> auto& { return c.engine.idle_timeout; }, "off"),
        duration(
            "presence_timeout", engine, "Drop a waiting user who stopped polling", true,
            [](auto& c) -> auto& { return c.engine.presence_timeout; }, "off"),
        count(
            "max_draft_misses", engine, "Missed drafts in a row before disconnection", true,
            [](auto& c) -> auto& { return c.engine.max_draft_misses; }, 1, 1000),
        duration(
            "expiring_soon", engine, "Warn this long before a draft or session ends", true,
            [](auto& c) -> auto& { return c.engine.expiring_soon; }, "off"),
        choice<engine::RequeuePolicy>(
            "requeue_policy", engine, "Where a missed draft goes back in the queue", true,
            [](auto& c) -> auto& { return c.engine.requeue_policy; },
            {{"back", engine::RequeuePolicy::back}, {"front", engine::RequeuePolicy::front}}),
        boolean(
            "session_renewal", engine, "A heartbeat renews the session to its full length", true,
            [](auto& c) -> auto& { return c.engine.session_renewal; }),
        duration(
            "disconnected_retention", engine, "How long a disconnected user's record is kept", true,
            [](auto& c) -> auto& { return c.engine.disconnected_retention; }, "forget at once"),
        boolean(
            "paused", engine, "Start with admissions paused", true,
            [](auto& c) -> auto& { return c.paused; }),

        text(
            "host", server, "Address to listen on", [](auto& c) -> auto& { return c.host; }, 1,
            false, false),
        count(
            "port", server, "Port to listen on (0: any free port)", false,
            [](auto& c) -> auto& { return c.port; }, 0, 65535),
        count(
            "threads", server, "I/O threads (0: one per core)", false,
            [](auto& c) -> auto& { return c.threads; }, 0, 1024),
        choice<std::string>("log_level", server, "Log level", false,
                            [](auto& c) -> auto& { return c.log_level; },
                            {{"trace", "trace"},
                             {"debug", "debug"},
                             {"info", "info"},
                             {"warn", "warn"},
                             {"error", "error"},
                             {"critical", "critical"},
                             {"off", "off"}}),

        choice<AuthMode>("auth_mode", auth,
                         "tickets: callers prove their identity; open: trusted network only", false,
                         [](auto& c) -> auto& { return c.auth_mode; },
                         {{"tickets", AuthMode::tickets}, {"open", AuthMode::open}}),
        text(
            "ticket_secret", auth, "HMAC key for tickets (default: read or create a file)",
            [](auto& c) -> auto& { return c.ticket_secret; }, 32, true, true),
        path(
            "ticket_secret_file", auth, "File holding the ticket key (created if missing)",
            [](auto& c) -> auto& { return c.ticket_secret_file; }),
        text(
            "api_key", auth, "Backend key that may act for any user (empty: none)",
            [](auto& c) -> auto& { return c.api_key; }, 1, true, true),
        text(
            "admin_token", auth, "Token for the admin routes (empty: admin disabled)",
            [](auto& c) -> auto& { return c.admin_token; }, 1, true, true),
        choice<CookieSecure>("cookie_secure", auth, "Secure attribute of the ticket cookie", false,
                             [](auto& c) -> auto& { return c.cookie_secure; },
                             {{"auto", CookieSecure::automatic},
                              {"always", CookieSecure::always},
                              {"never", CookieSecure::never}}),

        path(
            "data_dir", storage, "Directory for the journal, the snapshot and the ticket secret",
            [](auto& c) -> auto& { return c.data_dir; }),
        boolean(
            "ephemeral", storage, "Keep nothing on disk: a restart loses the queue (demos only)",
            false, [](auto& c) -> auto& { return c.ephemeral; }),
        choice<StoreKind>("store", storage, "Where the queue lives", false,
                          [](auto& c) -> auto& { return c.store; },
                          {{"memory", StoreKind::memory}, {"redis", StoreKind::redis}}),
        redis_url(storage),
        text(
            "redis_host", storage, "Redis host", [](auto& c) -> auto& { return c.redis_host; }, 1,
            false, false),
        count(
            "redis_port", storage, "Redis port", false,
            [](auto& c) -> auto& { return c.redis_port; }, 1, 65535),
        count(
            "redis_db", storage, "Redis database number", false,
            [](auto& c) -> auto& { return c.redis_db; }, 0, 65535),
        text(
            "redis_password", storage, "Redis password (AUTH; empty: none)",
            [](auto& c) -> auto& { return c.redis_password; }, 1, true, true),
        prefix(
            "redis_key_prefix", storage, "Prefix of every Redis key of this room",
            [](auto& c) -> auto& { return c.redis_key_prefix; }),
        prefix(
            "redis_channel_prefix", storage,
            "Prefix of the notification channels (the seed's queue_status:{user_id})",
            [](auto& c) -> auto& { return c.redis_channel_prefix; }),
        duration(
            "redis_timeout", storage,
            "Redis connect and command deadline: past it the API answers 503", false,
            [](auto& c) -> auto& { return c.redis_timeout; }, ""),
        count(
            "redis_connections", storage, "Pipelined Redis connections (plus one for pub/sub)",
            false, [](auto& c) -> auto& { return c.redis_connections; }, 1, 64),
        duration(
            "redis_stream_lease", storage,
            "An instance that dies: its event streams count as closed after this", false,
            [](auto& c) -> auto& { return c.redis_stream_lease; }, "never"),

        checked_text(
            "upstream", gate,
            "Put waitroom in front of this app: http://HOST:PORT (empty: no gate, API only)", "URL",
            [](auto& c) -> auto& { return c.upstream; }, set_upstream),
        checked_text(
            "prefix", gate,
            "Path under which waitroom's own pages and API live (empty: /_waitroom with an "
            "upstream, the root without)",
            "PATH", [](auto& c) -> auto& { return c.prefix; }, set_prefix),
        checked_text(
            "trusted_user_header", gate,
            "Take the user id from this header, set by a trusted front proxy (empty: ticket "
            "cookie only)",
            "NAME", [](auto& c) -> auto& { return c.trusted_user_header; },
            set_trusted_user_header),
        duration(
            "upstream_connect_timeout", gate, "Give up connecting to the upstream after", false,
            [](auto& c) -> auto& { return c.upstream_connect_timeout; }, ""),

        count(
            "max_user_id_length", limits, "Longest accepted user id", false,
            [](auto& c) -> auto& { return c.limits.max_user_id_length; }, 1, 1024),
        count(
            "max_body_bytes", limits, "Largest request body", false,
            [](auto& c) -> auto& { return c.limits.max_body_bytes; }, 1, 64 * 1024 * 1024),
        count(
            "max_header_bytes", limits, "Largest request header block", false,
            [](auto& c) -> auto& { return c.limits.max_header_bytes; }, 1024, 1024 * 1024),
        count(
            "max_connections", limits, "Open connections at most", false,
            [](auto& c) -> auto& { return c.limits.max_connections; }, 1, 10'000'000),
        duration(
            "header_timeout", limits, "Time to receive a request's headers", false,
            [](auto& c) -> auto& { return c.limits.header_timeout; }, ""),
        duration(
            "keep_alive_timeout", limits, "Idle keep-alive connections are closed after", false,
            [](auto& c) -> auto& { return c.limits.keep_alive_timeout; }, ""),
        duration(
            "sse_keepalive_interval", limits, "Keep-alive comment period on event streams", false,
            [](auto& c) -> auto& { return c.limits.sse_keepalive_interval; }, ""),
        duration(
            "position_update_interval", limits, "At most one position update per stream this often",
            false, [](auto& c) -> auto& { return c.limits.position_update_interval; },
            "no coalescing"),
        count(
            "max_queued_messages", limits, "Messages queued per stream before dropping it", false,
            [](auto& c) -> auto& { return c.limits.max_queued_messages; }, 1, 1'000'000),
        count(
            "max_streams_per_user", limits,
            "Event streams and WebSockets one user may hold open at once (429 beyond)", false,
            [](auto& c) -> auto& { return c.limits.max_streams_per_user; }, 1, 10'000),

        text_checked_by(
            "service_name", page, "Name of the service, in the page's title and texts", "TEXT",
            [](auto& c) -> auto& { return c.page.service_name; },
            [](std::string_view text) -> std::string {
              if (text.empty()) return "a name of 1 to 64 bytes";
              return web::check_page_text(text, 64);
            }),
        text_checked_by(
            "logo_url", page, "Logo shown next to the name (empty: none)", "URL",
            [](auto& c) -> auto& { return c.page.logo_url; }, web::check_logo_url),
        text_checked_by(
            "theme_color", page, "Accent colour: buttons, progress bar, position", "#RRGGBB",
            [](auto& c) -> auto& { return c.page.theme_color; }, web::check_colour),
        text_checked_by(
            "theme_background", page, "Background colour of the page", "#RRGGBB",
            [](auto& c) -> auto& { return c.page.theme_background; }, web::check_colour),
        text_checked_by(
            "theme_text", page, "Text colour of the page", "#RRGGBB",
            [](auto& c) -> auto& { return c.page.theme_text; }, web::check_colour),
        text_checked_by(
            "welcome_text", page, "Text shown under every screen of the page (empty: none)", "TEXT",
            [](auto& c) -> auto& { return c.page.welcome_text; }, page_text(1000)),
        text_checked_by(
            "welcome_text_fr", page, "French version of welcome_text (empty: welcome_text)", "TEXT",
            [](auto& c) -> auto& { return c.page.welcome_text_fr; }, page_text(1000)),
        path(
            "web_root", page, "Serve the page's files from this directory (live editing)",
            [](auto& c) -> auto& { return c.page.web_root; }),
    };
  }();
  return table;
}

const Setting* find_setting(std::string_view name) {
  for (const auto& row : settings()) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

constexpr std::string_view kConfigEnv = "WAITROOM_CONFIG";

// Reduces a TOML value to the text its row parses, or explains the type mismatch.
std::optional<std::string> toml_text(const toml::node& node, ValueType type) {
  switch (type) {
    case ValueType::integer:
      if (auto value = node.value_exact<std::int64_t>()) return std::to_string(*value);
      return std::nullopt;
    case ValueType::duration:
      if (auto value = node.value_exact<std::int64_t>()) return std::to_string(*value);
      if (auto value = node.value_exact<double>()) {
        // Fixed notation: "0.001", never "1e-03", which parse_duration does not read.
        char buffer[64];
        auto [end, ec] =
            std::to_chars(buffer, buffer + sizeof buffer, *value, std::chars_format::fixed);
        if (ec != std::errc{}) return std::string("(too large)");
        return std::string(buffer, end);
      }
      if (auto value = node.value_exact<std::string>()) return *value;
      return std::nullopt;
    case ValueType::text:
      if (auto value = node.value_exact<std::string>()) return *value;
      return std::nullopt;
    case ValueType::boolean:
      if (auto value = node.value_exact<bool>()) return std::string(*value ? "true" : "false");
      return std::nullopt;
  }
  return std::nullopt;
}

std::string_view toml_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date or time";
  }
}

void apply_file(Config& config, const std::filesystem::path& file, const std::string& origin) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    throw ConfigError("config file " + file.string() + " (from " + origin + ") not found");
  }
  if (std::filesystem::is_directory(file, ec)) {
    throw ConfigError("config file " + file.string() + " (from " + origin +
                      ") is a directory, not a file");
  }
  toml::table table;
  try {
    table = toml::parse_file(file.string());
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    throw ConfigError("config file " + file.string() + " line " + std::to_string(begin.line) +
                      ", column " + std::to_string(begin.column) +
                      ": invalid TOML: " + std::string(error.description()));
  }

  std::set<std::string> seen;
  auto apply_table = [&](const toml::table& entries, std::string_view prefix, auto& self) -> void {
    for (const auto& [key, node] : entries) {
      std::string name(key.str());
      std::string where_line =
          "config file " + file.string() + " line " + std::to_string(node.source().begin.line);
      if (prefix.empty() && name == "waitroom" && node.is_table()) {
        self(*node.as_table(), "waitroom.", self);
        continue;
      }
      const Setting* row = find_setting(name);
      if (row == nullptr) {
        throw ConfigError("unknown setting \"" + std::string(prefix) + printable(name) + "\" in " +
                          where_line +
                          "; settings are lower_snake_case names such as max_active_users, "
                          "as listed by `waitroom serve --help`");
      }
      if (!seen.insert(name).second) {
        throw ConfigError("setting " + name + " is given twice in config file " + file.string() +
                          " (at top level and in [waitroom])");
      }
      std::string where = name + " (" + where_line + ")";
      auto text = toml_text(node, row->type);
      if (!text) {
        throw ConfigError("wrong type for " + where + ": expected " +
                          std::string(type_name(row->type)) + ", found " +
                          std::string(toml_type_name(node)));
      }
      row->set(config, *text, where);
      config.origins[row->name] = "file " + file.string();
    }
  };
  apply_table(table, "", apply_table);
  config.config_file = file;
}

// Where an error message sends the reader; the same words for every row.
std::string env_where(const Setting& row) {
  return row.name + " (environment variable " + row.env() + ")";
}
std::string flag_where(const Setting& row) {
  return row.name + " (flag " + row.flag() + ")";
}

// The command-line parser. One CLI::App per call: it holds pointers into `flag_values`.
struct Parser {
  CLI::App app{"waitroom: a virtual waiting room in front of a web app", "waitroom"};
  CLI::App* serve = nullptr;
  CLI::App* load_test = nullptr;
  std::vector<std::string> flag_values;
  std::vector<CLI::Option*> flag_options;
  std::string config_path;
  CLI::Option* config_option = nullptr;

  Parser() {
    app.set_version_flag("--version", std::string("waitroom ") + WAITROOM_VERSION);
    app.footer(
        "Settings come from defaults, then the environment, then the config file,\n"
        "then flags; each layer overrides the one before.");
    serve = app.add_subcommand("serve", "Run the waiting room server");
    add_setting_flags(*serve);
    // Everything after `load-test` (its --help too) goes to src/loadtest's own parser.
    load_test = app.add_subcommand("load-test", "Simulate users against a running server");
    load_test->prefix_command();
    load_test->set_help_flag();
  }

  void add_setting_flags(CLI::App& command) {
    config_option = command.add_option("--config", config_path,
                                       "TOML config file (env " + std::string(kConfigEnv) + ")");
    config_option->type_name("PATH");
    const Config defaults;
    flag_values.resize(settings().size());
    for (std::size_t i = 0; i < settings().size(); ++i) {
      const Setting& row = settings()[i];
      std::string help = row.help + "\n[env " + row.env() + ", default " + row.show(defaults) +
                         (row.runtime ? ", changeable at run time]" : "]");
      CLI::Option* option = command.add_option(row.flag(), flag_values[i], help);
      option->type_name(row.type_hint);
      option->group(row.group);
      option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
      // A bare boolean flag (--paused) means true.
      if (row.type == ValueType::boolean) option->expected(0, 1);
      flag_options.push_back(option);
    }
  }
};

std::vector<std::string> reversed_arguments(const CLI::App& app,
                                            const std::vector<std::string>& args) {
  // args[0] is the program name (argv[0]). A caller that passes the arguments alone is
  // recognised by its first element being one of our subcommands or an option.
  bool has_program_name = !args.empty();
  if (!args.empty()) {
    const std::string& first = args[0];
    if (!first.empty() && first[0] == '-') has_program_name = false;
    for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (command->get_name() == first) has_program_name = false;
    }
  }
  std::vector<std::string> out;
  std::size_t stop = has_program_name ? 1 : 0;
  for (std::size_t i = args.size(); i > stop; --i) out.push_back(args[i - 1]);
  return out;  // CLI11 takes its vector in reverse order
}

Config build_serve_config(const Parser& parser, const Environment& env) {
  Config config;

  // Layer 2: the environment. An empty variable counts as unset, as in most
  // deployment tools where `API_KEY=` means "not configured".
  for (const auto& row : settings()) {
    auto it = env.find(row.env());
    if (it == env.end() || it->second.empty()) continue;
    row.set(config, it->second, env_where(row));
    config.origins[row.name] = "env " + row.env();
  }

  // Layer 3: the file, named by the flag or else by the environment.
  if (parser.config_option->count() > 0) {
    if (parser.config_path.empty()) throw ConfigError("flag --config needs a file path");
    apply_file(config, parser.config_path, "flag --config");
  } else if (auto it = env.find(std::string(kConfigEnv)); it != env.end() && !it->second.empty()) {
    apply_file(config, it->second, "environment variable " + std::string(kConfigEnv));
  }

  // Layer 4: the flags.
  for (std::size_t i = 0; i < settings().size(); ++i) {
    const Setting& row = settings()[i];
    if (parser.flag_options[i]->count() == 0) continue;
    std::string value = parser.flag_values[i];
    // CLI11 records a bare flag that takes an optional value as an empty value.
    if (row.type == ValueType::boolean && value.empty()) value = "true";
    row.set(config, value, flag_where(row));
    config.origins[row.name] = "flag " + row.flag();
  }
  return config;
}

}  // namespace

std::string Config::effective_prefix() const {
  if (!prefix.empty()) return prefix;
  return upstream.empty() ? std::string() : std::string("/_waitroom");
}

Environment environment_from(const char* const* envp) {
  Environment env;
  if (envp == nullptr) return env;
  for (const char* const* entry = envp; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    auto equals = text.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    // The first definition wins, as getenv() does.
    env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  return env;
}

Command parse_command_line(const std::vector<std::string>& args, const Environment& env,
                           std::ostream& out, std::ostream& err) {
  Parser parser;
  std::vector<std::string> reversed = reversed_arguments(parser.app, args);
  try {
    parser.app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << parser.app.help();
    return Command{Command::Kind::exit, 0, {}, {}};
  } catch (const CLI::CallForAllHelp&) {
    out << parser.app.help("", CLI::AppFormatMode::All);
    return Command{Command::Kind::exit, 0, {}, {}};
  } catch (const CLI::CallForVersion& version) {
    out << version.what() << "\n";
    return Command{Command::Kind::exit, 0, {}, {}};
  } catch (const CLI::ParseError& error) {
    throw ConfigError(std::string("command line: ") + error.what() +
                      " (run `waitroom --help` for the accepted flags)");
  }

  if (parser.serve->parsed()) {
    Command command;
    command.kind = Command::Kind::serve;
    command.config = build_serve_config(parser, env);
    return command;
  }
  if (parser.load_test->parsed()) {
    Command command;
    command.kind = Command::Kind::load_test;
    command.load_test_args = parser.load_test->remaining();
    return command;
  }
  // No subcommand: say what there is to run, and fail like any other usage error.
  err << parser.app.help();
  return Command{Command::Kind::exit, 2, {}, {}};
}

Command parse_command_line(const std::vector<std::string>& args, const Environment& env) {
  return parse_command_line(args, env, std::cout, std::cerr);
}

Duration parse_duration(std::string_view text, std::string_view setting) {
  const std::string expected =
      "expected a number of seconds (\"300\", \"0.5\") or a number with a unit ms, s, m or h "
      "(\"250ms\", \"5s\", \"2m\", \"1h\"), in whole milliseconds and at most 365 days";
  auto fail = [&](std::string_view why) -> Duration {
    throw ConfigError("invalid duration \"" + printable(text) + "\" for " + std::string(setting) +
                      ": " + std::string(why) + expected);
  };

  std::string value = trim(text);
  if (!value.empty() && value[0] == '-') return fail("negative durations are not allowed; ");

  std::size_t pos = 0;
  auto digits = [&] {
    std::size_t start = pos;
    while (pos < value.size() && value[pos] >= '0' && value[pos] <= '9') ++pos;
    return std::string_view(value).substr(start, pos - start);
  };
  std::string_view whole = digits();
  std::string_view fraction;
  if (pos < value.size() && value[pos] == '.') {
    ++pos;
    fraction = digits();
    if (fraction.empty()) return fail("");
  }
  if (whole.empty()) return fail("");
  std::string_view unit = std::string_view(value).substr(pos);

  std::int64_t unit_ms = 0;
  if (unit.empty() || unit == "s") {
    unit_ms = 1000;
  } else if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "m") {
    unit_ms = 60'000;
  } else if (unit == "h") {
    unit_ms = 3'600'000;
  } else {
    return fail("");
  }

  constexpr std::int64_t kMaxMs = std::int64_t{365} * 24 * 3'600'000;
  // Leading zeros do not change the value; more than 12 significant digits is too large.
  while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (whole.size() > 12) return fail("too large; ");
  if (fraction.size() > 9) return fail("finer than a millisecond; ");

  std::int64_t whole_value = 0;
  std::from_chars(whole.data(), whole.data() + whole.size(), whole_value);
  std::int64_t fraction_value = 0;
  std::int64_t fraction_scale = 1;
  if (!fraction.empty()) {
    std::from_chars(fraction.data(), fraction.data() + fraction.size(), fraction_value);
    for (std::size_t i = 0; i < fraction.size(); ++i) fraction_scale *= 10;
  }
  // whole <= 10^12 and unit_ms <= 3.6e6 would overflow, so compare before multiplying.
  if (whole_value > kMaxMs / unit_ms) return fail("too large; ");
  std::int64_t ms = whole_value * unit_ms;
  // fraction_value < 10^9 and unit_ms <= 3.6e6: the product fits in 64 bits.
  std::int64_t fraction_ms_scaled = fraction_value * unit_ms;
  if (fraction_ms_scaled % fraction_scale != 0) return fail("finer than a millisecond; ");
  ms += fraction_ms_scaled / fraction_scale;
  if (ms > kMaxMs) return fail("too large; ");
  return Duration{ms};
}

void parse_redis_url(Config& config, std::string_view url, const std::string& where) {
  const std::string expected = "redis://[[user]:password@]host[:port][/db]";
  // Never echo the URL: it may hold a password.
  auto fail = [&](std::string_view why) {
    throw ConfigError("invalid value for " + where + ": " + std::string(why) + "; expected " +
                      expected);
  };
  const std::string scheme = lower(url.substr(0, url.find("://") + 3));
  if (scheme == "rediss://") fail("TLS (rediss://) is not supported");
  if (scheme != "redis://") fail("the scheme must be redis://");
  std::string_view rest = url.substr(scheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) fail("no query or fragment allowed");
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  // Percent-decoding, for user names and passwords with reserved characters.
  auto decode = [&](std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '%') {
        out += text[i];
        continue;
      }
      unsigned value = 0;
      if (i + 2 >= text.size() ||
          std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr !=
              text.data() + i + 3) {
        fail("a bad %-escape in the user or password");
      }
      out += static_cast<char>(value);
      i += 2;
    }
    return out;
  };
  std::string username;
  std::string password;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      password = decode(userinfo);  // redis://password@host, as redis-cli -u reads it
    } else {
      username = decode(userinfo.substr(0, colon));
      password = decode(userinfo.substr(colon + 1));
    }
  }
  std::string host;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) fail("an unclosed [ in the host");
    host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') fail("junk after the host");
      port_text = rest.substr(1);
    }
  } else {
    const auto colon = rest.rfind(':');
    host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (host.empty()) fail("no host");
  std::uint16_t port = 6379;
  if (!port_text.empty() || rest.ends_with(':')) {
    const auto value = parse_unsigned(port_text);
    if (!value || *value < 1 || *value > 65535) fail("the port must be from 1 to 65535");
    port = static_cast<std::uint16_t>(*value);
  }
  unsigned db = 0;
  if (!path.empty()) {
    const auto value = parse_unsigned(path);
    if (!value || *value > 65535) fail("the database must be a number from 0 to 65535");
    db = static_cast<unsigned>(*value);
  }
  config.redis_host = std::move(host);
  config.redis_port = port;
  config.redis_db = db;
  config.redis_username = std::move(username);
  config.redis_password = std::move(password);
}

std::vector<std::string> describe(const Config& config) {
  std::vector<std::string> lines;
  lines.push_back("config_file = " +
                  (config.config_file ? config.config_file->string() : std::string("(none)")));
  for (const auto& row : settings()) {
    std::string line = row.name + " = " + row.show(config);
    auto origin = config.origins.find(row.name);
    line += " [" + (origin == config.origins.end() ? std::string("default") : origin->second) + "]";
    lines.push_back(std::move(line));
  }
  return lines;
}

std::vector<std::string> runtime_setting_names() {
  std::vector<std::string> names;
  for (const auto& row : settings()) {
    if (row.runtime) names.push_back(row.name);
  }
  return names;
}

void set_runtime_setting(Config& config, std::string_view name, std::string_view value) {
  const Setting* row = find_setting(name);
  if (row == nullptr) {
    throw ConfigError("unknown setting \"" + printable(name) + "\"");
  }
  if (!row->runtime) {
    throw ConfigError("setting " + row->name + " cannot change at run time; restart with " +
                      row->flag() + " or " + row->env());
  }
  row->set(config, value, row->name + " (admin settings)");
  config.origins[row->name] = "admin";
}

}  // namespace waitroom::cli
