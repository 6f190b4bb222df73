// Per-user watchers that end a user's proxied traffic with their session; see traffic.hpp.
#include "gate/traffic.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace waitroom::gate {

Exchange::Exchange(TrafficRegistry& registry, std::string user_id,
                   boost::asio::any_io_executor strand)
    : registry_(registry),
      user_id_(std::move(user_id)),
      state_(std::make_shared<State>(State{std::move(strand), {}, false, false})) {
  in_flight_ = registry_.enter(user_id_, state_);
}

Exchange::~Exchange() {
  state_->done = true;
  state_->cancel = nullptr;
  registry_.leave(user_id_, state_.get());
}

void Exchange::on_cancel(std::function<void()> cancel) {
  state_->cancel = std::move(cancel);
}

bool UserWatch::ends_session(std::string_view message) {
  // Messages are the server's own JSON (json_messages.cpp): `"status":"..."` or
  // `"status":null`. A connected user hears only connected and expiring_soon until the
  // session ends; anything else means the slot is gone.
  constexpr std::string_view key = "\"status\":";
  const auto at = message.find(key);
  if (at == std::string_view::npos) return false;
  auto value = message.substr(at + key.size());
  return !(value.starts_with("\"connected\"") || value.starts_with("\"expiring_soon\""));
}

void UserWatch::deliver(std::shared_ptr<const std::string> message, std::uint64_t) {
  if (ends_session(*message)) cancel_all();
}

void UserWatch::cancel_all() {
  std::lock_guard lock(mutex_);
  for (const auto& weak : exchanges_) {
    auto state = weak.lock();
    if (!state) continue;
    boost::asio::post(state->strand, [state] {
      if (state->done) return;
      state->cancelled = true;
      if (state->cancel) state->cancel();
    });
  }
}

TrafficRegistry::~TrafficRegistry() {
  std::lock_guard lock(mutex_);
  for (const auto& [user_id, watch] : watches_) hub_.remove(user_id, watch.get());
}

std::size_t TrafficRegistry::enter(const std::string& user_id,
                                   const std::shared_ptr<Exchange::State>& state) {
  std::lock_guard lock(mutex_);
  auto& watch = watches_[user_id];
  if (!watch) {
    watch = std::make_shared<UserWatch>();
    hub_.add(user_id, watch);
  }
  std::lock_guard watch_lock(watch->mutex_);
  watch->exchanges_.push_back(state);
  return watch->exchanges_.size();
}

void TrafficRegistry::leave(const std::string& user_id, const Exchange::State* state) {
  std::lock_guard lock(mutex_);
  auto found = watches_.find(user_id);
  if (found == watches_.end()) return;
  auto watch = found->second;
  bool empty = false;
  {
    std::lock_guard watch_lock(watch->mutex_);
    auto& list = watch->exchanges_;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [state](const auto& weak) {
                                auto locked = weak.lock();
                                return !locked || locked.get() == state;
                              }),
               list.end());
    empty = list.empty();
  }
  if (empty) {
    watches_.erase(found);
    hub_.remove(user_id, watch.get());
    store_.unwatch(user_id);
  }
}

}  // namespace waitroom::gate
