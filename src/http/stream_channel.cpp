// Bounded per-stream outgoing queue; see stream_channel.hpp.
#include "http/stream_channel.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace waitroom::http {

namespace asio = boost::asio;

StreamChannel::StreamChannel(Executor strand, std::size_t max_queued,
                             std::function<void()> on_overflow)
    : strand_(strand),
      wake_(strand),
      max_queued_(max_queued),
      on_overflow_(std::move(on_overflow)) {}

void StreamChannel::deliver(std::shared_ptr<const std::string> message, std::uint64_t sequence) {
  asio::post(strand_, [self = shared_from_this(), message = std::move(message), sequence] {
    if (self->closed_) return;
    if (self->queue_.size() >= self->max_queued_) {
      self->close();
      if (self->on_overflow_) self->on_overflow_();
      return;
    }
    self->queue_.push_back({std::move(message), sequence, sequence});
    self->wake_.cancel();
  });
}

void StreamChannel::drop() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->closed_) return;
    self->close();
    if (self->on_overflow_) self->on_overflow_();
  });
}

void StreamChannel::set_first(std::string message, std::uint64_t sequence) {
  first_sequence_ = sequence;
  queue_.insert(queue_.begin(),
                {std::make_shared<const std::string>(std::move(message)), sequence + 1, sequence});
}

void StreamChannel::skip_first(std::uint64_t sequence) {
  first_sequence_ = sequence;
}

std::optional<std::shared_ptr<const std::string>> StreamChannel::pop() {
  auto entry = pop_entry();
  if (!entry) return std::nullopt;
  return std::move(entry->message);
}

std::optional<StreamChannel::Entry> StreamChannel::pop_entry() {
  while (!queue_.empty()) {
    auto pending = std::move(queue_.front());
    queue_.erase(queue_.begin());
    // Older than (or part of) the state already sent first: stale.
    if (pending.sequence <= first_sequence_) continue;
    return Entry{std::move(pending.message), pending.id};
  }
  return std::nullopt;
}

asio::awaitable<bool> StreamChannel::wait(Duration keepalive) {
  if (closed_ || !queue_.empty()) co_return false;
  wake_.expires_after(keepalive);
  boost::system::error_code ec;
  co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec && !closed_;
}

void StreamChannel::close() {
  closed_ = true;
  wake_.cancel();
}

}  // namespace waitroom::http
