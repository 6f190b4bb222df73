// The Redis store: see redis_store.hpp for the design, and lua/ for the engine it calls.
#include "store/redis/redis_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <random>

#include "store/redis/engine_script.hpp"

namespace waitroom::store::redis {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

using Args = std::vector<std::string>;

// Ids per positions call: bounds the work of one script (Redis runs nothing else meanwhile).
constexpr std::size_t kPositionsPerCall = 1000;
// Channels per SUBSCRIBE when a reconnected subscriber restores its subscriptions.
constexpr std::size_t kChannelsPerSubscribe = 512;
// Closes kept for retry while Redis is unreachable; past this the lease settles them.
constexpr std::size_t kMaxPendingCloses = 100'000;
constexpr std::size_t kClosesPerCall = 500;
// Error replies that mean "not now" rather than "never": Redis is starting (LOADING), busy
// with a long script (BUSY), a replica cut from its master, out of memory, or read-only.
constexpr std::string_view kTransientErrors[] = {"LOADING",  "BUSY",     "MASTERDOWN", "OOM",
                                                 "READONLY", "TRYAGAIN", "CLUSTERDOWN"};

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string random_instance_id() {
  std::random_device random;
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%08x%08x", random(), random());
  return buffer;
}

std::string ms_text(Duration duration) {
  return std::to_string(duration.count());
}

[[noreturn]] void malformed(std::string_view operation, std::string_view what) {
  throw std::runtime_error("Redis store: malformed answer to " + std::string(operation) + ": " +
                           std::string(what));
}

TimePoint instant_of(std::int64_t ms) {
  return TimePoint{Duration{ms}};
}

engine::Status status_of(std::int64_t status, std::string_view operation) {
  if (status < 0 || status > 3) malformed(operation, "status");
  return static_cast<engine::Status>(status);
}

engine::Outcome outcome_of(std::int64_t outcome, std::string_view operation) {
  if (outcome < 0 || outcome > 2) malformed(operation, "outcome");
  return static_cast<engine::Outcome>(outcome);
}

std::vector<std::string> settings_args(const engine::Settings& s) {
  return {std::to_string(s.max_active_users),
          ms_text(s.session_duration),
          ms_text(s.draft_duration),
          ms_text(s.idle_timeout),
          ms_text(s.presence_timeout),
          std::to_string(s.max_draft_misses),
          ms_text(s.expiring_soon),
          s.requeue_policy == engine::RequeuePolicy::front ? "1" : "0",
          s.session_renewal ? "1" : "0",
          ms_text(s.disconnected_retention)};
}

}  // namespace

// A one-shot signal that a coroutine waits on with a deadline; set() may come from any
// thread (the waiter runs on a strand or a single-threaded context).
class RedisStore::Waiter : public std::enable_shared_from_this<Waiter> {
 public:
  explicit Waiter(asio::any_io_executor executor) : timer_(executor) {}
  void set() {
    done_ = true;
    asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
  }
  awaitable<bool> wait(Duration timeout) {
    timer_.expires_after(timeout);
    if (done_) co_return true;
    error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return done_.load();
  }

 private:
  asio::steady_timer timer_;
  std::atomic<bool> done_{false};
};

template <class Function>
auto RedisStore::guarded(std::shared_ptr<Liveness> liveness, Function function) {
  return [liveness = std::move(liveness), function = std::move(function)](auto&&... args) {
    std::lock_guard lock(liveness->mutex);
    if (liveness->store != nullptr)
      function(*liveness->store, std::forward<decltype(args)>(args)...);
  };
}

// An engine's answer (lua/operations.lua): a string of packed numbers, its head (now, store
// sequence, earliest deadline armed, measurements) already read; the operation's own values
// are read in order. Snapshot and check answer an array: those numbers, then text.
struct RedisStore::Reply {
  std::string_view operation;
  TimePoint now{};
  std::uint64_t sequence = 0;
  std::string packed;
  std::size_t offset = 0;  // of the next value in `packed`
  RedisReply extras;       // an array answer's elements after the numbers (at index 1 on)

  std::int64_t integer() {
    PackedReader reader(packed, offset);
    const auto value = reader.next_integer();
    if (!value) malformed(operation, "expected another number");
    offset = reader.offset();
    return *value;
  }
  // A view (lua/engine.lua, view): 8 numbers, or -1 alone for none.
  std::optional<engine::UserView> view() {
    const auto status = integer();
    if (status == -1) return std::nullopt;
    const auto reason = integer();
    const auto position = integer();
    const auto deadline = integer();
    const auto total = integer();
    const auto misses = integer();
    const auto generation = integer();
    const auto wait = integer();
    if (reason < 0 || reason > 6 || position < 0 || misses < 0 || generation < 0) {
      malformed(operation, "view");
    }
    engine::UserView view;
    view.status = status_of(status, operation);
    view.reason = static_cast<engine::Reason>(reason);
    view.position = static_cast<std::uint64_t>(position);
    view.deadline = instant_of(deadline);
    view.total_duration = Duration{total};
    view.draft_misses = static_cast<std::uint32_t>(misses);
    view.generation = static_cast<std::uint64_t>(generation);
    view.estimated_wait = Duration{wait};
    return view;
  }
  const RedisReply& extra(std::size_t index) const { return extras.at(1 + index); }
};

