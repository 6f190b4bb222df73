#include "store_test_support.hpp"

#include <unistd.h>

#include <atomic>
#include <stdexcept>

#include "http/json_messages.hpp"

namespace waitroom::store::testing {

namespace {

std::string field(const Json& json, const char* name) {
  if (!json.is_object() || !json.contains(name) || !json[name].is_string()) return {};
  return json[name].get<std::string>();
}

}  // namespace

void RecordingSink::record(std::string_view user_id, std::string message, std::uint64_t sequence) {
  std::lock_guard lock(mutex_);
  if (sequence < last_sequence_) went_back_ = true;
  last_sequence_ = sequence;
  Json json = Json::parse(message, nullptr, false);
  notifications_.push_back({std::string(user_id), std::move(message), sequence, std::move(json)});
}

void RecordingSink::on_events(const std::vector<engine::Event>& events, std::uint64_t sequence) {
  for (const auto& event : events) {
    record(event.user_id, http::event_message(event), sequence);
    if (event.kind == engine::Event::Kind::draft ||
        (event.kind == engine::Event::Kind::disconnected && event.measured.count() > 0)) {
      on_measurement(event.kind, event.measured);
    }
  }
}

void RecordingSink::on_notification(std::string_view user_id, std::string message,
                                    std::uint64_t sequence, std::uint64_t) {
  record(user_id, std::move(message), sequence);
}

void RecordingSink::on_measurement(engine::Event::Kind kind, Duration measured) {
  std::lock_guard lock(mutex_);
  measurements_.emplace_back(kind, measured);
}

bool RecordingSink::saw(std::string_view status, std::string_view user_id,
                        std::string_view reason) const {
  std::lock_guard lock(mutex_);
  for (const auto& notification : notifications_) {
    if (notification.user_id != user_id || field(notification.json, "status") != status) continue;
    if (reason.empty() || field(notification.json, "reason") == reason) return true;
  }
  return false;
}

std::vector<Notification> RecordingSink::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(notifications_, {});
}

std::vector<Notification> RecordingSink::all() const {
  std::lock_guard lock(mutex_);
  return notifications_;
}

std::uint64_t RecordingSink::last_sequence() const {
  std::lock_guard lock(mutex_);
  return last_sequence_;
}

std::vector<std::pair<engine::Event::Kind, Duration>> RecordingSink::measurements() const {
  std::lock_guard lock(mutex_);
  return measurements_;
}

bool RecordingSink::sequence_went_back() const {
  std::lock_guard lock(mutex_);
  return went_back_;
}

test::RedisServer& shared_redis() {
  static test::RedisServer server;
  return server;
}

std::string unique_prefix() {
  static std::atomic<int> next{0};
  return "wrt" + std::to_string(::getpid()) + "." + std::to_string(next++) + ":";
}

std::string to_string(StoreKind kind) {
  switch (kind) {
    case StoreKind::ephemeral:
      return "Ephemeral";
    case StoreKind::durable:
      return "Durable";
    case StoreKind::redis:
      return "Redis";
    case StoreKind::redis_script:
      return "RedisScript";
  }
  return "Unknown";
}

redis::RedisOptions StoreHarness::conformance_redis_options() {
  redis::RedisOptions options;
  options.endpoint.host = "127.0.0.1";
  options.key_prefix = unique_prefix();
  options.channel_prefix = options.key_prefix + "queue_status:";
  options.connections = 1;
  options.poll_interval = Duration{50};
  options.stream_lease = Duration{0};
  options.subscribe_all = true;
  return options;
}

StoreHarness::StoreHarness(StoreKind kind, engine::Settings settings, ManualClock& clock,
                           redis::RedisOptions redis_options)
    : kind_(kind) {
  switch (kind) {
    case StoreKind::ephemeral: {
      auto store = std::make_unique<EmbeddedStore>(io_.get_executor(), clock, settings, sink_);
      embedded_ = store.get();
      store_ = std::move(store);
      break;
    }
    case StoreKind::durable: {
      auto store = std::make_unique<EmbeddedStore>(io_.get_executor(), clock, settings, sink_,
                                                   JournalOptions{.dir = dir_.path() / "data"});
      embedded_ = store.get();
      store_ = std::move(store);
      break;
    }
    case StoreKind::redis:
    case StoreKind::redis_script: {
      redis_options.endpoint.port = shared_redis().port();
      redis_options.use_functions = kind == StoreKind::redis;
      auto store = std::make_unique<redis::RedisStore>(io_.get_executor(), clock, settings, sink_,
                                                       std::move(redis_options));
      redis_ = store.get();
      store_ = std::move(store);
      // Connected and subscribed before the test begins, so that nothing is missed.
      if (!run_until([this] { return redis_->ready(); }, std::chrono::seconds{10})) {
        ADD_FAILURE() << "the Redis store did not connect";
      }
      break;
    }
  }
}

StoreHarness::~StoreHarness() {
  store_->stop();
  // Let the cancelled timers and the closing connections finish while the store exists.
  io_.restart();
  io_.run_for(std::chrono::seconds{2});
  store_.reset();
}

void StoreHarness::drive_until(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kOperationLimit;
  io_.restart();
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "a store operation did not complete within " << kOperationLimit.count()
                    << " s";
      throw std::runtime_error("store operation timed out");
    }
    io_.run_one_for(std::chrono::milliseconds{10});
  }
}

void StoreHarness::run(awaitable<void> operation) {
  std::exception_ptr failure;
  bool done = false;
  boost::asio::co_spawn(io_, std::move(operation), [&](std::exception_ptr error) {
    failure = error;
    done = true;
  });
  drive_until([&] { return done; });
  if (failure) std::rethrow_exception(failure);
}

void StoreHarness::advance() {
  if (redis_ != nullptr) {
    run(redis_->advance());
  } else {
    embedded_->advance();
  }
  sync();
}

void StoreHarness::sync() {
  if (redis_ != nullptr) {
    run(redis_->sync_notifications());
  } else if (kind_ == StoreKind::durable) {
    embedded_->sync();
  }
}

std::string StoreHarness::check_invariants() {
  if (redis_ != nullptr) return run(redis_->check_invariants());
  return embedded_->check_invariants();
}

bool StoreHarness::run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  io_.restart();
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io_.run_one_for(std::chrono::milliseconds{10});
  }
  return true;
}

void StoreHarness::run_for(std::chrono::milliseconds duration) {
  io_.restart();
  io_.run_for(duration);
}

}  // namespace waitroom::store::testing
