// The Hub and the coalesced position updates; see hub.hpp.
#include "http/hub.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/json_messages.hpp"

namespace waitroom::http {

Hub::Hub(ServerMetrics& metrics) : metrics_(metrics) {}

void Hub::add(const std::string& user_id, std::shared_ptr<Stream> stream) {
  std::lock_guard lock(mutex_);
  if (stream->counted()) ++open_streams_;
  subscribers_[user_id].streams.push_back(std::move(stream));
}

void Hub::remove(const std::string& user_id, const Stream* stream) {
  std::lock_guard lock(mutex_);
  auto found = subscribers_.find(user_id);
  if (found == subscribers_.end()) return;
  auto& streams = found->second.streams;
  auto it = std::find_if(streams.begin(), streams.end(),
                         [stream](const auto& s) { return s.get() == stream; });
  if (it == streams.end()) return;
  if ((*it)->counted()) --open_streams_;
  streams.erase(it);
  if (streams.empty()) subscribers_.erase(found);
}

void Hub::note_position(const std::string& user_id, std::uint64_t position) {
  std::lock_guard lock(mutex_);
  if (auto found = subscribers_.find(user_id); found != subscribers_.end()) {
    found->second.last_position = position;
  }
}

void Hub::deliver_locked(const Subscriber& subscriber, std::string message,
                         std::uint64_t sequence) {
  auto shared = std::make_shared<const std::string>(std::move(message));
  for (const auto& stream : subscriber.streams) stream->deliver(shared, sequence);
}

void Hub::observe(engine::Event::Kind kind, Duration measured) {
  if (kind == engine::Event::Kind::draft) {
    metrics_.wait_seconds.observe(double(measured.count()) / 1000.0);
  } else if (kind == engine::Event::Kind::disconnected && measured.count() > 0) {
    metrics_.session_seconds.observe(double(measured.count()) / 1000.0);
  }
}

void Hub::on_measurement(engine::Event::Kind kind, Duration measured) {
  observe(kind, measured);
}

void Hub::on_notification(std::string_view user_id, std::string message, std::uint64_t sequence,
                          std::uint64_t position) {
  std::lock_guard lock(mutex_);
  auto found = subscribers_.find(std::string(user_id));
  if (found == subscribers_.end()) return;
  found->second.last_position = position;
  deliver_locked(found->second, std::move(message), sequence);
}

void Hub::on_notifications_lost() {
  std::lock_guard lock(mutex_);
  for (const auto& [user_id, subscriber] : subscribers_) {
    for (const auto& stream : subscriber.streams) stream->drop();
  }
}

void Hub::on_events(const std::vector<engine::Event>& events, std::uint64_t sequence) {
  using Kind = engine::Event::Kind;
  for (const auto& event : events) observe(event.kind, event.measured);
  std::lock_guard lock(mutex_);
  if (subscribers_.empty()) return;
  for (const auto& event : events) {
    auto found = subscribers_.find(event.user_id);
    if (found == subscribers_.end()) continue;
    auto& subscriber = found->second;
    const bool waiting = event.kind == Kind::waiting || event.kind == Kind::requeued;
    subscriber.last_position = waiting ? event.position : 0;
    deliver_locked(subscriber, event_message(event), sequence);
  }
}

std::size_t Hub::open_streams() const {
  std::lock_guard lock(mutex_);
  return open_streams_;
}

std::size_t Hub::streams_of(const std::string& user_id) const {
  std::lock_guard lock(mutex_);
  const auto found = subscribers_.find(user_id);
  if (found == subscribers_.end()) return 0;
  const auto& streams = found->second.streams;
  return std::size_t(std::count_if(streams.begin(), streams.end(),
                                   [](const auto& stream) { return stream->counted(); }));
}

std::vector<std::string> Hub::subscribed_users() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> users;
  users.reserve(subscribers_.size());
  for (const auto& [user_id, subscriber] : subscribers_) users.push_back(user_id);
  return users;
}

std::size_t Hub::publish_positions(const std::vector<std::string>& users,
                                   const store::Positions& positions) {
  std::size_t sent = 0;
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < users.size() && i < positions.views.size(); ++i) {
    const auto& view = positions.views[i];
    if (!view || view->status != engine::Status::waiting) continue;
    auto found = subscribers_.find(users[i]);
    if (found == subscribers_.end()) continue;
    auto& subscriber = found->second;
    if (subscriber.last_position == view->position) continue;
    subscriber.last_position = view->position;
    deliver_locked(subscriber, position_message(users[i], view->position, view->estimated_wait),
                   positions.sequence);
    ++sent;
  }
  return sent;
}

boost::asio::awaitable<void> run_position_updates(store::Store& store, Hub& hub,
                                                  Duration interval) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  std::uint64_t last_version = 0;
  bool first = true;
  for (;;) {
    timer.expires_after(interval);
    co_await timer.async_wait(boost::asio::use_awaitable);
    try {
      const auto version = co_await store.queue_version();
      if (!first && version == last_version) continue;
      const auto users = hub.subscribed_users();
      if (!users.empty()) {
        const auto positions = co_await store.positions(users);
        hub.publish_positions(users, positions);
      }
      first = false;
      last_version = version;
    } catch (const store::Unavailable&) {
      // Try again at the next tick; nothing was sent, so nothing is lost.
    }
  }
}

}  // namespace waitroom::http