RedisStore::RedisStore(asio::any_io_executor executor, const Clock& clock,
                       engine::Settings settings, EventSink& sink, RedisOptions options)
    : clock_(clock),
      sink_(sink),
      settings_(settings),
      options_(std::move(options)),
      executor_(executor),
      liveness_(std::make_shared<Liveness>(this)),
      timer_strand_(asio::make_strand(executor)),
      timer_(timer_strand_) {
  if (options_.instance_id.empty()) options_.instance_id = random_instance_id();
  append_bulk(call_head_, "0");
  append_bulk(call_head_, options_.key_prefix);
  append_bulk(call_head_, options_.channel_prefix);
  use_functions_ = options_.use_functions;
  batcher_ = std::make_unique<Batcher>(*this, std::max<std::size_t>(options_.calls_in_flight, 1),
                                       options_.max_batch);
  const std::size_t count = std::max<std::size_t>(options_.connections, 1);
  for (std::size_t i = 0; i < count; ++i) {
    ConnectionOptions connection;
    connection.endpoint = options_.endpoint;
    connection.timeout = options_.timeout;
    connection.name = "redis command connection " + std::to_string(i + 1);
    commands_.push_back(Connection::create(executor, std::move(connection)));
  }
  ConnectionOptions subscriber;
  subscriber.endpoint = options_.endpoint;
  subscriber.timeout = options_.timeout;
  subscriber.name = "redis subscriber connection";
  subscriber.subscriber = true;
  subscriber.on_connect = [liveness = liveness_] {
    std::lock_guard lock(liveness->mutex);
    return liveness->store ? liveness->store->subscriptions_to_restore() : std::vector<Command>{};
  };
  subscriber.on_message =
      guarded(liveness_, [](RedisStore& store, std::string_view channel, std::string payload) {
        store.on_message(channel, std::move(payload));
      });
  subscriber.on_state =
      guarded(liveness_, [](RedisStore& store, bool ready) { store.on_subscriber_state(ready); });
  subscriber_ = Connection::create(executor, std::move(subscriber));

  for (auto& connection : commands_) connection->start();
  subscriber_->start();
  if (options_.run_timers) {
    asio::co_spawn(timer_strand_, timer_loop(liveness_), asio::detached);
  }
}

RedisStore::~RedisStore() {
  stop();
  {
    std::lock_guard lock(liveness_->mutex);
    liveness_->store = nullptr;
  }
  // The io_context no longer runs (see the header): what still waits on a connection will
  // never be resumed, and must not keep it alive.
  for (auto& connection : commands_) connection->abandon();
  subscriber_->abandon();
}

void RedisStore::stop() {
  if (stopped_.exchange(true)) return;
  for (auto& connection : commands_) connection->stop();
  subscriber_->stop();
  wake_timer();
}

void RedisStore::wake_timer() {
  asio::post(timer_strand_, guarded(liveness_, [](RedisStore& store) { store.timer_.cancel(); }));
}

bool RedisStore::ready() const {
  const bool any_command =
      std::any_of(commands_.begin(), commands_.end(), [](const auto& c) { return c->ready(); });
  return any_command && subscriber_->ready();
}

Health RedisStore::health() const {
  Health health{"redis", true, {}};
  for (const auto& connection : commands_) {
    if (connection->ready()) continue;
    health.ok = false;
    health.detail = connection->last_error();
  }
  if (!subscriber_->ready()) {
    health.ok = false;
    health.detail = subscriber_->last_error();
  }
  if (!health.ok && health.detail.empty()) health.detail = "connecting";
  return health;
}

// ---- calling the script ------------------------------------------------------------

awaitable<RedisReply> RedisStore::execute(std::vector<std::string> args) {
  co_return co_await execute_encoded(format_command(args));
}

awaitable<RedisReply> RedisStore::execute_encoded(std::string bytes) {
  // Round robin over the connections that are up: one that is reconnecting is skipped.
  const std::size_t count = commands_.size();
  const std::size_t first = next_connection_.fetch_add(1, std::memory_order_relaxed);
  auto connection = commands_[first % count];
  for (std::size_t i = 0; i < count && !connection->ready(); ++i) {
    connection = commands_[(first + i) % count];
  }
  error_code ec;
  auto reply = co_await connection->async_execute_encoded(
      std::move(bytes), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    const auto why = connection->last_error();
    throw Unavailable("Redis unavailable: " + ec.message() + (why.empty() ? "" : " (" + why + ")"));
  }
  co_return reply;
}

