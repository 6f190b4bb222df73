// A real redis-server for the tests, run the way Redis's own suite runs one: on a free
// loopback port, in its own temporary directory, with no RDB snapshots (and an AOF with
// appendfsync always when a test needs durability), stopped and removed at the end. It can
// be stopped, killed and started again on the same port and directory, to test a Redis
// restart. Started through ServerProcess, so a test killed by ctest leaves no server behind.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/server_process.hpp"
#include "harness/temp_dir.hpp"

struct redisContext;

namespace waitroom::test {

class RedisServer {
 public:
  struct Options {
    bool append_only = false;  // AOF on, fsync on every write
    std::uint16_t port = 0;    // 0: a free one
  };
  // Starts it; throws std::runtime_error (with its log) when it does not come up.
  explicit RedisServer(Options options);
  RedisServer();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  bool running();
  // SIGTERM: Redis flushes its AOF and exits.
  ExitStatus stop();
  ExitStatus kill9();
  // Starts it again, same port and directory (after stop or kill9).
  void start();

  // One command over a fresh blocking connection (hiredis's synchronous API), for set-up
  // and checks. The reply as text: strings and status as they are, integers in digits,
  // nil as "(nil)", arrays one element per line. Throws when Redis cannot be reached or
  // answers an error.
  std::string command(const std::vector<std::string>& args) const;

 private:
  Options options_;
  TempDir dir_{"waitroom-redis"};
  std::uint16_t port_ = 0;
  int starts_ = 0;
  std::unique_ptr<ServerProcess> process_;
};

// A blocking SUBSCRIBE (hiredis's synchronous API), to watch what the scripts publish.
class RedisSubscription {
 public:
  RedisSubscription(std::uint16_t port, const std::vector<std::string>& channels);
  ~RedisSubscription();
  RedisSubscription(const RedisSubscription&) = delete;
  RedisSubscription& operator=(const RedisSubscription&) = delete;

  struct Message {
    std::string channel;
    std::string payload;
  };
  // The next published message, or nullopt after `timeout`.
  std::optional<Message> next(std::chrono::milliseconds timeout);

 private:
  redisContext* context_ = nullptr;
};

// The redis-server binary: $WAITROOM_REDIS_SERVER, else /usr/bin/redis-server (installed by
// scripts/install-deps.sh).
std::string redis_server_binary();

// A loopback TCP port that nothing listens on right now.
std::uint16_t free_port();

}  // namespace waitroom::test
