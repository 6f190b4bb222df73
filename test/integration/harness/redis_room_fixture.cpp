#include "harness/redis_room_fixture.hpp"

#include <unistd.h>

#include <iostream>
#include <thread>

namespace waitroom::test {

void RedisRoomTest::TearDown() {
  clients_.clear();
  for (std::size_t i = 0; i < instances_.size(); ++i) {
    auto& server = *instances_[i];
    if (server.running()) {
      const ExitStatus status = server.stop();
      EXPECT_TRUE(status.exited && status.code == 0)
          << "instance " << i << " did not stop cleanly on SIGTERM: " << status.describe();
    }
    if (HasFailure()) {
      std::cerr << "---- instance " << i << " stderr (tail) ----\n"
                << server.stderr_text(4000) << "\n---- end of stderr ----\n";
    }
  }
  instances_.clear();
}

void RedisRoomTest::ensure_prefix() {
  static int rooms = 0;
  if (prefix_.empty()) {
    prefix_ = "it" + std::to_string(::getpid()) + "." + std::to_string(++rooms) + ":";
  }
}

void RedisRoomTest::start_redis(RedisServer::Options options) {
  ensure_prefix();
  try {
    redis_.emplace(options);
  } catch (const std::exception& error) {
    FAIL() << "could not start redis-server (" << redis_server_binary() << "): " << error.what();
  }
}

bool wait_healthy(HttpClient& client, std::chrono::milliseconds limit, const std::string& prefix) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if ((prefix.empty() ? client.health() : client.get(prefix + "/health")).status == 200) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return false;
}

std::size_t RedisRoomTest::start_instance(std::vector<std::string> args) {
  // The gate moves waitroom's routes under its prefix (by default /_waitroom).
  std::string prefix;
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--upstream" && prefix.empty()) prefix = "/_waitroom";
    if (args[i] == "--prefix") prefix = args[i + 1];
  }
  const std::size_t index = start_instance_on(redis_->port(), std::move(args));
  if (index != SIZE_MAX && !wait_healthy(client(index), std::chrono::seconds{15}, prefix)) {
    ADD_FAILURE() << "instance " << index << " did not reach Redis";
  }
  return index;
}

std::size_t RedisRoomTest::start_instance_on(std::uint16_t port, std::vector<std::string> args) {
  ensure_prefix();
  const std::size_t index = instances_.size();
  ProcessOptions options;
  options.binary = binary_;
  options.args = {"serve",
                  "--host",
                  "127.0.0.1",
                  "--port",
                  "0",
                  "--data-dir",
                  (temp_.path() / ("data-" + std::to_string(index))).string(),
                  "--store",
                  "redis",
                  "--redis-url",
                  "redis://127.0.0.1:" + std::to_string(port),
                  "--redis-key-prefix",
                  prefix_,
                  "--redis-channel-prefix",
                  prefix_ + "qs:",
                  "--admin-token",
                  kAdminToken};
  options.args.insert(options.args.end(), args.begin(), args.end());
  options.env = {{"TICKET_SECRET", kTicketSecret}};
  options.stderr_file = temp_.path() / ("instance-" + std::to_string(index) + ".log");
  try {
    instances_.push_back(std::make_unique<ServerProcess>(std::move(options)));
  } catch (const std::exception& error) {
    ADD_FAILURE() << "could not start instance " << index << ": " << error.what();
    return SIZE_MAX;
  }
  return index;
}

HttpClient& RedisRoomTest::client(std::size_t index) {
  auto& slot = clients_[index];
  if (!slot) slot = std::make_unique<HttpClient>(port(index));
  return *slot;
}

}  // namespace waitroom::test
