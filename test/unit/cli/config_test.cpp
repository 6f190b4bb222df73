// Checks the typed Config: the seed's defaults and environment names, the layering order
// (flag > file > environment > default) for settings of every kind, every validator's
// rejection and the words of its message (setting, source, what is accepted), durations
// down to the millisecond, the TOML file (types, [waitroom] table, unknown keys, syntax
// errors with their line, missing file), the command line (--help, --version, no
// subcommand, unknown flags), describe() masking secrets, and run-time changes.
#include "cli/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <random>
#include <sstream>

namespace waitroom::cli {
namespace {

using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("waitroom-config-test-" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    auto file = path_ / name;
    std::ofstream(file) << content;
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Parsed {
  Command command;
  std::string out;
  std::string err;
};

Parsed run(std::vector<std::string> args, const Environment& env = {}) {
  args.insert(args.begin(), "waitroom");
  std::ostringstream out;
  std::ostringstream err;
  Command command = parse_command_line(args, env, out, err);
  return Parsed{std::move(command), out.str(), err.str()};
}

Config serve(std::vector<std::string> flags, const Environment& env = {}) {
  flags.insert(flags.begin(), "serve");
  Parsed result = run(std::move(flags), env);
  EXPECT_EQ(result.command.kind, Command::Kind::serve);
  return result.command.config;
}

// The ConfigError message of `action`, or a test failure when it does not throw one.
std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no ConfigError was thrown";
  return "";
}

std::string serve_error(std::vector<std::string> flags, const Environment& env = {}) {
  return error_of([&] { serve(flags, env); });
}

#define EXPECT_CONTAINS(text, part)                          \
  EXPECT_NE(std::string(text).find(part), std::string::npos) \
      << "missing \"" << (part) << "\" in: " << (text)

// --- defaults and the seed's environment ---------------------------------------------

TEST(Config, DefaultsAreTheSeeds) {
  Config config = serve({});
  EXPECT_EQ(config.engine.max_active_users, 50u);
  EXPECT_EQ(config.engine.session_duration, 1200s);
  EXPECT_EQ(config.engine.draft_duration, 300s);
  EXPECT_EQ(config.redis_host, "localhost");
  EXPECT_EQ(config.redis_port, 6379);
  EXPECT_EQ(config.redis_db, 0u);
  EXPECT_EQ(config.port, 8000);
  EXPECT_EQ(config.auth_mode, AuthMode::tickets);
  EXPECT_EQ(config.store, StoreKind::memory);
  EXPECT_FALSE(config.config_file);
  EXPECT_TRUE(config.origins.empty());
}

TEST(Config, SeedEnvironmentVariablesKeepWorking) {
  Config config = serve({}, {{"MAX_ACTIVE_USERS", "10"},
                             {"SESSION_DURATION", "600"},
                             {"DRAFT_DURATION", "60"},
                             {"REDIS_HOST", "redis"},
                             {"REDIS_PORT", "6380"},
                             {"REDIS_DB", "2"}});
  EXPECT_EQ(config.engine.max_active_users, 10u);
  EXPECT_EQ(config.engine.session_duration, 600s);
  EXPECT_EQ(config.engine.draft_duration, 60s);
  EXPECT_EQ(config.redis_host, "redis");
  EXPECT_EQ(config.redis_port, 6380);
  EXPECT_EQ(config.redis_db, 2u);
}

// Every environment variable named in DESIGN.md and the brief is read: setting it to a
// non-default value shows up in describe() as coming from that variable.
TEST(Config, EveryDocumentedEnvironmentVariableIsRead) {
  const Environment env = {
      {"MAX_ACTIVE_USERS", "7"},
      {"SESSION_DURATION", "61"},
      {"DRAFT_DURATION", "31"},
      {"IDLE_TIMEOUT", "0"},
      {"PRESENCE_TIMEOUT", "9s"},
      {"MAX_DRAFT_MISSES", "3"},
      {"EXPIRING_SOON", "5"},
      {"REQUEUE_POLICY", "front"},
      {"SESSION_RENEWAL", "true"},
      {"DISCONNECTED_RETENTION", "10m"},
      {"HOST", "0.0.0.0"},
      {"PORT", "9000"},
      {"THREADS", "2"},
      {"AUTH_MODE", "open"},
      {"TICKET_SECRET", std::string(32, 's')},
      {"TICKET_SECRET_FILE", "/tmp/secret"},
      {"API_KEY", "backend-key"},
      {"ADMIN_TOKEN", "admin-token"},
      {"COOKIE_SECURE", "always"},
      {"DATA_DIR", "/var/lib/waitroom"},
      {"STORE", "redis"},
      {"REDIS_HOST", "redis"},
      {"REDIS_PORT", "6380"},
      {"REDIS_DB", "1"},
      {"REDIS_URL", "redis://:pw@other:6390/3"},
      {"REDIS_PASSWORD", "redis-password"},
      {"REDIS_KEY_PREFIX", "room2:"},
      {"REDIS_CHANNEL_PREFIX", "room2:queue_status:"},
      {"REDIS_TIMEOUT", "500ms"},
      {"REDIS_CONNECTIONS", "4"},
      {"REDIS_STREAM_LEASE", "3s"},
      {"LOG_LEVEL", "debug"},
      {"PAUSED", "yes"},
      {"MAX_USER_ID_LENGTH", "32"},
      {"MAX_BODY_BYTES", "1024"},
      {"MAX_HEADER_BYTES", "4096"},
      {"MAX_CONNECTIONS", "100"},
      {"HEADER_TIMEOUT", "5s"},
      {"KEEP_ALIVE_TIMEOUT", "30s"},
      {"SSE_KEEPALIVE_INTERVAL", "20s"},
      {"POSITION_UPDATE_INTERVAL", "500ms"},
      {"MAX_QUEUED_MESSAGES", "16"},
  };
  Config config = serve({}, env);
  auto lines = describe(config);
  for (const auto& [name, value] : env) {
    bool found = false;
    for (const auto& line : lines) {
      if (line.find("[env " + name + "]") != std::string::npos) found = true;
    }
    EXPECT_TRUE(found) << name << " was not read";
  }
  EXPECT_EQ(config.engine.presence_timeout, 9s);
  EXPECT_EQ(config.engine.requeue_policy, engine::RequeuePolicy::front);
  EXPECT_TRUE(config.engine.session_renewal);
  EXPECT_EQ(config.engine.disconnected_retention, 600s);
  EXPECT_EQ(config.auth_mode, AuthMode::open);
  EXPECT_EQ(config.ticket_secret_file, std::filesystem::path("/tmp/secret"));
  EXPECT_EQ(config.cookie_secure, CookieSecure::always);
  EXPECT_EQ(config.store, StoreKind::redis);
  EXPECT_TRUE(config.paused);
  EXPECT_EQ(config.limits.position_update_interval, 500ms);
  EXPECT_EQ(config.limits.max_queued_messages, 16u);
  // REDIS_URL comes first in the table: the separate variables override its parts.
  EXPECT_EQ(config.redis_host, "redis");
  EXPECT_EQ(config.redis_port, 6380);
  EXPECT_EQ(config.redis_db, 1u);
  EXPECT_EQ(config.redis_password, "redis-password");
  EXPECT_EQ(config.redis_key_prefix, "room2:");
  EXPECT_EQ(config.redis_channel_prefix, "room2:queue_status:");
  EXPECT_EQ(config.redis_timeout, 500ms);
  EXPECT_EQ(config.redis_connections, 4u);
  EXPECT_EQ(config.redis_stream_lease, 3s);
}

TEST(Config, RedisDefaults) {
  Config config = serve({});
  EXPECT_EQ(config.redis_key_prefix, "waitroom:");
  EXPECT_EQ(config.redis_channel_prefix, "queue_status:");
  EXPECT_EQ(config.redis_timeout, 2s);
  EXPECT_EQ(config.redis_connections, 2u);
  EXPECT_EQ(config.redis_password, "");
  EXPECT_EQ(config.redis_url, "");
}

TEST(Config, RedisUrlSetsHostPortDatabaseAndCredentials) {
  Config config = serve({}, {{"REDIS_URL", "redis://alice:s%40cret@cache.internal:6390/4"}});
  EXPECT_EQ(config.redis_host, "cache.internal");
  EXPECT_EQ(config.redis_port, 6390);
  EXPECT_EQ(config.redis_db, 4u);
  EXPECT_EQ(config.redis_username, "alice");
  EXPECT_EQ(config.redis_password, "s@cret");

  config = serve({"--redis-url", "redis://[::1]"});
  EXPECT_EQ(config.redis_host, "::1");
  EXPECT_EQ(config.redis_port, 6379);
  EXPECT_EQ(config.redis_db, 0u);

  // redis-cli's short form: a password without a user.
  config = serve({"--redis-url", "redis://hunter2@localhost:7000"});
  EXPECT_EQ(config.redis_password, "hunter2");
  EXPECT_EQ(config.redis_username, "");
  EXPECT_EQ(config.redis_port, 7000);

  // A flag for one part wins over the URL from the environment.
  config = serve({"--redis-port", "7001"}, {{"REDIS_URL", "redis://cache:6390/2"}});
  EXPECT_EQ(config.redis_host, "cache");
  EXPECT_EQ(config.redis_port, 7001);
  EXPECT_EQ(config.redis_db, 2u);
}

TEST(Config, RedisUrlErrorsNeverEchoThePassword) {
  for (const std::string url :
       {"rediss://:topsecret@host", "http://:topsecret@host", "redis://:topsecret@",
        "redis://:topsecret@host:0", "redis://:topsecret@host:99999", "redis://:topsecret@host/x",
        "redis://:topsecret@host?db=1", "redis://:top%zzsecret@host", "redis://:topsecret@[::1"}) {
    const auto message = serve_error({}, {{"REDIS_URL", url}});
    EXPECT_CONTAINS(message, "redis_url (environment variable REDIS_URL)");
    EXPECT_CONTAINS(message, "redis://[[user]:password@]host[:port][/db]");
    EXPECT_EQ(message.find("topsecret"), std::string::npos) << message;
  }
  EXPECT_CONTAINS(serve_error({}, {{"REDIS_URL", "rediss://host"}}), "TLS");
  auto lines = describe(serve({}, {{"REDIS_URL", "redis://u:topsecret@h:1/2"}}));
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  EXPECT_EQ(all.find("topsecret"), std::string::npos) << all;
  EXPECT_CONTAINS(all, "redis_url = redis://u:********@h:1/2 [env REDIS_URL]");
}

TEST(Config, EmptyEnvironmentVariableCountsAsUnset) {
  Config config = serve({}, {{"MAX_ACTIVE_USERS", ""}, {"HOST", ""}});
  EXPECT_EQ(config.engine.max_active_users, 50u);
  EXPECT_EQ(config.host, "127.0.0.1");
}

TEST(Config, EnvironmentFromEnvp) {
  const char* envp[] = {"A=1", "B=x=y", "EMPTY=", "NOEQUALS", "=nokey", "A=2", nullptr};
  Environment env = environment_from(envp);
  EXPECT_EQ(env.at("A"), "1");  // the first definition wins, as with getenv()
  EXPECT_EQ(env.at("B"), "x=y");
  EXPECT_EQ(env.at("EMPTY"), "");
  EXPECT_EQ(env.count("NOEQUALS"), 0u);
  EXPECT_EQ(env.size(), 3u);
  EXPECT_TRUE(environment_from(nullptr).empty());
}

// --- layering --------------------------------------------------------------------------

struct LayerCase {
  std::string name;  // TOML key
  std::string env_value, file_value, flag_value;
  std::function<std::string(const Config&)> read;
};

class Layering : public ::testing::TestWithParam<LayerCase> {};

std::string env_name(const std::string& key) {
  std::string out = key;
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}
std::string flag_name(const std::string& key) {
  std::string out = "--" + key;
  for (auto& c : out) c = c == '_' ? '-' : c;
  return out;
}

TEST_P(Layering, FlagOverFileOverEnvironmentOverDefault) {
  const LayerCase& c = GetParam();
  TempDir dir;
  auto file = dir.write("waitroom.toml", c.name + " = " + c.file_value + "\n");
  const Environment env = {{env_name(c.name), c.env_value}};
  const std::string default_value = c.read(serve({}));

  EXPECT_EQ(c.read(serve({}, env)), c.read(serve({flag_name(c.name), c.env_value})))
      << "environment";
  EXPECT_NE(c.read(serve({}, env)), default_value);

  Config from_file = serve({"--config", file.string()}, env);
  EXPECT_NE(c.read(from_file), c.read(serve({}, env))) << "the file must win over env";
  EXPECT_EQ(from_file.origins.at(c.name), "file " + file.string());

  Config from_flag = serve({"--config", file.string(), flag_name(c.name), c.flag_value}, env);
  EXPECT_NE(c.read(from_flag), c.read(from_file)) << "the flag must win over the file";
  EXPECT_EQ(from_flag.origins.at(c.name), "flag " + flag_name(c.name));
}

INSTANTIATE_TEST_SUITE_P(
    Settings, Layering,
    ::testing::Values(
        LayerCase{"max_active_users", "2", "3", "4",
                  [](const Config& c) { return std::to_string(c.engine.max_active_users); }},
        LayerCase{
            "session_duration", "20", "\"30s\"", "40",
            [](const Config& c) { return std::to_string(c.engine.session_duration.count()); }},
        LayerCase{"port", "8001", "8002", "8003",
                  [](const Config& c) { return std::to_string(c.port); }},
        LayerCase{"auth_mode", "open", "\"tickets\"", "open",
                  [](const Config& c) { return std::to_string(static_cast<int>(c.auth_mode)); }},
        LayerCase{"session_renewal", "true", "false", "true",
                  [](const Config& c) { return std::to_string(c.engine.session_renewal); }},
        LayerCase{"redis_host", "from-env", "\"from-file\"", "from-flag",
                  [](const Config& c) { return c.redis_host; }}),
    [](const auto& info) { return info.param.name; });

TEST(Config, ConfigFileFromEnvironmentAndFlagWins) {
  TempDir dir;
  auto env_file = dir.write("env.toml", "max_active_users = 11\n");
  auto flag_file = dir.write("flag.toml", "max_active_users = 12\n");
  Config config = serve({}, {{"WAITROOM_CONFIG", env_file.string()}});
  EXPECT_EQ(config.engine.max_active_users, 11u);
  EXPECT_EQ(config.config_file, env_file);
  config = serve({"--config", flag_file.string()}, {{"WAITROOM_CONFIG", env_file.string()}});
  EXPECT_EQ(config.engine.max_active_users, 12u);
  EXPECT_EQ(config.config_file, flag_file);
}

TEST(Config, FileValuesOfEveryType) {
  TempDir dir;
  auto file = dir.write("all.toml",
                        "# comment\n"
                        "max_active_users = 5\n"
                        "session_duration = 0.5\n"
                        "draft_duration = \"250ms\"\n"
                        "idle_timeout = 0\n"
                        "session_renewal = true\n"
                        "requeue_policy = \"front\"\n"
                        "data_dir = \"/srv/waitroom\"\n"
                        "[waitroom]\n"
                        "port = 9100\n");
  Config config = serve({"--config", file.string()});
  EXPECT_EQ(config.engine.max_active_users, 5u);
  EXPECT_EQ(config.engine.session_duration, 500ms);
  EXPECT_EQ(config.engine.draft_duration, 250ms);
  EXPECT_EQ(config.engine.idle_timeout, 0ms);
  EXPECT_TRUE(config.engine.session_renewal);
  EXPECT_EQ(config.engine.requeue_policy, engine::RequeuePolicy::front);
  EXPECT_EQ(config.data_dir, std::filesystem::path("/srv/waitroom"));
  EXPECT_EQ(config.port, 9100);
}

TEST(Config, LastRepeatedFlagWins) {
  EXPECT_EQ(serve({"--port", "1", "--port", "2"}).port, 2);
}

TEST(Config, BareBooleanFlagMeansTrue) {
  EXPECT_TRUE(serve({"--paused"}).paused);
  EXPECT_TRUE(serve({"--paused", "--port", "5"}).paused);
  EXPECT_FALSE(serve({"--paused", "false"}).paused);
  EXPECT_FALSE(serve({"--paused=off"}, {{"PAUSED", "true"}}).paused);
}

TEST(Config, FlagWithEqualsSign) {
  EXPECT_EQ(serve({"--max-active-users=3"}).engine.max_active_users, 3u);
}

// --- durations -------------------------------------------------------------------------

TEST(Duration, AcceptedSpellings) {
  EXPECT_EQ(parse_duration("300", "x"), 300s);
  EXPECT_EQ(parse_duration("0.5", "x"), 500ms);
  EXPECT_EQ(parse_duration("250ms", "x"), 250ms);
  EXPECT_EQ(parse_duration("5s", "x"), 5s);
  EXPECT_EQ(parse_duration("2m", "x"), 120s);
  EXPECT_EQ(parse_duration("1h", "x"), 3600s);
  EXPECT_EQ(parse_duration("1.5m", "x"), 90s);
  EXPECT_EQ(parse_duration("0.001", "x"), 1ms);
  EXPECT_EQ(parse_duration("1.250", "x"), 1250ms);
  EXPECT_EQ(parse_duration("0", "x"), 0ms);
  EXPECT_EQ(parse_duration("  7 ", "x"), 7s);
  EXPECT_EQ(parse_duration("007", "x"), 7s);
  EXPECT_EQ(parse_duration("8760h", "x"), std::chrono::hours{8760});
}

TEST(Duration, RejectedSpellings) {
  for (const char* text : {"",
                           " ",
                           "-5",
                           "-0.5s",
                           "abc",
                           "5x",
                           "5 s",
                           "1e3",
                           ".5",
                           "5.",
                           "s",
                           "ms",
                           "0.0001",
                           "1.5ms",
                           "0.0005s",
                           "8761h",
                           "100000000000000h",
                           "99999999999999999999",
                           "nan",
                           "inf",
                           "+5",
                           "5S",
                           "1h30m"}) {
    EXPECT_THROW(parse_duration(text, "x"), ConfigError) << "accepted \"" << text << "\"";
  }
}

TEST(Duration, MessageNamesSettingAndAcceptedForms) {
  std::string message = error_of([] { parse_duration("soon", "draft_duration"); });
  EXPECT_CONTAINS(message, "draft_duration");
  EXPECT_CONTAINS(message, "\"soon\"");
  EXPECT_CONTAINS(message, "250ms");
  EXPECT_CONTAINS(error_of([] { parse_duration("-3", "d"); }), "negative");
  EXPECT_CONTAINS(error_of([] { parse_duration("0.0001", "d"); }), "millisecond");
}

// --- validators ------------------------------------------------------------------------

struct Rejection {
  std::vector<std::string> flags;
  Environment env;
  std::vector<std::string> message_parts;
};

class Validation : public ::testing::TestWithParam<Rejection> {};

TEST_P(Validation, RejectsWithAClearMessage) {
  const Rejection& r = GetParam();
  std::string message = serve_error(r.flags, r.env);
  for (const auto& part : r.message_parts) EXPECT_CONTAINS(message, part);
}

INSTANTIATE_TEST_SUITE_P(
    EverySetting, Validation,
    ::testing::Values(
        Rejection{{},
                  {{"MAX_ACTIVE_USERS", "0"}},
                  {"max_active_users", "environment variable MAX_ACTIVE_USERS", "\"0\"",
                   "from 1 to 1000000"}},
        Rejection{{"--max-active-users", "1000001"}, {}, {"flag --max-active-users", "1000000"}},
        Rejection{{"--max-active-users", "ten"}, {}, {"max_active_users", "\"ten\"", "integer"}},
        Rejection{{}, {{"MAX_ACTIVE_USERS", "-1"}}, {"MAX_ACTIVE_USERS", "integer"}},
        Rejection{{"--session-duration", "0"}, {}, {"session_duration", "greater than 0"}},
        Rejection{{"--draft-duration", "0s"}, {}, {"draft_duration", "greater than 0"}},
        Rejection{{}, {{"SESSION_DURATION", "20 minutes"}}, {"SESSION_DURATION", "250ms"}},
        Rejection{{"--idle-timeout", "-1"}, {}, {"idle_timeout", "negative"}},
        Rejection{{"--port", "65536"}, {}, {"port", "flag --port", "from 0 to 65535"}},
        Rejection{{}, {{"PORT", "-1"}}, {"PORT", "from 0 to 65535"}},
        Rejection{{"--redis-port", "0"}, {}, {"redis_port", "from 1 to 65535"}},
        Rejection{{"--threads", "5000"}, {}, {"threads", "from 0 to 1024"}},
        Rejection{{"--max-draft-misses", "0"}, {}, {"max_draft_misses", "from 1"}},
        Rejection{{}, {{"AUTH_MODE", "closed"}}, {"auth_mode", "AUTH_MODE", "tickets, open"}},
        Rejection{{"--requeue-policy", "middle"}, {}, {"requeue_policy", "back, front"}},
        Rejection{{"--store", "sqlite"}, {}, {"store", "memory, redis"}},
        Rejection{{"--cookie-secure", "maybe"}, {}, {"cookie_secure", "auto, always, never"}},
        Rejection{{}, {{"LOG_LEVEL", "loud"}}, {"log_level", "trace", "debug", "off"}},
        Rejection{{"--session-renewal", "perhaps"}, {}, {"session_renewal", "true or false"}},
        Rejection{{}, {{"PAUSED", "2"}}, {"paused", "PAUSED", "true or false"}},
        Rejection{{"--host", ""}, {}, {"host", "non-empty"}},
        Rejection{{"--data-dir", ""}, {}, {"data_dir", "non-empty path"}},
        Rejection{{"--ticket-secret", "short-secret"}, {}, {"ticket_secret", "at least 32"}},
        Rejection{{"--max-body-bytes", "0"}, {}, {"max_body_bytes", "from 1"}},
        Rejection{{"--max-header-bytes", "10"}, {}, {"max_header_bytes", "from 1024"}},
        Rejection{{"--max-user-id-length", "0"}, {}, {"max_user_id_length"}},
        Rejection{{"--max-connections", "0"}, {}, {"max_connections"}},
        Rejection{{"--header-timeout", "0"}, {}, {"header_timeout", "greater than 0"}},
        Rejection{{"--keep-alive-timeout", "0"}, {}, {"keep_alive_timeout"}},
        Rejection{{"--sse-keepalive-interval", "0"}, {}, {"sse_keepalive_interval"}},
        Rejection{{"--position-update-interval", "x"}, {}, {"position_update_interval"}},
        Rejection{{"--max-queued-messages", "0"}, {}, {"max_queued_messages"}},
        Rejection{{"--redis-key-prefix", ""}, {}, {"redis_key_prefix", "1 to 100 printable"}},
        Rejection{{}, {{"REDIS_KEY_PREFIX", "my room:"}}, {"REDIS_KEY_PREFIX", "without spaces"}},
        Rejection{{"--redis-channel-prefix", "queue*"}, {}, {"redis_channel_prefix", "glob"}},
        Rejection{{"--redis-timeout", "0"}, {}, {"redis_timeout", "greater than 0"}},
        Rejection{{"--redis-connections", "0"}, {}, {"redis_connections", "from 1 to 64"}},
        Rejection{{"--redis-db", "x"}, {}, {"redis_db", "from 0 to 65535"}}));

TEST(Config, SecretIsNotEchoedInItsError) {
  std::string message = serve_error({"--ticket-secret", "hunter2-hunter2"});
  EXPECT_CONTAINS(message, "ticket_secret");
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

TEST(Config, ZeroTurnsOptionalTimeoutsOff) {
  Config config = serve({"--idle-timeout", "0", "--presence-timeout", "0", "--expiring-soon", "0"});
  EXPECT_EQ(config.engine.idle_timeout, 0ms);
  EXPECT_EQ(config.engine.presence_timeout, 0ms);
  EXPECT_EQ(config.engine.expiring_soon, 0ms);
}

TEST(Config, EnumsIgnoreCase) {
  EXPECT_EQ(serve({"--auth-mode", "OPEN"}).auth_mode, AuthMode::open);
  EXPECT_EQ(serve({"--cookie-secure", "Never"}).cookie_secure, CookieSecure::never);
}

// --- the config file -------------------------------------------------------------------

TEST(ConfigFile, UnknownKeyIsNamedWithItsLine) {
  TempDir dir;
  auto file = dir.write("bad.toml", "max_active_users = 5\nmax_actve_users = 6\n");
  std::string message = serve_error({"--config", file.string()});
  EXPECT_CONTAINS(message, "max_actve_users");
  EXPECT_CONTAINS(message, "line 2");
  EXPECT_CONTAINS(message, file.string());
}

TEST(ConfigFile, UnknownKeyInsideWaitroomTable) {
  TempDir dir;
  auto file = dir.write("bad.toml", "[waitroom]\nbogus = 1\n");
  EXPECT_CONTAINS(serve_error({"--config", file.string()}), "waitroom.bogus");
}

TEST(ConfigFile, OtherTablesAreUnknown) {
  TempDir dir;
  auto file = dir.write("bad.toml", "[server]\nport = 1\n");
  EXPECT_CONTAINS(serve_error({"--config", file.string()}), "\"server\"");
}

TEST(ConfigFile, WrongTypeIsRejected) {
  TempDir dir;
  auto file = dir.write("bad.toml", "\n\nmax_active_users = \"50\"\n");
  std::string message = serve_error({"--config", file.string()});
  EXPECT_CONTAINS(message, "max_active_users");
  EXPECT_CONTAINS(message, "line 3");
  EXPECT_CONTAINS(message, "expected an integer, found a string");

  file = dir.write("bad2.toml", "session_renewal = \"yes\"\n");
  EXPECT_CONTAINS(serve_error({"--config", file.string()}), "expected a boolean");
  file = dir.write("bad3.toml", "auth_mode = 1\n");
  EXPECT_CONTAINS(serve_error({"--config", file.string()}), "expected a string, found an integer");
  file = dir.write("bad4.toml", "draft_duration = [1]\n");
  EXPECT_CONTAINS(serve_error({"--config", file.string()}), "found an array");
}

TEST(ConfigFile, InvalidValueNamesTheFileAndLine) {
  TempDir dir;
  auto file = dir.write("bad.toml", "port = 8000\nmax_active_users = 0\n");
  std::string message = serve_error({"--config", file.string()});
  EXPECT_CONTAINS(message, "max_active_users");
  EXPECT_CONTAINS(message, "config file " + file.string() + " line 2");
  EXPECT_CONTAINS(message, "from 1 to");
  file = dir.write("neg.toml", "session_duration = -1.5\n");
  EXPECT_CONTAINS(serve_error({"--config", file.string()}), "negative");
}

TEST(ConfigFile, SyntaxErrorGivesTheLine) {
  TempDir dir;
  auto file = dir.write("broken.toml", "port = 8000\n\nmax_active_users = = 3\n");
  std::string message = serve_error({"--config", file.string()});
  EXPECT_CONTAINS(message, file.string());
  EXPECT_CONTAINS(message, "line 3");
  EXPECT_CONTAINS(message, "invalid TOML");
}

TEST(ConfigFile, DuplicateAcrossTopLevelAndWaitroomTable) {
  TempDir dir;
  auto file = dir.write("dup.toml", "port = 1\n[waitroom]\nport = 2\n");
  EXPECT_CONTAINS(serve_error({"--config", file.string()}), "twice");
}

TEST(ConfigFile, MissingFileIsAClearError) {
  std::string message = serve_error({"--config", "/nonexistent/waitroom.toml"});
  EXPECT_CONTAINS(message, "/nonexistent/waitroom.toml");
  EXPECT_CONTAINS(message, "not found");
  EXPECT_CONTAINS(message, "flag --config");
  message = serve_error({}, {{"WAITROOM_CONFIG", "/nonexistent/env.toml"}});
  EXPECT_CONTAINS(message, "WAITROOM_CONFIG");
}

TEST(ConfigFile, DirectoryIsAClearError) {
  TempDir dir;
  EXPECT_CONTAINS(serve_error({"--config", dir.path().string()}), "directory");
}

// --- the command line ------------------------------------------------------------------

TEST(CommandLine, NoSubcommandPrintsHelpAndExits2) {
  Parsed result = run({});
  EXPECT_EQ(result.command.kind, Command::Kind::exit);
  EXPECT_EQ(result.command.exit_code, 2);
  EXPECT_CONTAINS(result.err, "serve");
  EXPECT_TRUE(result.out.empty());
}

TEST(CommandLine, HelpExitsZero) {
  Parsed result = run({"--help"});
  EXPECT_EQ(result.command.kind, Command::Kind::exit);
  EXPECT_EQ(result.command.exit_code, 0);
  EXPECT_CONTAINS(result.out, "serve");

  result = run({"serve", "--help"});
  EXPECT_EQ(result.command.kind, Command::Kind::exit);
  EXPECT_EQ(result.command.exit_code, 0);
  EXPECT_CONTAINS(result.out, "--max-active-users");
  EXPECT_CONTAINS(result.out, "MAX_ACTIVE_USERS");
  EXPECT_CONTAINS(result.out, "--session-duration");
  EXPECT_CONTAINS(result.out, "--config");
  EXPECT_CONTAINS(result.out, "default 50");
}

TEST(CommandLine, VersionExitsZero) {
  Parsed result = run({"--version"});
  EXPECT_EQ(result.command.kind, Command::Kind::exit);
  EXPECT_EQ(result.command.exit_code, 0);
  EXPECT_CONTAINS(result.out, "waitroom ");
}

TEST(CommandLine, UnknownFlagOrArgumentIsAnError) {
  EXPECT_CONTAINS(serve_error({"--max-users", "3"}), "--max-users");
  EXPECT_CONTAINS(serve_error({"stray"}), "stray");
  EXPECT_THROW(run({"frobnicate"}), ConfigError);
  EXPECT_CONTAINS(serve_error({"--port"}), "--port");
}

TEST(CommandLine, ArgumentsWithoutProgramNameAreAccepted) {
  std::ostringstream out, err;
  Command command = parse_command_line({"serve", "--port", "1234"}, {}, out, err);
  EXPECT_EQ(command.kind, Command::Kind::serve);
  EXPECT_EQ(command.config.port, 1234);
  command = parse_command_line({"/usr/bin/waitroom", "serve", "--port", "4321"}, {}, out, err);
  EXPECT_EQ(command.config.port, 4321);
  command = parse_command_line({}, {}, out, err);  // main() passing argv + 1, nothing given
  EXPECT_EQ(command.kind, Command::Kind::exit);
  EXPECT_EQ(command.exit_code, 2);
  command = parse_command_line({"--version"}, {}, out, err);
  EXPECT_EQ(command.kind, Command::Kind::exit);
  EXPECT_EQ(command.exit_code, 0);
}

// --- describe and run-time changes -----------------------------------------------------

TEST(Describe, ListsEverySettingWithSecretsMasked) {
  const std::string secret = "0123456789abcdef0123456789abcdef-secret";
  Config config = serve({"--ticket-secret", secret, "--api-key", "backend-key-value",
                         "--admin-token", "admin-token-value", "--port", "8123"});
  auto lines = describe(config);
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  EXPECT_EQ(all.find(secret), std::string::npos) << all;
  EXPECT_EQ(all.find("backend-key-value"), std::string::npos) << all;
  EXPECT_EQ(all.find("admin-token-value"), std::string::npos) << all;
  EXPECT_CONTAINS(all, "ticket_secret = ********");
  EXPECT_CONTAINS(all, "port = 8123 [flag --port]");
  EXPECT_CONTAINS(all, "max_active_users = 50 [default]");
  EXPECT_CONTAINS(all, "session_duration = 1200s [default]");
  EXPECT_CONTAINS(all, "config_file = (none)");
  EXPECT_CONTAINS(all, "auth_mode = tickets");
  EXPECT_CONTAINS(all, "ticket_secret_file = (none)");
}

TEST(Describe, SubSecondDurationsInMilliseconds) {
  auto lines = describe(serve({"--draft-duration", "1.5"}));
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  EXPECT_CONTAINS(all, "draft_duration = 1500ms [flag --draft-duration]");
}

TEST(RuntimeSettings, NamesAreTheEngineSettingsAndPause) {
  auto names = runtime_setting_names();
  for (const char* name :
       {"max_active_users", "session_duration", "draft_duration", "idle_timeout",
        "presence_timeout", "max_draft_misses", "expiring_soon", "requeue_policy",
        "session_renewal", "disconnected_retention", "paused"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  EXPECT_EQ(std::find(names.begin(), names.end(), "port"), names.end());
}

TEST(RuntimeSettings, ValidatedLikeEveryOtherSource) {
  Config config;
  set_runtime_setting(config, "max_active_users", "7");
  set_runtime_setting(config, "session_duration", "0.5");
  set_runtime_setting(config, "paused", "true");
  EXPECT_EQ(config.engine.max_active_users, 7u);
  EXPECT_EQ(config.engine.session_duration, 500ms);
  EXPECT_TRUE(config.paused);
  EXPECT_EQ(config.origins.at("paused"), "admin");

  EXPECT_CONTAINS(error_of([&] { set_runtime_setting(config, "max_active_users", "0"); }),
                  "max_active_users (admin settings)");
  EXPECT_CONTAINS(error_of([&] { set_runtime_setting(config, "port", "1"); }),
                  "cannot change at run time");
  EXPECT_CONTAINS(error_of([&] { set_runtime_setting(config, "nope", "1"); }), "unknown");
  EXPECT_EQ(config.engine.max_active_users, 7u);  // unchanged by the failures
}

}  // namespace
}  // namespace waitroom::cli
