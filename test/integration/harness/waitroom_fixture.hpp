// The fixture every integration test starts from: a fresh temporary directory, a real
// `waitroom serve` on 127.0.0.1 port 0 with its data in that directory, and a keep-alive
// client. When a test fails, the tail of the server's stderr is printed with it.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness/http_client.hpp"
#include "harness/push_stream.hpp"
#include "harness/server_process.hpp"
#include "harness/temp_dir.hpp"

namespace waitroom::test {

// The server binary: $WAITROOM_BINARY, else the path CMake compiled into the test
// executable (inline, so that the test's own compile definition is the one seen).
inline std::filesystem::path waitroom_binary() {
  if (const char* path = std::getenv("WAITROOM_BINARY"); path != nullptr && *path != '\0') {
    return path;
  }
#ifdef WAITROOM_BINARY_PATH
  return WAITROOM_BINARY_PATH;
#else
  return {};
#endif
}

// Credentials used by the tests that start a server with them.
inline constexpr const char* kAdminToken = "admin-token-for-tests-0123456789";
inline constexpr const char* kApiKey = "backend-api-key-for-tests-0123456789";

// Starts the server from a test body and stops the test when that failed.
#define WAITROOM_START_SERVER(...)                \
  do {                                            \
    start_server(__VA_ARGS__);                    \
    if (HasFatalFailure() || IsSkipped()) return; \
  } while (false)

class WaitroomTest : public ::testing::Test {
 protected:
  void TearDown() override;

  // Starts `waitroom serve --host 127.0.0.1 --port 0 --data-dir <tmp>/data <args>` and
  // connects client(); a failure to start fails the test with the server's stderr.
  void start_server(std::vector<std::string> args, std::map<std::string, std::string> env = {});
  // kill -9 (or SIGTERM when `graceful`) then the same command line again, same data.
  void restart_server(bool graceful);

  std::uint16_t port() const { return server_->port(); }
  ServerProcess& server() { return *server_; }
  HttpClient& client() { return *client_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  std::unique_ptr<HttpClient> new_client() const { return std::make_unique<HttpClient>(port()); }

 private:
  // Evaluated in the test executable (this initializer is part of the implicit inline
  // constructor), where WAITROOM_BINARY_PATH is defined.
  std::filesystem::path binary_ = waitroom_binary();
  TempDir temp_dir_;
  std::filesystem::path data_dir_ = temp_dir_.path() / "data";
  std::vector<std::string> args_;
  std::map<std::string, std::string> env_;
  int starts_ = 0;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> client_;
};

// The "ticket" of a join answer (empty when there is none).
std::string ticket_of(const HttpResponse& join_response);

// Polls the status route until the server has forgotten `user_id` (status null), for at most
// `timeout`: no event tells when a disconnected record is forgotten. False on timeout.
bool wait_until_forgotten(HttpClient& client, std::string_view user_id,
                          std::chrono::milliseconds timeout = std::chrono::seconds{5});

// Prometheus text: the value of the sample `name` with exactly `labels` ("" or
// `le="0.5"`-style, as written between the braces), or nullopt.
std::optional<double> prometheus_sample(const std::string& text, const std::string& name,
                                        const std::string& labels = "");
// Whether the text declares the family (`# TYPE name ...`) or has a sample of it.
bool prometheus_has(const std::string& text, const std::string& name);

}  // namespace waitroom::test
