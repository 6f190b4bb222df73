// The fixture of the Redis store's integration tests: a real redis-server (RedisServer) and
// any number of real `waitroom serve --store redis` instances on it, each on port 0 with
// its own data directory, all with the same ticket secret (so that a ticket issued by one
// instance is honoured by every other) and a key and channel prefix of the test's own.
// Every instance still running at the end must stop cleanly on SIGTERM; when a test fails
// the tail of each instance's stderr is printed with it.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/http_client.hpp"
#include "harness/redis_server.hpp"
#include "harness/server_process.hpp"
#include "harness/temp_dir.hpp"
#include "harness/waitroom_fixture.hpp"

namespace waitroom::test {

// Polls /health until it answers 200 (an instance reaches Redis on its own schedule, and
// says so only there). False after `limit`.
// `prefix`: where the instance serves its own routes (the gate's "/_waitroom").
bool wait_healthy(HttpClient& client, std::chrono::milliseconds limit,
                  const std::string& prefix = "");

class RedisRoomTest : public ::testing::Test {
 protected:
  static constexpr const char* kTicketSecret = "ticket-secret-shared-by-every-instance-0123";

  void TearDown() override;

  // Starts the Redis server (once per test).
  void start_redis(RedisServer::Options options = {});
  RedisServer& redis() { return *redis_; }
  // Starts an instance on the test's Redis and waits until its /health (under the prefix
  // when `args` set an upstream or a prefix) says it reached
  // Redis; fails the test (and returns SIZE_MAX) when it does not come up. Answers its index.
  std::size_t start_instance(std::vector<std::string> args = {});
  // The same on `redis_port`, without waiting for Redis (there may be none yet).
  std::size_t start_instance_on(std::uint16_t redis_port, std::vector<std::string> args = {});
  ServerProcess& instance(std::size_t index) { return *instances_.at(index); }
  std::uint16_t port(std::size_t index) { return instances_.at(index)->port(); }
  // A keep-alive client of each instance.
  HttpClient& client(std::size_t index);
  // What the scripts publish for `user_id` (the seed's channel, under the test's prefix).
  std::string channel(const std::string& user_id) const { return prefix_ + "qs:" + user_id; }
  const std::string& prefix() const { return prefix_; }

 private:
  void ensure_prefix();
  // Evaluated in the test executable, where WAITROOM_BINARY_PATH is defined (as WaitroomTest).
  std::filesystem::path binary_ = waitroom_binary();
  TempDir temp_{"waitroom-redis-it"};
  std::string prefix_;
  std::optional<RedisServer> redis_;
  std::vector<std::unique_ptr<ServerProcess>> instances_;
  std::map<std::size_t, std::unique_ptr<HttpClient>> clients_;
};

}  // namespace waitroom::test
