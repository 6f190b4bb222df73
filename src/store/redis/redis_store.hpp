// The Redis store: the room's whole state in Redis, shared by any number of waitroom
// instances behind a load balancer (DESIGN.md §5, issue 6).
//
// Every operation is one call of the Lua engine (src/store/redis/lua/, embedded at build
// time): one round trip, atomic in Redis, so no check-then-act race between instances and no
// lock in this process. The engine is loaded as a Redis function library (FUNCTION LOAD,
// called with FCALL), which runs its code once instead of at every call; on a Redis older
// than 7 it is a script (loaded by EVAL on NOSCRIPT, called with EVALSHA). Either is loaded
// again when Redis answers that it has not got it (a restart without persistence). The
// engine gets `now` from this process's Clock (never Redis's TIME), which is how tests drive
// time. A room that has no settings yet (a new or flushed Redis) is initialised with the
// configured settings and the call retried.
//
// Timers live in Redis (a sorted set by deadline). The `advance` script claims and fires
// every due timer atomically, so each fires exactly once whichever instance runs it. This
// process keeps one timer armed at the earliest deadline it knows of (each script answers
// the earliest deadline it armed; `advance` answers the next one overall) and also runs
// `advance` every poll_interval, so that deadlines armed by another instance, or left by
// one that died, fire within about poll_interval.
//
// Notifications: the scripts publish each one on channel_prefix + user_id inside the same
// atomic call, so that a notification exists iff its change happened. This instance
// subscribes (one subscriber connection) to the users whose streams it holds, for as long as
// it holds one, and hands what arrives to the EventSink. Subscribing before the stream's
// first message is read keeps that message consistent with what follows: messages carry the
// store sequence, and the stream drops those older than its first one.
//
// Presence across instances: a waiting user with an open stream is present for as long as
// it stays open, as in the engine. Each stream is registered in Redis under this instance's
// id with a token; the instance renews a lease (a timer like the others) every quarter of
// stream_lease. If the instance dies, the lease runs out and whichever instance fires it
// counts those streams closed: their users get a fresh presence window to reconnect
// elsewhere, instead of being present forever. A close that cannot reach Redis is retried;
// an open whose answer was lost is closed by its token, which is harmless if it never
// happened.
//
// Failures: while Redis is unreachable every operation throws Unavailable within the
// timeout (the HTTP layer answers 503 with Retry-After); the connections reconnect with
// backoff and the service resumes by itself; health() says which. After the subscriber
// connection was lost the sink is told that notifications were lost, so that it drops its
// streams and their clients reconnect to read their state afresh.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/redis/redis_connection.hpp"
#include "store/store.hpp"

namespace waitroom::store::redis {

struct RedisOptions {
  Endpoint endpoint;
  std::string key_prefix = "waitroom:";
  std::string channel_prefix = "queue_status:";
  // Connect and command deadline: no operation waits longer than about 1.25 times this.
  Duration timeout{2000};
  // Command connections (pipelined); the subscriber connection is one more.
  std::size_t connections = 2;
  // Runs `advance` at the known deadlines and every poll_interval (0: only at known
  // deadlines). Off: never by itself (tests that drive time call advance()).
  bool run_timers = true;
  Duration poll_interval{250};
  // Lease on this instance's open streams. 0: none (a stream counts as open until closed).
  Duration stream_lease{10'000};
  // Receive every user's notifications (PSUBSCRIBE), not only those of the users whose
  // streams are open here: for tests that record all of them.
  bool subscribe_all = false;
  // Empty: random. Names this instance's stream registrations and lease.
  std::string instance_id;
  // Call the engine as a Redis function (FCALL); false: as a script (EVALSHA), which is also
  // what happens by itself on a Redis without functions (older than 7).
  bool use_functions = true;
  // Operations sent as one call when they queue behind the calls in flight (1: never).
  std::size_t max_batch = 64;
  // Calls of the engine in flight at once. One keeps the batches largest, which is cheapest
  // per operation: Redis runs one call at a time anyway, and whatever arrives while it runs
  // leaves as the next batch (measured: joins over HTTP 28,300/s with two, 32,400/s with one).
  std::size_t calls_in_flight = 1;
};

class RedisStore final : public Store {
 public:
  // Connects in the background: the store answers Unavailable until Redis is reachable.
  // Destroy it once no thread runs the io_context any more (after stop(), once the
  // io_context ran out of work or was shut down).
  RedisStore(boost::asio::any_io_executor executor, const Clock& clock, engine::Settings settings,
             EventSink& sink, RedisOptions options);
  ~RedisStore() override;

  awaitable<At<engine::JoinResult>> join(std::string_view user_id, Actor actor) override;
  awaitable<At<engine::ConfirmResult>> confirm(std::string_view user_id, Actor actor) override;
  awaitable<At<engine::LeaveResult>> leave(std::string_view user_id, Actor actor) override;
  awaitable<At<engine::LeaveResult>> kick(std::string_view user_id) override;
  awaitable<At<engine::HeartbeatResult>> heartbeat(std::string_view user_id, Actor actor) override;
  awaitable<Viewed> find(std::string_view user_id) override;
  awaitable<Viewed> poll(std::string_view user_id) override;
  awaitable<Viewed> stream_opened(std::string_view user_id, Actor actor) override;
  awaitable<void> stream_closed(std::string_view user_id) override;
  awaitable<void> watch(std::string_view user_id) override;
  void unwatch(std::string_view user_id) override;
  awaitable<std::uint64_t> queue_version() override;
  awaitable<Positions> positions(const std::vector<std::string>& user_ids) override;
  awaitable<MetricsSnapshot> metrics() override;
  awaitable<engine::Snapshot> snapshot() override;
  awaitable<engine::Settings> settings() override;
  awaitable<void> update_settings(engine::Settings settings) override;
  awaitable<bool> set_paused(bool paused) override;
  Health health() const override;
  void stop() override;

