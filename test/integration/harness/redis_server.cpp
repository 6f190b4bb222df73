#include "harness/redis_server.hpp"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace waitroom::test {

std::string redis_server_binary() {
  if (const char* path = std::getenv("WAITROOM_REDIS_SERVER"); path != nullptr && *path != '\0') {
    return path;
  }
  return "/usr/bin/redis-server";
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

RedisServer::RedisServer() : RedisServer(Options{}) {}

RedisServer::RedisServer(Options options) : options_(options) {
  if (options_.port != 0) {
    port_ = options_.port;
    start();
    return;
  }
  // Another process may take the probed port before Redis binds it: try a few.
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    try {
      start();
      return;
    } catch (const std::exception&) {
      if (attempt == 4) throw;
    }
  }
}

RedisServer::~RedisServer() {
  if (process_) process_->kill9();
}

bool RedisServer::running() {
  return process_ && process_->running();
}

ExitStatus RedisServer::stop() {
  return process_->stop();
}

ExitStatus RedisServer::kill9() {
  return process_->kill9();
}

void RedisServer::start() {
  if (process_ && process_->running()) process_->kill9();
  process_.reset();
  ProcessOptions process;
  process.binary = redis_server_binary();
  process.args = {"--port",       std::to_string(port_),
                  "--bind",       "127.0.0.1",
                  "--dir",        dir_.path().string(),
                  "--save",       "",
                  "--logfile",    "",
                  "--daemonize",  "no",
                  "--appendonly", options_.append_only ? "yes" : "no"};
  if (options_.append_only) {
    process.args.insert(process.args.end(), {"--appendfsync", "always"});
  }
  process.stderr_file = dir_.path() / ("redis-stderr-" + std::to_string(++starts_) + ".log");
  process.ready_prefix = "Ready to accept connections";
  process.known_port = port_;
  process_ = std::make_unique<ServerProcess>(std::move(process));
}

namespace {

void append_reply(std::string& out, const redisReply* reply) {
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.append(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      out += std::to_string(reply->integer);
      break;
    case REDIS_REPLY_ARRAY:
      for (std::size_t i = 0; i < reply->elements; ++i) {
        if (i > 0) out += '\n';
        append_reply(out, reply->element[i]);
      }
      break;
    default:
      out += "(nil)";
  }
}

}  // namespace

std::string RedisServer::command(const std::vector<std::string>& args) const {
  const timeval timeout{5, 0};
  redisContext* context = redisConnectWithTimeout("127.0.0.1", port_, timeout);
  if (context == nullptr || context->err != 0) {
    const std::string why = context != nullptr ? context->errstr : "out of memory";
    if (context != nullptr) redisFree(context);
    throw std::runtime_error("redis-server on port " + std::to_string(port_) + ": " + why);
  }
  redisSetTimeout(context, timeout);
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context, int(args.size()), argv.data(), lengths.data()));
  if (reply == nullptr) {
    const std::string why = context->errstr;
    redisFree(context);
    throw std::runtime_error("redis command failed: " + why);
  }
  std::string out;
  const bool error = reply->type == REDIS_REPLY_ERROR;
  append_reply(out, reply);
  freeReplyObject(reply);
  redisFree(context);
  if (error) throw std::runtime_error("redis error: " + out);
  return out;
}

}  // namespace waitroom::test

namespace waitroom::test {

RedisSubscription::RedisSubscription(std::uint16_t port, const std::vector<std::string>& channels) {
  const timeval timeout{5, 0};
  context_ = redisConnectWithTimeout("127.0.0.1", port, timeout);
  if (context_ == nullptr || context_->err != 0) {
    const std::string why = context_ != nullptr ? context_->errstr : "out of memory";
    throw std::runtime_error("cannot subscribe: " + why);
  }
  std::vector<const char*> argv{"SUBSCRIBE"};
  std::vector<std::size_t> lengths{9};
  for (const auto& channel : channels) {
    argv.push_back(channel.data());
    lengths.push_back(channel.size());
  }
  redisAppendCommandArgv(context_, int(argv.size()), argv.data(), lengths.data());
  for (std::size_t i = 0; i < channels.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(context_, &reply) != REDIS_OK) throw std::runtime_error("SUBSCRIBE failed");
    freeReplyObject(reply);
  }
}

RedisSubscription::~RedisSubscription() {
  if (context_ != nullptr) redisFree(context_);
}

std::optional<RedisSubscription::Message> RedisSubscription::next(
    std::chrono::milliseconds timeout) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  const timeval wait{static_cast<time_t>(micros / 1'000'000),
                     static_cast<suseconds_t>(micros % 1'000'000)};
  redisSetTimeout(context_, wait);
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
    // A timeout leaves the context unusable for further reads: reconnecting is the caller's
    // business (tests wait once per expected message).
    return std::nullopt;
  }
  auto* reply = static_cast<redisReply*>(raw);
  std::optional<Message> out;
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
    out = Message{std::string(reply->element[1]->str, reply->element[1]->len),
                  std::string(reply->element[2]->str, reply->element[2]->len)};
  }
  freeReplyObject(reply);
  return out;
}

}  // namespace waitroom::test