void RedisStore::check_error(const RedisReply& reply, std::string_view operation) {
  if (!reply.is_error()) return;
  for (auto transient : kTransientErrors) {
    if (starts_with(reply.text, transient)) throw Unavailable("Redis unavailable: " + reply.text);
  }
  throw std::runtime_error("Redis store: " + std::string(operation) + ": " + reply.text);
}

// ---- batches ----------------------------------------------------------------------------
//
// Operations go to Redis through the Batcher: as long as fewer than calls_in_flight calls
// are in flight, an operation is sent at once, alone; otherwise it waits for one of them to
// come back and leaves with every operation that queued meanwhile, as one 'batch' call
// (lua/operations.lua, run), up to max_batch of them. Under light load nothing waits;
// under heavy load the cost of a call is shared, as the durable store shares an fsync. Each
// operation is still atomic and still answered on its own.

class RedisStore::Batcher {
 public:
  using OperationCompletion = Completion<std::exception_ptr, RedisReply>;

  Batcher(RedisStore& store, std::size_t parallel, std::size_t max_batch)
      : store_(store),
        parallel_(std::max<std::size_t>(parallel, 1)),
        max_batch_(std::max<std::size_t>(max_batch, 1)) {}

  // `operation`: name, now, then its own arguments, encoded. Completes with its answer (an
  // error reply included), or with the exception that stopped its call.
  template <class Token>
  auto async_submit(Encoded operation, Token&& token) {
    return asio::async_initiate<Token, void(std::exception_ptr, RedisReply)>(
        [this](auto handler, Encoded operation) {
          Entry entry{std::move(operation),
                      make_completion<std::exception_ptr, RedisReply>(std::move(handler))};
          std::lock_guard lock(mutex_);
          queue_.push_back(std::move(entry));
          send_locked();
        },
        token, std::move(operation));
  }

 private:
  struct Entry {
    Encoded operation;
    std::unique_ptr<OperationCompletion> completion;
  };

  void send_locked() {
    while (in_flight_ < parallel_ && !queue_.empty()) {
      const auto count = std::min(queue_.size(), max_batch_);
      std::vector<Entry> batch(std::make_move_iterator(queue_.begin()),
                               std::make_move_iterator(queue_.begin() + std::ptrdiff_t(count)));
      queue_.erase(queue_.begin(), queue_.begin() + std::ptrdiff_t(count));
      ++in_flight_;
      asio::co_spawn(store_.executor_, send(std::move(batch)), asio::detached);
    }
  }

  awaitable<void> send(std::vector<Entry> batch) {
    std::exception_ptr failure;
    RedisReply reply;
    try {
      if (batch.size() == 1) {
        reply = co_await store_.send(batch.front().operation);
      } else {
        store_.batched_ += batch.size();
        Encoded call;
        std::size_t size = 32;
        for (const auto& entry : batch) size += entry.operation.bytes.size() + 16;
        call.bytes.reserve(size);
        append_bulk(call.bytes, "batch");
        append_bulk(call.bytes, std::to_string(batch.size()));
        call.count = 2;
        for (const auto& entry : batch) {
          append_bulk(call.bytes, std::to_string(entry.operation.count));
          call.bytes += entry.operation.bytes;
          call.count += 1 + entry.operation.count;
        }
        reply = co_await store_.send(call);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    // One answer each, in order; an error for the whole batch (no settings yet, say) is
    // every operation's answer.
    const bool split = batch.size() > 1 && !failure && reply.type == RedisReply::Type::array &&
                       reply.size() == batch.size();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].completion->complete(failure, split ? std::move(reply.elements[i]) : reply);
    }
    std::lock_guard lock(mutex_);
    --in_flight_;
    send_locked();
  }

  RedisStore& store_;
  const std::size_t parallel_;
  const std::size_t max_batch_;
  std::mutex mutex_;
  std::vector<Entry> queue_;
  std::size_t in_flight_ = 0;
};

awaitable<RedisReply> RedisStore::invoke(std::string_view operation, Args args) {
  Encoded encoded;
  std::size_t size = operation.size() + 48;
  for (const auto& arg : args) size += arg.size() + 16;
  encoded.bytes.reserve(size);
  append_bulk(encoded.bytes, operation);
  char now[24];
  const auto end = std::to_chars(now, now + sizeof now, to_unix_ms(clock_.now())).ptr;
  append_bulk(encoded.bytes, std::string_view(now, static_cast<std::size_t>(end - now)));
  for (const auto& arg : args) append_bulk(encoded.bytes, arg);
  encoded.count = 2 + args.size();
  co_return co_await batcher_->async_submit(std::move(encoded), asio::use_awaitable);
}

