// What the store tests share: a sink that records every notification as the JSON a stream
// would send (rendered from engine events for the embedded store, received over pub/sub
// for the Redis store), one real redis-server per test binary, and a harness that builds
// any kind of store on a ManualClock and runs its awaitables to completion on a private
// io_context, every wait bounded.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/redis_server.hpp"
#include "harness/temp_dir.hpp"
#include "store/embedded_store.hpp"
#include "store/redis/redis_store.hpp"

namespace waitroom::store::testing {

using Json = nlohmann::json;

struct Notification {
  std::string user_id;
  std::string message;  // exactly what a stream would carry
  std::uint64_t sequence = 0;
  Json json;
};

class RecordingSink final : public EventSink {
 public:
  void on_events(const std::vector<engine::Event>& events, std::uint64_t sequence) override;
  void on_notification(std::string_view user_id, std::string message, std::uint64_t sequence,
                       std::uint64_t position) override;
  void on_measurement(engine::Event::Kind kind, Duration measured) override;

  // A notification for `user_id` with this status (and reason, when given) was recorded.
  bool saw(std::string_view status, std::string_view user_id, std::string_view reason = {}) const;
  std::vector<Notification> take();
  std::vector<Notification> all() const;
  std::uint64_t last_sequence() const;
  std::vector<std::pair<engine::Event::Kind, Duration>> measurements() const;
  // Sequences went down somewhere (they must only increase, batch after batch).
  bool sequence_went_back() const;

 private:
  void record(std::string_view user_id, std::string message, std::uint64_t sequence);
  mutable std::mutex mutex_;
  std::vector<Notification> notifications_;
  std::vector<std::pair<engine::Event::Kind, Duration>> measurements_;
  std::uint64_t last_sequence_ = 0;
  bool went_back_ = false;
};

// One redis-server for the whole test binary, started on first use.
test::RedisServer& shared_redis();
// A key and channel prefix no other test in this run uses, so that tests share one Redis.
std::string unique_prefix();

// redis_script: the Redis store calling its engine as a script (EVALSHA), as it does on a Redis
// older than 7, instead of as a function (FCALL).
enum class StoreKind { ephemeral, durable, redis, redis_script };
std::string to_string(StoreKind kind);

class StoreHarness {
 public:
  static constexpr std::chrono::seconds kOperationLimit{10};

  StoreHarness(StoreKind kind, engine::Settings settings, ManualClock& clock,
               redis::RedisOptions redis_options = conformance_redis_options());
  ~StoreHarness();
  StoreHarness(const StoreHarness&) = delete;
  StoreHarness& operator=(const StoreHarness&) = delete;

  // Redis options for the conformance tests: every notification recorded, timers run by
  // the store (polling every 50 ms), no stream lease, a fresh prefix. The kind's
  // use_functions overrides the one given.
  static redis::RedisOptions conformance_redis_options();

  Store& store() { return *store_; }
  StoreKind kind() const { return kind_; }
  RecordingSink& sink() { return sink_; }
  redis::RedisStore* redis_store() { return redis_; }
  boost::asio::io_context& io() { return io_; }

  // Runs an operation to completion; an exception from it is rethrown, a wait past
  // kOperationLimit fails the test and throws.
  template <class T>
  T run(awaitable<T> operation) {
    std::optional<T> out;
    std::exception_ptr failure;
    bool done = false;
    boost::asio::co_spawn(io_, std::move(operation), [&](std::exception_ptr error, T value) {
      failure = error;
      if (!error) out = std::move(value);
      done = true;
    });
    drive_until([&] { return done; });
    if (failure) std::rethrow_exception(failure);
    return std::move(*out);
  }
  void run(awaitable<void> operation);

  // Runs the due timers now (EmbeddedStore::advance, RedisStore::advance).
  void advance();
  // Every notification of the operations so far has reached the sink.
  void sync();
  std::string check_invariants();
  // Lets the store's own timers run, in real time, until `done` or `limit`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit);
  void run_for(std::chrono::milliseconds duration);

 private:
  void drive_until(const std::function<bool()>& done);

  StoreKind kind_;
  RecordingSink sink_;
  test::TempDir dir_{"waitroom-store-test"};
  boost::asio::io_context io_;
  std::unique_ptr<Store> store_;
  EmbeddedStore* embedded_ = nullptr;
  redis::RedisStore* redis_ = nullptr;
};

}  // namespace waitroom::store::testing
