// The messages a push stream (SSE or WebSocket) delivered, filled by the stream's reader
// thread and consumed by the test, which waits on a condition variable with a deadline:
// a test never sleeps to "give the server time", it waits for the message itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace waitroom::test {

struct StreamMessage {
  nlohmann::json json;  // discarded when `text` is not JSON
  std::string text;
  std::string event;  // the SSE `event:` field, if any
  std::chrono::steady_clock::time_point received_at;
};

class MessageQueue {
 public:
  void push(StreamMessage message) {
    {
      std::lock_guard lock(mutex_);
      messages_.push_back(std::move(message));
    }
    changed_.notify_all();
  }

  void close(std::string reason) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      closed_ = true;
      close_reason_ = std::move(reason);
    }
    changed_.notify_all();
  }

  // The next message, waiting up to `timeout`; nullopt on timeout or once the stream is
  // closed and drained.
  std::optional<StreamMessage> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return !messages_.empty() || closed_; });
    if (messages_.empty()) return std::nullopt;
    StreamMessage message = std::move(messages_.front());
    messages_.pop_front();
    return message;
  }

  // Waits until the stream is closed (true) or `timeout` passes (false); messages stay.
  bool wait_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return closed_; });
  }

  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  std::string close_reason() const {
    std::lock_guard lock(mutex_);
    return close_reason_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<StreamMessage> messages_;
  bool closed_ = false;
  std::string close_reason_;
};

}  // namespace waitroom::test
