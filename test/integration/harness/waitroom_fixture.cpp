#include "harness/waitroom_fixture.hpp"

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

namespace waitroom::test {

void WaitroomTest::TearDown() {
  // Every test ends with a clean stop: SIGTERM must exit 0, which under the sanitizers
  // also means no leak or error report at exit.
  client_.reset();
  if (server_ && server_->running()) {
    const ExitStatus status = server_->stop();
    EXPECT_TRUE(status.exited && status.code == 0)
        << "the server did not stop cleanly on SIGTERM: " << status.describe();
  }
  if (HasFailure() && server_) {
    std::cerr << "---- waitroom stderr (tail) ----\n"
              << server_->stderr_text(6000) << "\n---- end of stderr ----\n";
  }
  client_.reset();
  server_.reset();
}

void WaitroomTest::start_server(std::vector<std::string> args,
                                std::map<std::string, std::string> env) {
  args_ = std::move(args);
  env_ = std::move(env);
  restart_server(false);
}

void WaitroomTest::restart_server(bool graceful) {
  client_.reset();
  if (server_) {
    if (graceful) {
      server_->stop();
    } else {
      server_->kill9();
    }
    server_.reset();
  }
  const auto& binary = binary_;
  if (binary.empty() || !std::filesystem::exists(binary)) {
    FAIL() << "waitroom binary not found (set WAITROOM_BINARY): " << binary;
  }
  ProcessOptions options;
  options.binary = binary;
  options.args = {"serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", data_dir_.string()};
  options.args.insert(options.args.end(), args_.begin(), args_.end());
  options.env = env_;
  options.stderr_file = temp_dir_.path() / ("server-stderr-" + std::to_string(++starts_) + ".log");
  try {
    server_ = std::make_unique<ServerProcess>(std::move(options));
  } catch (const std::exception& error) {
    FAIL() << "could not start the server: " << error.what();
  }
  client_ = std::make_unique<HttpClient>(server_->port());
}

std::string ticket_of(const HttpResponse& join_response) {
  const Json json = join_response.json();
  if (!json.is_object() || !json.contains("ticket") || !json["ticket"].is_string()) return {};
  return json["ticket"].get<std::string>();
}

bool wait_until_forgotten(HttpClient& client, std::string_view user_id,
                          std::chrono::milliseconds timeout) {
  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    if (client.status(user_id).json().value("status", Json("?")).is_null()) return true;
    if (std::chrono::steady_clock::now() - started >= timeout) return false;
    // The poll interval (no event exists for this): small and bounded by the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

std::optional<double> prometheus_sample(const std::string& text, const std::string& name,
                                        const std::string& labels) {
  const std::string prefix = labels.empty() ? name + " " : name + "{" + labels + "} ";
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0) {
      try {
        return std::stod(line.substr(prefix.size()));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

bool prometheus_has(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE " + name + " ", 0) == 0) return true;
    if (line.rfind(name + " ", 0) == 0 || line.rfind(name + "{", 0) == 0) return true;
  }
  return false;
}

}  // namespace waitroom::test