awaitable<RedisReply> RedisStore::send(const Encoded& call) {
  // FCALL name 0 prefix channel-prefix op now args... (or batch count ...), or EVALSHA sha 0
  // ... on a Redis without functions; only the first two words differ.
  bool functions = use_functions_;
  std::string_view word = functions ? "FCALL" : "EVALSHA";
  std::string_view name = functions ? engine_function_name() : engine_script_sha1();
  RedisReply reply;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string command;
    command.reserve(call_head_.size() + call.bytes.size() + name.size() + 48);
    append_array_header(command, 5 + call.count);
    append_bulk(command, word);
    append_bulk(command, name);
    command += call_head_;
    command += call.bytes;
    reply = co_await execute_encoded(std::move(command));
    if (!reply.is_error()) break;
    if (starts_with(reply.text, "ERR Function not found")) {
      // A new Redis, or one restarted without persistence: load the library (REPLACE, so that
      // instances doing the same at once do not fail) and call again.
      Args load{"FUNCTION", "LOAD", "REPLACE", std::string(engine_library())};
      check_error(co_await execute(std::move(load)), "FUNCTION LOAD");
    } else if (functions && starts_with(reply.text, "ERR unknown command")) {
      spdlog::info("redis: no FCALL (Redis older than 7): calling the engine as a script");
      use_functions_ = false;
      functions = false;
      word = "EVALSHA";
      name = engine_script_sha1();
    } else if (starts_with(reply.text, "NOSCRIPT")) {
      // EVAL both runs the script and puts it back in Redis's script cache.
      word = "EVAL";
      name = engine_script();
    } else {
      break;
    }
  }
  co_return reply;
}

awaitable<void> RedisStore::initialise() {
  const auto reply = co_await invoke("init", settings_args(settings_));
  check_error(reply, "init");
  // The outcome follows the four numbers of the head.
  PackedReader reader(reply.text);
  for (int i = 0; i < 4; ++i) reader.next();
  const auto outcome = reader.next_integer();
  if (outcome == 1) spdlog::info("redis: a new room under the prefix {}", options_.key_prefix);
  if (outcome == 2) spdlog::info("redis: the configured settings replace the stored ones");
  initialised_ = true;
}

awaitable<RedisStore::Reply> RedisStore::call(std::string_view operation, Args args) {
  if (!initialised_) co_await initialise();
  auto reply = co_await invoke(operation, args);
  if (reply.is_error() && starts_with(reply.text, "WAITROOM_UNINITIALIZED")) {
    // Redis lost the room (restarted without persistence, or flushed): a new one, with the
    // configured settings.
    initialised_ = false;
    co_await initialise();
    reply = co_await invoke(operation, std::move(args));
  }
  check_error(reply, operation);
  Reply out;
  out.operation = operation;
  if (reply.type == RedisReply::Type::array && reply.size() >= 1 &&
      reply.at(0).type == RedisReply::Type::string) {
    out.packed = std::move(reply.elements[0].text);
    out.extras = std::move(reply);
  } else if (reply.type == RedisReply::Type::string) {
    out.packed = std::move(reply.text);
  } else {
    malformed(operation, reply.describe());
  }
  out.now = instant_of(out.integer());
  const auto sequence = out.integer();
  const auto earliest = out.integer();
  const auto measured = out.integer();
  if (sequence < 0 || measured < 0) malformed(operation, "head");
  out.sequence = static_cast<std::uint64_t>(sequence);
  if (earliest >= 0) note_deadline(earliest);
  for (std::int64_t i = 0; i < measured; ++i) {
    const auto kind =
        out.integer() == 0 ? engine::Event::Kind::draft : engine::Event::Kind::disconnected;
    sink_.on_measurement(kind, Duration{out.integer()});
  }
  co_return out;
}

Args RedisStore::user_args(std::string_view user_id, const Actor& actor) {
  // '*': any generation; else the generations the tickets name, separated by spaces.
  std::string who;
  if (actor.any_generation) {
    who = "*";
  } else {
    for (const auto& generation : actor.generations) {
      if (!generation) continue;
      if (!who.empty()) who += ' ';
      who += std::to_string(*generation);
    }
  }
  return Args{std::string(user_id), std::move(who)};
}

// ---- operations ----------------------------------------------------------------------
//
// The operations on a user's place answer `forbidden` first (1: the actor may not act,
// nothing changed), then their own values.

awaitable<At<engine::JoinResult>> RedisStore::join(std::string_view user_id, Actor actor) {
  auto reply = co_await call("join", user_args(user_id, actor));
  const auto first = reply.integer();
  At<engine::JoinResult> out{{}, reply.now, first == 1};
  if (out.forbidden) co_return out;
  if (first == -3) {
    // The engine's short answer for a new user id that now waits (lua/operations.lua).
    const auto position = reply.integer();
    const auto generation = reply.integer();
    const auto wait = reply.integer();
    if (position < 1 || generation < 1) malformed("join", "new place");
    out.result.created = true;
    out.result.after.status = engine::Status::waiting;
    out.result.after.position = static_cast<std::uint64_t>(position);
    out.result.after.generation = static_cast<std::uint64_t>(generation);
    out.result.after.estimated_wait = Duration{wait};
    co_return out;
  }
  out.result.created = reply.integer() == 1;
  out.result.before = reply.view();
  const auto after = reply.view();
  if (!after) malformed("join", "no record after the join");
  out.result.after = *after;
  co_return out;
}

