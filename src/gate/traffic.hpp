// The connected users' traffic in flight through the gate, so that it ends with their
// session.
//
// Every proxied exchange (a request and its answer, or a tunnelled WebSocket) enters the
// registry for its user before the gate checks that the user is connected, and leaves it
// when it ends. While a user has traffic in flight, one UserWatch is registered with the
// Hub as a Stream: the Hub hands it every notification of that user, whichever store
// produced it (the embedded one, or Redis pub/sub on another instance), and a notification
// that the user is no longer connected (disconnected for any reason) cancels each of the
// user's exchanges on its own strand: their client and upstream sockets are closed, so
// the browser's WebSocket drops and the upstream sees its request go away. Registering
// before the admission check closes the race with a session that ends in between. The
// first exchange of a user also asks the store to watch the user's notifications
// (store::Store::watch: with Redis, a subscription to the user's channel, since the
// session may end on another instance); the registry unwatches when the last one leaves.
//
// Locks: the registry's mutex, then a watch's mutex, then (never while holding a watch's)
// the Hub's. The Hub calls deliver() with its own mutex held, and deliver takes only the
// watch's mutex, so the order never inverts.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/hub.hpp"
#include "store/store.hpp"

namespace waitroom::gate {

class TrafficRegistry;

// One exchange's membership; leaving the registry on destruction. Created and destroyed
// on the exchange's strand, where `cancel` also runs.
class Exchange {
 public:
  Exchange(TrafficRegistry& registry, std::string user_id, boost::asio::any_io_executor strand);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // What to do when the session ends (close the sockets); replaced as the exchange
  // acquires sockets. Runs on the strand, never after the Exchange is destroyed.
  void on_cancel(std::function<void()> cancel);
  bool cancelled() const { return state_->cancelled; }
  // How many exchanges the user has in flight, this one included, when it entered: 1 for
  // the exchange that must co_await store.watch() (the registry unwatches for it).
  std::size_t in_flight() const { return in_flight_; }

 private:
  friend class TrafficRegistry;
  friend class UserWatch;
  struct State {
    boost::asio::any_io_executor strand;
    std::function<void()> cancel;
    bool done = false;  // strand only
    bool cancelled = false;
  };
  TrafficRegistry& registry_;
  std::string user_id_;
  std::shared_ptr<State> state_;
  std::size_t in_flight_ = 0;
};

class UserWatch final : public http::Stream {
 public:
  void deliver(std::shared_ptr<const std::string> message, std::uint64_t sequence) override;
  bool counted() const override { return false; }
  // The store may have missed some of the user's notifications (its subscription to Redis
  // dropped): the session may have ended unheard, so the user's traffic ends as it would
  // have. The browser reconnects and, if the session still runs, is let through again.
  void drop() override { cancel_all(); }

  // Whether a notification says the user is not (or no longer) connected.
  static bool ends_session(std::string_view message);

 private:
  friend class TrafficRegistry;
  void cancel_all();
  std::mutex mutex_;
  std::vector<std::weak_ptr<Exchange::State>> exchanges_;
};

class TrafficRegistry {
 public:
  TrafficRegistry(http::Hub& hub, store::Store& store) : hub_(hub), store_(store) {}
  ~TrafficRegistry();

 private:
  friend class Exchange;
  // Returns the user's exchanges in flight, the new one included.
  std::size_t enter(const std::string& user_id, const std::shared_ptr<Exchange::State>& state);
  void leave(const std::string& user_id, const Exchange::State* state);

  http::Hub& hub_;
  store::Store& store_;  // unwatched when a user's last exchange leaves
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<UserWatch>> watches_;
};

}  // namespace waitroom::gate
