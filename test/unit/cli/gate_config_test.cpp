// Checks the gate's settings (issue 3): --upstream / UPSTREAM_URL parsed into host and port
// and refused when it is not plain http://HOST[:PORT]; --prefix / GATE_PREFIX and the
// automatic prefix (/_waitroom with an upstream, the root without); --trusted-user-header
// refused when it is not a header name or names a field that carries something else.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/config.hpp"

namespace waitroom::cli {
namespace {

Config serve(std::vector<std::string> flags, const Environment& env = {}) {
  flags.insert(flags.begin(), "serve");
  flags.insert(flags.begin(), "waitroom");
  std::ostringstream out, err;
  return parse_command_line(flags, env, out, err).config;
}

std::string serve_error(std::vector<std::string> flags) {
  try {
    serve(std::move(flags));
  } catch (const ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no ConfigError was thrown";
  return "";
}

TEST(GateConfig, NoUpstreamByDefaultAndRoutesAtTheRoot) {
  const Config config = serve({});
  EXPECT_TRUE(config.upstream.empty());
  EXPECT_EQ(config.effective_prefix(), "");
  EXPECT_EQ(config.upstream_connect_timeout, std::chrono::seconds{5});
}

TEST(GateConfig, UpstreamFlagAndEnvironment) {
  Config config = serve({"--upstream", "http://openwebui:8080"});
  EXPECT_EQ(config.upstream_host, "openwebui");
  EXPECT_EQ(config.upstream_port, 8080);
  EXPECT_EQ(config.effective_prefix(), "/_waitroom");

  config = serve({}, {{"UPSTREAM_URL", "http://127.0.0.1:3000/"}, {"GATE_PREFIX", "/queue-room"}});
  EXPECT_EQ(config.upstream_host, "127.0.0.1");
  EXPECT_EQ(config.upstream_port, 3000);
  EXPECT_EQ(config.effective_prefix(), "/queue-room");

  config = serve({"--upstream", "HTTP://[::1]:81"});
  EXPECT_EQ(config.upstream_host, "::1");
  EXPECT_EQ(config.upstream_port, 81);

  config = serve({"--upstream", "http://chat.internal"});
  EXPECT_EQ(config.upstream_port, 80);
}

TEST(GateConfig, BadUpstreamsAreRefusedWithTheAcceptedForm) {
  for (const char* bad :
       {"openwebui:8080", "https://chat:443", "http://", "http://host:0", "http://host:70000",
        "http://host:", "http://host/path", "http://user@host", "http://host?x=1", "http://[::1",
        "http://ho st:80", "ftp://host"}) {
    const auto message = serve_error({"--upstream", bad});
    EXPECT_NE(message.find("upstream (flag --upstream)"), std::string::npos) << message;
    EXPECT_NE(message.find("http://HOST[:PORT]"), std::string::npos) << message;
  }
}

TEST(GateConfig, PrefixValidation) {
  EXPECT_EQ(serve({"--prefix", "/a/b-c_d.e~f"}).effective_prefix(), "/a/b-c_d.e~f");
  // An explicit prefix applies without an upstream too: forward-auth deployments keep
  // waitroom's routes apart from the app's behind the same front proxy.
  EXPECT_EQ(serve({"--prefix", "/_waitroom"}).effective_prefix(), "/_waitroom");
  for (const char* bad :
       {"/", "_waitroom", "/w/", "//w", "/w//x", "/w x", "/w?x", "/w/../x", "/w/.", "/%2e"}) {
    const auto message = serve_error({"--prefix", bad});
    EXPECT_NE(message.find("prefix (flag --prefix)"), std::string::npos) << bad << ": " << message;
  }
}

TEST(GateConfig, TrustedUserHeaderValidation) {
  EXPECT_EQ(serve({"--trusted-user-header", "X-Forwarded-Email"}).trusted_user_header,
            "X-Forwarded-Email");
  EXPECT_EQ(serve({}, {{"TRUSTED_USER_HEADER", "X-User"}}).trusted_user_header, "X-User");
  for (const char* bad : {"X User", "X-User:", "Cookie", "authorization", "Host", "Connection",
                          "Transfer-Encoding", "Proxy-User", "X-\xc3\xa9"}) {
    const auto message = serve_error({"--trusted-user-header", bad});
    EXPECT_NE(message.find("trusted_user_header"), std::string::npos) << message;
  }
}

TEST(GateConfig, DescribedWithTheirSources) {
  const Config config = serve({"--upstream", "http://up:1"}, {{"GATE_PREFIX", "/p"}});
  bool upstream = false, prefix = false;
  for (const auto& line : describe(config)) {
    if (line == "upstream = http://up:1 [flag --upstream]") upstream = true;
    if (line == "prefix = /p [env GATE_PREFIX]") prefix = true;
  }
  EXPECT_TRUE(upstream);
  EXPECT_TRUE(prefix);
}

}  // namespace
}  // namespace waitroom::cli