  // Runs the due timers now, as the timer loop does.
  awaitable<void> advance();
  // Every invariant of DESIGN.md §2 checked in Redis (O(N)); empty when they hold. Tests.
  awaitable<std::string> check_invariants();
  // Returns once every notification published before the call reached the sink. Tests.
  awaitable<void> sync_notifications();
  // Renews this instance's stream lease now, as the timer loop does.
  awaitable<void> renew_lease();
  const std::string& instance_id() const { return options_.instance_id; }
  // Whether the command and subscriber connections are up.
  bool ready() const;
  // Operations that went to Redis in a batch of several, so far.
  std::uint64_t batched_operations() const { return batched_; }

 private:
  struct Reply;  // a script's answer, its common header parsed
  class Waiter;
  class Batcher;
  // Arguments already encoded as RESP bulk strings, and how many.
  struct Encoded {
    std::string bytes;
    std::size_t count = 0;
  };
  // What outlives the store in handlers and connection callbacks that may still run after it
  // is gone (a test that destroys it while its io_context keeps running): they look the
  // store up here, under the mutex, and find nothing once the destructor ran.
  struct Liveness {
    explicit Liveness(RedisStore* alive) : store(alive) {}
    std::mutex mutex;
    RedisStore* store;
  };
  template <class Function>
  static auto guarded(std::shared_ptr<Liveness> liveness, Function function);

  // Runs `operation` with `args` (after now) and parses the common head of its answer; a
  // room without settings is initialised and the call retried. Throws Unavailable, or
  // std::runtime_error when Redis answers something unexpected.
  awaitable<Reply> call(std::string_view operation, std::vector<std::string> args);
  // One operation, through the batcher; the raw reply, an error reply included.
  awaitable<RedisReply> invoke(std::string_view operation, std::vector<std::string> args);
  // One call of the engine, given its arguments after the prefixes (an operation: name, now,
  // arguments; or a batch): FCALL, loading the library when Redis has not got it, or EVALSHA
  // (EVAL on NOSCRIPT).
  awaitable<RedisReply> send(const Encoded& call);
  // Throws for an error reply: Unavailable when it means "not now" (LOADING, BUSY, ...).
  static void check_error(const RedisReply& reply, std::string_view operation);
  awaitable<RedisReply> execute(std::vector<std::string> args);
  awaitable<RedisReply> execute_encoded(std::string bytes);
  awaitable<void> initialise();
  void note_deadline(std::int64_t deadline_ms);
  awaitable<void> timer_loop(std::shared_ptr<Liveness> liveness);
  void wake_timer();
  // Counts one more interest in the user's channel and waits for the SUBSCRIBE; on failure the
  // count is taken back unless `keep_on_failure` (the caller then unsubscribes itself).
  awaitable<void> subscribe(const std::string& user_id, bool keep_on_failure = false);
  void unsubscribe(const std::string& user_id);
  void on_message(std::string_view channel, std::string payload);
  void on_subscriber_state(bool ready);
  std::vector<Command> subscriptions_to_restore();
  awaitable<void> flush_pending_closes();
  // The user id and the actor, as the scripts read them (lua/operations.lua, permitted).
  static std::vector<std::string> user_args(std::string_view user_id, const Actor& actor);
  static At<engine::LeaveResult> leave_result(Reply& reply);

  const Clock& clock_;
  EventSink& sink_;
  engine::Settings settings_;
  RedisOptions options_;
  std::string call_head_;  // "0", the key prefix and the channel prefix, encoded
  boost::asio::any_io_executor executor_;
  std::shared_ptr<Liveness> liveness_;
  std::vector<std::shared_ptr<Connection>> commands_;
  std::shared_ptr<Connection> subscriber_;
  std::atomic<std::size_t> next_connection_{0};
  std::atomic<bool> initialised_{false};
  std::atomic<bool> use_functions_{true};
  std::unique_ptr<Batcher> batcher_;
  std::atomic<std::uint64_t> batched_{0};
  std::atomic<bool> stopped_{false};

  // The timer loop's wake-up, on its own strand.
  boost::asio::strand<boost::asio::any_io_executor> timer_strand_;
  boost::asio::steady_timer timer_;

  mutable std::mutex mutex_;
  std::optional<std::int64_t> next_deadline_ms_;
  std::unordered_map<std::string, std::size_t> subscriptions_;        // user -> open streams here
  std::unordered_map<std::string, std::vector<std::string>> tokens_;  // user -> stream tokens
  std::vector<std::pair<std::string, std::string>> pending_closes_;   // (token, user)
  std::uint64_t next_token_ = 1;
  bool notifications_lost_ = false;
  std::uint64_t next_marker_ = 1;
  std::map<std::uint64_t, std::shared_ptr<Waiter>> markers_;
};

}  // namespace waitroom::store::redis
