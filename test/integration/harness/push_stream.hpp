// Clients for the two push channels of a user: Server-Sent Events on
// /queue/events/{id} and a WebSocket on /ws/{id}. Each reads on its own thread into a
// MessageQueue, so that a test can wait for "the next notification" with a deadline and
// can also assert that nothing arrived.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/http_client.hpp"
#include "harness/message_queue.hpp"

namespace waitroom::test {

using JsonPredicate = std::function<bool(const Json&)>;

// Predicates for wait_for: a notification with this "status" (and "reason").
JsonPredicate has_status(std::string status);
JsonPredicate has_status_reason(std::string status, std::string reason);

// What both stream kinds offer once open.
class PushStream {
 public:
  virtual ~PushStream() = default;

  // The HTTP status of the opening answer (200 for SSE, 101 for WebSocket) and, on a
  // refusal, the answer itself.
  int status() const { return response_.status; }
  bool is_open() const { return open_; }
  const HttpResponse& response() const { return response_; }

  // The next JSON notification, or nullopt after `timeout` or when the stream ended.
  std::optional<Json> next_event(std::chrono::milliseconds timeout);
  std::optional<StreamMessage> next_message(std::chrono::milliseconds timeout);
  // Skips notifications until one matches; the skipped ones are kept in skipped().
  std::optional<StreamMessage> wait_for(const JsonPredicate& predicate,
                                        std::chrono::milliseconds timeout);
  const std::vector<Json>& skipped() const { return skipped_; }
  // True once the server closed the stream (waiting up to `timeout`).
  bool wait_closed(std::chrono::milliseconds timeout) { return queue_.wait_closed(timeout); }

 protected:
  HttpResponse response_;
  bool open_ = false;
  MessageQueue queue_;
  std::vector<Json> skipped_;
};

class SseStream : public PushStream {
 public:
  SseStream(std::uint16_t port, std::string_view user_id, const Headers& headers = {},
            std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});
  // Any target, for tests of the route itself.
  static std::unique_ptr<SseStream> open_target(std::uint16_t port, std::string target,
                                                const Headers& headers = {});
  ~SseStream() override;

  // `: keepalive` (and other) comment lines seen so far.
  int comments_seen() const;

 private:
  struct TargetTag {};
  SseStream(TargetTag, std::uint16_t port, std::string target, const Headers& headers,
            std::chrono::milliseconds timeout);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class WsClient : public PushStream {
 public:
  WsClient(std::uint16_t port, std::string_view user_id, const Headers& headers = {},
           std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});
  ~WsClient() override;

  // Close code and reason sent by the server, once closed (0 when none).
  int close_code() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace waitroom::test