awaitable<At<engine::ConfirmResult>> RedisStore::confirm(std::string_view user_id, Actor actor) {
  auto reply = co_await call("confirm", user_args(user_id, actor));
  At<engine::ConfirmResult> out{{}, reply.now, reply.integer() == 1};
  if (out.forbidden) co_return out;
  out.result.outcome = outcome_of(reply.integer(), "confirm");
  if (auto after = reply.view()) out.result.after = *after;
  co_return out;
}

awaitable<At<engine::LeaveResult>> RedisStore::leave(std::string_view user_id, Actor actor) {
  auto reply = co_await call("leave", user_args(user_id, actor));
  co_return leave_result(reply);
}

At<engine::LeaveResult> RedisStore::leave_result(Reply& reply) {
  At<engine::LeaveResult> out{{}, reply.now, reply.integer() == 1};
  if (out.forbidden) return out;
  out.result.outcome = outcome_of(reply.integer(), reply.operation);
  out.result.previous = status_of(reply.integer(), reply.operation);
  return out;
}

awaitable<At<engine::LeaveResult>> RedisStore::kick(std::string_view user_id) {
  Args arguments{std::string(user_id)};
  auto reply = co_await call("kick", std::move(arguments));
  co_return leave_result(reply);
}

awaitable<At<engine::HeartbeatResult>> RedisStore::heartbeat(std::string_view user_id,
                                                             Actor actor) {
  auto reply = co_await call("heartbeat", user_args(user_id, actor));
  At<engine::HeartbeatResult> out{{}, reply.now, reply.integer() == 1};
  if (out.forbidden) co_return out;
  out.result.outcome = outcome_of(reply.integer(), "heartbeat");
  out.result.remaining = Duration{reply.integer()};
  co_return out;
}

awaitable<Viewed> RedisStore::find(std::string_view user_id) {
  Args arguments{std::string(user_id)};
  auto reply = co_await call("find", std::move(arguments));
  const auto view = reply.view();
  co_return Viewed{view, reply.now, reply.sequence};
}

awaitable<Viewed> RedisStore::poll(std::string_view user_id) {
  Args arguments{std::string(user_id)};
  auto reply = co_await call("poll", std::move(arguments));
  const auto view = reply.view();
  co_return Viewed{view, reply.now, reply.sequence};
}

awaitable<Viewed> RedisStore::stream_opened(std::string_view user_id, Actor actor) {
  const std::string user(user_id);
  // Subscribed before the state is read: nothing published after it can be missed.
  co_await subscribe(user);
  std::string token;
  {
    std::lock_guard lock(mutex_);
    token = std::to_string(next_token_++);
  }
  auto args = user_args(user, actor);
  args.push_back(options_.instance_id);
  args.push_back(token);
  args.push_back(ms_text(options_.stream_lease));
  std::optional<Reply> reply;
  try {
    reply = co_await call("open", std::move(args));
  } catch (...) {
    // The open may have happened without our hearing of it: close its token later, which
    // changes nothing if it never registered.
    {
      std::lock_guard lock(mutex_);
      if (pending_closes_.size() < kMaxPendingCloses) pending_closes_.emplace_back(token, user);
    }
    unsubscribe(user);
    throw;
  }
  if (reply->integer() == 1) {
    unsubscribe(user);
    co_return Viewed{std::nullopt, reply->now, reply->sequence, true};
  }
  if (reply->integer() == 1) {
    std::lock_guard lock(mutex_);
    tokens_[user].push_back(token);
  }
  const auto view = reply->view();
  co_return Viewed{view, reply->now, reply->sequence};
}

awaitable<void> RedisStore::stream_closed(std::string_view user_id) {
  const std::string user(user_id);
  std::string token;
  {
    std::lock_guard lock(mutex_);
    if (auto found = tokens_.find(user); found != tokens_.end()) {
      token = std::move(found->second.back());
      found->second.pop_back();
      if (found->second.empty()) tokens_.erase(found);
    }
  }
  unsubscribe(user);
  try {
    Args arguments{options_.instance_id, token, user};
    co_await call("close", std::move(arguments));
  } catch (const std::exception& e) {
    // A stream must not stay open in Redis when it closed here: retried by the timer loop.
    spdlog::debug("redis: closing the stream of {} later: {}", user, e.what());
    std::lock_guard lock(mutex_);
    if (!token.empty() && pending_closes_.size() < kMaxPendingCloses) {
      pending_closes_.emplace_back(std::move(token), user);
    }
  }
}

