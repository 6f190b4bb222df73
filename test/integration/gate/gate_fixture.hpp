// What the gate's integration tests share: the node upstream app (test/upstream/server.js,
// express + socket.io) started on a free port next to a real `waitroom serve --upstream`,
// helpers to admit a user through the prefixed API, a small synchronous WebSocket client
// for arbitrary paths, and a bounded runner for the node socket.io client.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {

// The directory of the upstream app (package.json, server.js, node_modules).
std::filesystem::path upstream_dir();
// `name` found on PATH, or empty.
std::filesystem::path find_program(const std::string& name);

// Runs `args` (args[0] a full path) with a deadline; its stdout, or nullopt on timeout.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
std::optional<CommandResult> run_command(const std::vector<std::string>& args,
                                         std::chrono::milliseconds timeout);

class UpstreamApp {
 public:
  explicit UpstreamApp(const std::filesystem::path& stderr_file);
  std::uint16_t port() const { return process_->port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

 private:
  std::unique_ptr<ServerProcess> process_;
};

class GateTest : public WaitroomTest {
 protected:
  static constexpr const char* kPrefix = "/_waitroom";

  void SetUp() override;
  void TearDown() override;

  // waitroom serve --upstream <the app> --admin-token ... <args>.
  void start_gate(std::vector<std::string> args = {});
  UpstreamApp& upstream() { return *upstream_; }

  // Joins and confirms `user_id` through the prefixed API; the Cookie header that admits.
  std::string admit(const std::string& user_id);
  // The admin kicks `user_id` (ends their session).
  void kick(const std::string& user_id);
  static Headers cookie(const std::string& value) { return {{"Cookie", value}}; }

 private:
  TempDir upstream_dir_{"waitroom-upstream"};
  std::unique_ptr<UpstreamApp> upstream_;
};

// A WebSocket client on any path, each operation bounded by a deadline.
class RawWebSocket {
 public:
  RawWebSocket(std::uint16_t port, const std::string& target, const Headers& headers);
  ~RawWebSocket();
  bool is_open() const { return open_; }
  const std::string& error() const { return error_; }
  bool send(const std::string& text);
  // The next message; nullopt when the connection closed or `timeout` passed (timed_out()).
  std::optional<std::string> receive(std::chrono::milliseconds timeout);
  bool timed_out() const { return timed_out_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool open_ = false;
  bool timed_out_ = false;
  std::string error_;
};

}  // namespace waitroom::test