awaitable<void> RedisStore::flush_pending_closes() {
  std::vector<std::pair<std::string, std::string>> closes;
  {
    std::lock_guard lock(mutex_);
    if (pending_closes_.empty()) co_return;
    // At most kClosesPerCall per call, oldest first: one script's work stays bounded.
    const auto count = std::min(pending_closes_.size(), kClosesPerCall);
    closes.assign(pending_closes_.begin(), pending_closes_.begin() + std::ptrdiff_t(count));
    pending_closes_.erase(pending_closes_.begin(), pending_closes_.begin() + std::ptrdiff_t(count));
  }
  std::vector<std::string> args{options_.instance_id};
  for (const auto& [token, user] : closes) {
    args.push_back(token);
    args.push_back(user);
  }
  try {
    co_await call("close", std::move(args));
  } catch (...) {
    std::lock_guard lock(mutex_);
    pending_closes_.insert(pending_closes_.end(), closes.begin(), closes.end());
    throw;
  }
}

awaitable<std::uint64_t> RedisStore::queue_version() {
  Args arguments{};
  auto reply = co_await call("version", std::move(arguments));
  co_return static_cast<std::uint64_t>(reply.integer());
}

awaitable<Positions> RedisStore::positions(const std::vector<std::string>& user_ids) {
  Positions out;
  out.views.reserve(user_ids.size());
  std::size_t done = 0;
  do {
    const std::size_t count = std::min(kPositionsPerCall, user_ids.size() - done);
    std::vector<std::string> args(user_ids.begin() + std::ptrdiff_t(done),
                                  user_ids.begin() + std::ptrdiff_t(done + count));
    auto reply = co_await call("positions", std::move(args));
    const auto version = static_cast<std::uint64_t>(reply.integer());
    if (done == 0) {
      out.queue_version = version;
      out.sequence = reply.sequence;
      out.now = reply.now;
    }
    for (std::size_t i = 0; i < count; ++i) out.views.push_back(reply.view());
    done += count;
  } while (done < user_ids.size());
  co_return out;
}

awaitable<MetricsSnapshot> RedisStore::metrics() {
  Args arguments{};
  auto reply = co_await call("metrics", std::move(arguments));
  std::uint64_t values[19];
  for (auto& value : values)
    value = static_cast<std::uint64_t>(std::max<std::int64_t>(0, reply.integer()));
  auto value = [&](std::size_t index) { return values[index]; };
  MetricsSnapshot out;
  out.waiting = value(0);
  out.draft = value(1);
  out.connected = value(2);
  out.total_slots = static_cast<std::uint32_t>(value(3));
  out.paused = value(4) == 1;
  const auto total_wait = value(5);
  const auto total_session = value(6);
  const auto sessions_ended = value(7);
  auto& c = out.counters;
  c.joins = value(8);
  c.drafts = value(9);
  c.admissions = value(10);
  c.leaves = value(11);
  c.kicks = value(12);
  c.draft_requeues = value(13);
  c.draft_timeouts = value(14);
  c.session_timeouts = value(15);
  c.idle_timeouts = value(16);
  c.abandoned = value(17);
  // As Engine::average_wait and average_session: integer division, zero before any.
  if (c.drafts != 0) out.average_wait = Duration{std::int64_t(total_wait / c.drafts)};
  if (sessions_ended != 0)
    out.average_session = Duration{std::int64_t(total_session / sessions_ended)};
  co_return out;
}

awaitable<engine::Snapshot> RedisStore::snapshot() {
  Args arguments{};
  auto reply = co_await call("snapshot", std::move(arguments));
  auto ids = [](const RedisReply& list) {
    std::vector<std::string> out;
    out.reserve(list.size());
    for (const auto& id : list.elements) out.push_back(id.text);
    return out;
  };
  engine::Snapshot out{ids(reply.extra(0)), ids(reply.extra(1)), ids(reply.extra(2))};
  // As Engine::snapshot: sets have no order, sorted ids make the answer stable.
  std::sort(out.draft.begin(), out.draft.end());
  std::sort(out.connected.begin(), out.connected.end());
  co_return out;
}

awaitable<engine::Settings> RedisStore::settings() {
  Args arguments{};
  auto reply = co_await call("settings", std::move(arguments));
  reply.integer();  // paused
  std::int64_t values[10];
  for (auto& value : values) value = reply.integer();
  auto value = [&](std::size_t index) { return values[index]; };
  engine::Settings out;
  out.max_active_users = static_cast<std::uint32_t>(value(0));
  out.session_duration = Duration{value(1)};
  out.draft_duration = Duration{value(2)};
  out.idle_timeout = Duration{value(3)};
  out.presence_timeout = Duration{value(4)};
  out.max_draft_misses = static_cast<std::uint32_t>(value(5));
  out.expiring_soon = Duration{value(6)};
  out.requeue_policy = value(7) == 1 ? engine::RequeuePolicy::front : engine::RequeuePolicy::back;
  out.session_renewal = value(8) == 1;
  out.disconnected_retention = Duration{value(9)};
  co_return out;
}

awaitable<void> RedisStore::update_settings(engine::Settings settings) {
  co_await call("update", settings_args(settings));
}

awaitable<bool> RedisStore::set_paused(bool paused) {
  Args arguments{paused ? "1" : "0"};
  auto reply = co_await call("pause", std::move(arguments));
  co_return reply.integer() == 1;
}

awaitable<void> RedisStore::advance() {
  Args arguments{};
  auto reply = co_await call("advance", std::move(arguments));
  const auto next = reply.integer();
  std::lock_guard lock(mutex_);
  // The next deadline overall, whoever armed it, replaces what this instance knew.
  if (next >= 0) {
    next_deadline_ms_ = next;
  } else {
    next_deadline_ms_.reset();
  }
}

awaitable<std::string> RedisStore::check_invariants() {
  Args arguments{};
  const auto reply = co_await call("check", std::move(arguments));
  co_return reply.extra(0).text;
}

awaitable<void> RedisStore::renew_lease() {
  if (options_.stream_lease.count() <= 0) co_return;
  Args arguments{options_.instance_id, ms_text(options_.stream_lease)};
  auto reply = co_await call("lease", std::move(arguments));
  if (reply.integer() == 1) co_return;
  bool lost = false;
  {
    std::lock_guard lock(mutex_);
    // The lease ran out (Redis was unreachable for longer than it): another instance has
    // counted this instance's streams closed. Their clients must open them again.
    lost = !tokens_.empty();
    tokens_.clear();
  }
  if (lost) {
    spdlog::warn("redis: this instance's stream lease ran out; its streams are dropped");
    sink_.on_notifications_lost();
  }
}

// ---- timers ----------------------------------------------------------------------------

void RedisStore::note_deadline(std::int64_t deadline_ms) {
  if (!options_.run_timers) return;
  {
    std::lock_guard lock(mutex_);
    if (next_deadline_ms_ && *next_deadline_ms_ <= deadline_ms) return;
    next_deadline_ms_ = deadline_ms;
  }
  wake_timer();
}

awaitable<void> RedisStore::timer_loop(std::shared_ptr<Liveness> liveness) {
  // After each wait the store may be gone (see Liveness); it is only touched when it is not.
  auto gone = [&liveness] {
    std::lock_guard lock(liveness->mutex);
    return liveness->store == nullptr;
  };
  const Duration idle =
      options_.poll_interval.count() > 0 ? options_.poll_interval : Duration{std::chrono::hours{1}};
  const Duration lease_every = options_.stream_lease / 4;
  Duration since_lease{0};
  while (!stopped_) {
    Duration wait = idle;
    {
      std::lock_guard lock(mutex_);
      if (next_deadline_ms_) {
        const auto until = Duration{*next_deadline_ms_ - to_unix_ms(clock_.now())};
        wait = std::clamp(until, Duration{1}, idle);
      }
    }
    timer_.expires_after(wait);
    error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (gone() || stopped_) break;
    {
      // Woken early by a nearer deadline (cancel): wait again for it.
      std::lock_guard lock(mutex_);
      if (ec == asio::error::operation_aborted && next_deadline_ms_ &&
          *next_deadline_ms_ > to_unix_ms(clock_.now())) {
        continue;
      }
    }
    since_lease += wait;
    try {
      co_await advance();
      if (gone()) break;
      co_await flush_pending_closes();
      if (gone()) break;
      if (lease_every.count() > 0 && since_lease >= lease_every) {
        since_lease = Duration{0};
        co_await renew_lease();
      }
    } catch (const Unavailable&) {
      // The connections reconnect by themselves; try again at the next tick.
    } catch (const std::exception& e) {
      if (gone()) break;
      spdlog::error("redis: timer: {}", e.what());
    }
    if (gone()) break;
  }
}

// ---- notifications ----------------------------------------------------------------------

awaitable<void> RedisStore::watch(std::string_view user_id) {
  // The count stays even when the SUBSCRIBE fails: the caller's unwatch always follows, and a
  // subscriber that reconnects restores every counted channel.
  co_await subscribe(std::string(user_id), /*keep_on_failure=*/true);
}

void RedisStore::unwatch(std::string_view user_id) {
  unsubscribe(std::string(user_id));
}

awaitable<void> RedisStore::subscribe(const std::string& user_id, bool keep_on_failure) {
  if (options_.subscribe_all) co_return;
  {
    std::lock_guard lock(mutex_);
    ++subscriptions_[user_id];
  }
  // Each opening waits for its own confirmation: SUBSCRIBE is idempotent, and one
  // connection keeps every SUBSCRIBE and UNSUBSCRIBE in order.
  error_code ec;
  Command command{Args{"SUBSCRIBE", options_.channel_prefix + user_id}};
  const auto reply = co_await subscriber_->async_execute(
      std::move(command), asio::redirect_error(asio::use_awaitable, ec));
  if (ec || reply.is_error()) {
    if (!keep_on_failure) unsubscribe(user_id);
    throw Unavailable("Redis unavailable: cannot subscribe: " + (ec ? ec.message() : reply.text));
  }
}

void RedisStore::unsubscribe(const std::string& user_id) {
  if (options_.subscribe_all) return;
  {
    std::lock_guard lock(mutex_);
    auto found = subscriptions_.find(user_id);
    if (found == subscriptions_.end()) return;
    if (--found->second > 0) return;
    subscriptions_.erase(found);
  }
  subscriber_->async_execute(Command{{"UNSUBSCRIBE", options_.channel_prefix + user_id}},
                             asio::bind_executor(executor_, [](error_code, RedisReply) {}));
}

std::vector<Command> RedisStore::subscriptions_to_restore() {
  std::vector<Command> out;
  if (options_.subscribe_all) {
    out.push_back({{"PSUBSCRIBE", options_.channel_prefix + "*"}});
    return out;
  }
  std::lock_guard lock(mutex_);
  Command command;
  for (const auto& [user_id, count] : subscriptions_) {
    if (command.args.empty()) command.args.push_back("SUBSCRIBE");
    command.args.push_back(options_.channel_prefix + user_id);
    if (command.args.size() > kChannelsPerSubscribe) {
      command.replies = command.args.size() - 1;
      out.push_back(std::move(command));
      command = {};
    }
  }
  if (!command.args.empty()) {
    command.replies = command.args.size() - 1;
    out.push_back(std::move(command));
  }
  // This instance's own channel, for sync_notifications.
  out.push_back({{"SUBSCRIBE", options_.channel_prefix + "\x01" + options_.instance_id}});
  return out;
}

void RedisStore::on_subscriber_state(bool ready) {
  bool lost = false;
  {
    std::lock_guard lock(mutex_);
    if (!ready) {
      notifications_lost_ = true;
      return;
    }
    lost = std::exchange(notifications_lost_, false);
  }
  // Back, but whatever was published meanwhile never reached the streams here.
  if (lost) sink_.on_notifications_lost();
}

void RedisStore::on_message(std::string_view channel, std::string payload) {
  if (!starts_with(channel, options_.channel_prefix)) return;
  std::string_view user_id = channel.substr(options_.channel_prefix.size());
  if (!user_id.empty() && user_id.front() == '\x01') {
    // A sync marker (sync_notifications): everything published before it has arrived.
    std::uint64_t marker = 0;
    std::from_chars(payload.data(), payload.data() + payload.size(), marker);
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(mutex_);
      if (auto found = markers_.find(marker); found != markers_.end()) waiter = found->second;
    }
    if (waiter) waiter->set();
    return;
  }
  // The script appended the store sequence as a last field: ...,"seq":N}
  constexpr std::string_view kSequence = ",\"seq\":";
  const auto at = payload.rfind(kSequence);
  if (at == std::string::npos || payload.empty() || payload.back() != '}') return;
  std::uint64_t sequence = 0;
  const char* digits = payload.data() + at + kSequence.size();
  const auto [end, error] = std::from_chars(digits, payload.data() + payload.size() - 1, sequence);
  if (error != std::errc{} || end != payload.data() + payload.size() - 1) return;
  payload.resize(at);
  payload += '}';
  std::uint64_t position = 0;
  constexpr std::string_view kWaiting = "\"status\":\"waiting\"";
  constexpr std::string_view kPosition = "\"position\":";
  if (payload.find(kWaiting) != std::string::npos) {
    if (const auto p = payload.find(kPosition); p != std::string::npos) {
      const char* begin = payload.data() + p + kPosition.size();
      std::from_chars(begin, payload.data() + payload.size(), position);
    }
  }
  sink_.on_notification(user_id, std::move(payload), sequence, position);
}

awaitable<void> RedisStore::sync_notifications() {
  const std::string channel = options_.channel_prefix + "\x01" + options_.instance_id;
  auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
  std::uint64_t marker;
  {
    std::lock_guard lock(mutex_);
    marker = next_marker_++;
    markers_[marker] = waiter;
  }
  struct Forget {
    RedisStore& store;
    std::uint64_t marker;
    ~Forget() {
      std::lock_guard lock(store.mutex_);
      store.markers_.erase(marker);
    }
  } forget{*this, marker};
  Args publish{"PUBLISH", channel, std::to_string(marker)};
  co_await execute(std::move(publish));
  if (!co_await waiter->wait(options_.timeout)) {
    throw Unavailable("Redis unavailable: notifications did not arrive in time");
  }
}

}  // namespace waitroom::store::redis
