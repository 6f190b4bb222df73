// The users modes: `single`, `group` and `load`. Each simulated user is a person with a
// browser tab: it joins, keeps the tab's event stream open, confirms its draft after a
// reaction time (or never, and walks away), stays a while sending heartbeats, then leaves
// or lets its session run out and watches it end.
//
// A user is two coroutines sharing a UserState: the script (requests, on one keep-alive
// connection) and the stream reader. The reader records what the server pushed and
// cancels the state's timer, which the script awaits as a condition variable; everything
// runs on one thread, so no locks. Every wait ends at the run's deadline at the latest,
// and a user still busy then counts as "unfinished".
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <memory>

#include "loadtest/run_support.hpp"

namespace waitroom::loadtest {
namespace {

using Json = nlohmann::json;
namespace http = beast::http;

struct UserState {
  explicit UserState(asio::any_io_executor executor) : signal(std::move(executor)) {}
  asio::steady_timer signal;  // cancelled on every event: wakes the script
  bool first_event_seen = false;
  bool drafted = false;
  bool requeued = false;  // the draft ran out and the server put the user back
  bool disconnected = false;
  bool stream_ended = false;
  SteadyTime drafted_at{};
  std::string disconnect_reason;
};

double ms_since(SteadyTime start) {
  return std::chrono::duration<double, std::milli>(steady_now() - start).count();
}

std::chrono::steady_clock::duration seconds(double value) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(value));
}

std::string http_error(std::string_view what, const Response& response) {
  if (response.status == 0) return std::string(what) + " " + response.error;
  return std::string(what) + " http " + std::to_string(response.status);
}

// Waits until `done()` or `until`, whichever is first.
template <typename Done>
asio::awaitable<void> wait_for(UserState& state, Done done, SteadyTime until) {
  while (!done() && steady_now() < until) {
    boost::system::error_code ec;
    state.signal.expires_at(until);
    co_await state.signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> read_events(Run& run, std::shared_ptr<EventStream> stream,
                                  std::shared_ptr<UserState> state) {
  Recorder& recorder = run.recorder;
  while (auto data = co_await stream->next(run.deadline)) {
    ++recorder.counters.events;
    Json event = Json::parse(*data, nullptr, false);
    if (!event.is_object() || !event.contains("status")) {
      recorder.error("event not understood");
      continue;
    }
    const Json& status = event["status"];
    if (status == "draft" && !state->drafted) {
      state->drafted = true;
      state->drafted_at = steady_now();
      ++recorder.counters.drafted;
      // A live notification (not the first message, which only restates the state)
      // tells when the server admitted us: expires_at - duration.
      if (state->first_event_seen && event["expires_at"].is_string() &&
          event["duration"].is_number()) {
        if (auto expires = parse_instant(event["expires_at"].get<std::string>())) {
          auto admitted =
              *expires - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                             std::chrono::duration<double>(event["duration"].get<double>()));
          recorder.admission_to_draft_ms.push_back(
              std::chrono::duration<double, std::milli>(std::chrono::system_clock::now() - admitted)
                  .count());
        }
      }
    } else if (status == "waiting" && event.contains("reason")) {
      state->requeued = true;
    } else if (status == "disconnected") {
      state->disconnected = true;
      if (event["reason"].is_string()) state->disconnect_reason = event["reason"];
    }
    state->first_event_seen = true;
    state->signal.cancel();
  }
  state->stream_ended = true;
  state->signal.cancel();
}

// One person, start to end. Returns with `finished` counted unless the cap stopped it.
asio::awaitable<void> user_script(Run& run, std::string user_id, std::uint64_t user_seed) {
  const Options& options = run.options;
  Recorder& recorder = run.recorder;
  auto executor = co_await asio::this_coro::executor;
  std::mt19937_64 random(user_seed);
  auto uniform = [&](SecondsRange range) {
    return std::uniform_real_distribution<double>(range.min_s, range.max_s)(random);
  };
  auto coin = [&](double probability) {
    return std::uniform_real_distribution<double>(0, 1)(random) < probability;
  };
  // Draw every choice up front, so that a user's behaviour depends on the seed alone and
  // not on what the server answered.
  const bool confirms = !coin(options.no_confirm_ratio);
  const double reaction_s = uniform(options.reaction);
  const double stay_s = uniform(options.stay);
  const bool leaves = coin(options.leave_ratio);

  RequestConnection requests(executor, run.target);
  auto finish = [&] { ++recorder.counters.finished; };

  ++recorder.counters.started;
  SteadyTime sent = steady_now();
  Response joined = co_await requests.request(http::verb::post, "/queue/join/" + user_id,
                                              options.api_key, run.deadline);
  if (joined.status != 200) {
    recorder.error(http_error("join", joined));
    if (!run.past_deadline()) finish();
    co_return;
  }
  recorder.join_ms.push_back(ms_since(sent));
  ++recorder.counters.joined;
  const SteadyTime joined_at = steady_now();
  Json answer = Json::parse(joined.body, nullptr, false);
  std::string ticket;
  if (answer.is_object() && answer["ticket"].is_string()) ticket = answer["ticket"];
  const bool waited = answer.is_object() && answer["commit_status"] == "waiting";
  const double estimated_wait_s = answer.is_object() && answer["estimated_wait"].is_number()
                                      ? answer["estimated_wait"].get<double>()
                                      : 0;
  const std::string bearer = options.api_key.empty() ? ticket : options.api_key;

  auto state = std::make_shared<UserState>(executor);
  auto stream = std::make_shared<EventStream>(executor, run.target);
  sent = steady_now();
  std::string failure = co_await stream->open(user_id, bearer, run.deadline);
  if (!failure.empty()) {
    recorder.error(failure);
    if (!run.past_deadline()) finish();
    co_return;
  }
  recorder.stream_open_ms.push_back(ms_since(sent));
  ++recorder.counters.streams_open;
  asio::co_spawn(executor, read_events(run, stream, state), asio::detached);
  auto end_user = [&] {
    stream->close();
    requests.close();
  };
  auto stopped_early = [&](std::string_view while_doing) {
    // The cap is not an error; anything else that ends the user early is.
    if (run.past_deadline()) return;
    if (state->disconnected) {
      recorder.error("disconnected (" + state->disconnect_reason + ") while " +
                     std::string(while_doing));
    } else if (state->stream_ended) {
      recorder.error("stream ended (" + stream->ended_by() + ") while " + std::string(while_doing));
    }
    finish();
  };

  co_await wait_for(
      *state, [&] { return state->drafted || state->disconnected || state->stream_ended; },
      run.deadline);
  if (!state->drafted) {
    stopped_early("waiting");
    end_user();
    co_return;
  }
  if (waited) {
    double wait_s = std::chrono::duration<double>(state->drafted_at - joined_at).count();
    recorder.wait_s.push_back(wait_s);
    recorder.wait_vs_estimate_s.emplace_back(wait_s, estimated_wait_s);
  }

  if (!confirms) {
    // Gone from the keyboard: the tab stays open until the draft runs out, then closes.
    co_await wait_for(
        *state, [&] { return state->requeued || state->disconnected || state->stream_ended; },
        run.deadline);
    if (!run.past_deadline()) {
      ++recorder.counters.abandoned;
      finish();
    }
    end_user();
    co_return;
  }

  co_await wait_for(
      *state, [&] { return state->disconnected || state->stream_ended; },
      std::min(run.deadline, steady_now() + seconds(reaction_s)));
  if (state->disconnected || state->stream_ended || run.past_deadline()) {
    stopped_early("reacting to the draft");
    end_user();
    co_return;
  }
  sent = steady_now();
  Response confirmed = co_await requests.request(http::verb::post, "/queue/confirm/" + user_id,
                                                 bearer, run.deadline);
  if (confirmed.status != 200) {
    // 400: the draft ran out during the reaction time (a reaction longer than the draft).
    recorder.error(http_error("confirm", confirmed));
    if (!run.past_deadline()) finish();
    end_user();
    co_return;
  }
  recorder.confirm_ms.push_back(ms_since(sent));
  ++recorder.counters.served;

  const SteadyTime stay_until = std::min(run.deadline, steady_now() + seconds(stay_s));
  const bool heartbeats = options.heartbeat_interval_s > 0;
  SteadyTime next_heartbeat = steady_now() + seconds(options.heartbeat_interval_s);
  while (!state->disconnected && !state->stream_ended && steady_now() < stay_until) {
    co_await wait_for(
        *state, [&] { return state->disconnected || state->stream_ended; },
        heartbeats ? std::min(stay_until, next_heartbeat) : stay_until);
    if (!heartbeats || steady_now() < next_heartbeat || state->disconnected ||
        state->stream_ended || steady_now() >= stay_until) {
      continue;
    }
    next_heartbeat += seconds(options.heartbeat_interval_s);
    sent = steady_now();
    Response beat = co_await requests.request(http::verb::post, "/queue/heartbeat/" + user_id,
                                              bearer, run.deadline);
    if (beat.status == 200) {
      recorder.heartbeat_ms.push_back(ms_since(sent));
      ++recorder.counters.heartbeats;
    } else if (beat.status != 404) {  // 404: the session ended just before; the stream says why
      recorder.error(http_error("heartbeat", beat));
    }
  }
  if (state->disconnected) {
    // A stay longer than the session: the server ended it first.
    if (state->disconnect_reason == "session_timeout") {
      ++recorder.counters.session_expired;
      finish();
    } else {
      stopped_early("connected");
    }
    end_user();
    co_return;
  }
  if (state->stream_ended || run.past_deadline()) {
    stopped_early("connected");
    end_user();
    co_return;
  }

  if (leaves) {
    sent = steady_now();
    Response left = co_await requests.request(http::verb::post, "/queue/leave/" + user_id, bearer,
                                              run.deadline);
    if (left.status == 200) {
      recorder.leave_ms.push_back(ms_since(sent));
      ++recorder.counters.left;
      finish();
    } else {
      recorder.error(http_error("leave", left));
      if (!run.past_deadline()) finish();
    }
  } else {
    // Stop heartbeating and watch the session run out on the still open tab.
    co_await wait_for(
        *state, [&] { return state->disconnected || state->stream_ended; }, run.deadline);
    if (state->disconnected && state->disconnect_reason != "left") {
      ++recorder.counters.session_expired;
      finish();
    } else {
      stopped_early("letting the session run out");
    }
  }
  end_user();
}

asio::awaitable<void> user(Run& run, std::string user_id, std::uint64_t user_seed) {
  ++run.active;
  try {
    co_await user_script(run, std::move(user_id), user_seed);
  } catch (const std::exception& e) {
    run.recorder.error(std::string("internal: ") + e.what());
  }
  if (--run.active == 0 && !run.launching) run.wake.cancel();
}

std::string user_id_of(const Run& run, std::size_t index) {
  if (run.options.mode == Options::Mode::single) return run.options.user_id;
  return run.options.id_prefix + std::to_string(index);
}

// Starts the users: all at once (single, group) or in batches (load).
asio::awaitable<void> launch(Run& run) {
  const Options& options = run.options;
  auto executor = co_await asio::this_coro::executor;
  std::size_t total = 1;
  std::size_t batch = 1;
  if (options.mode == Options::Mode::group) total = batch = options.size;
  if (options.mode == Options::Mode::load) {
    total = options.users;
    batch = options.batch_size;
  }
  asio::steady_timer delay(executor);
  for (std::size_t next = 0; next < total && !run.past_deadline();) {
    for (std::size_t i = 0; i < batch && next < total; ++i, ++next) {
      // SplitMix-style spreading: neighbouring users get unrelated streams of numbers.
      std::uint64_t user_seed = run.seed + 0x9E3779B97F4A7C15ull * (next + 1);
      asio::co_spawn(executor, user(run, user_id_of(run, next), user_seed), asio::detached);
    }
    if (next < total) {
      boost::system::error_code ec;
      delay.expires_at(std::min(run.deadline, steady_now() + seconds(options.batch_delay_s)));
      co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  run.launching = false;
  if (run.active == 0) run.wake.cancel();
}

const char* mode_name(Options::Mode mode) {
  switch (mode) {
    case Options::Mode::single:
      return "single";
    case Options::Mode::group:
      return "group";
    case Options::Mode::load:
      return "load";
    case Options::Mode::streams:
      return "streams";
  }
  return "?";
}

}  // namespace

int run_users(asio::io_context& io_context, const Options& given, Target target,
              std::uint64_t seed) {
  Options options = given;
  if (options.id_prefix.empty()) {
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "lt-%08llx-",
                  static_cast<unsigned long long>(seed & 0xFFFFFFFFull));
    options.id_prefix = prefix;
  }
  std::size_t users = options.mode == Options::Mode::group  ? options.size
                      : options.mode == Options::Mode::load ? options.users
                                                            : 1;
  // Two sockets per user (requests and stream), plus room for the process itself.
  raise_file_limit(2 * users + 256);

  Run run(io_context, options, std::move(target), seed);
  std::cerr << "load-test " << mode_name(options.mode) << ": " << users << " user(s) against "
            << options.url << options.prefix << ", seed " << seed << ", cap " << options.duration_s
            << " s\n";
  const Counters& c = run.recorder.counters;
  asio::co_spawn(io_context, launch(run), asio::detached);
  asio::co_spawn(
      io_context,
      progress_loop(run,
                    [&] {
                      const std::uint64_t waiting = c.streams_open - c.drafted;
                      return "started " + std::to_string(c.started) + "  joined " +
                             std::to_string(c.joined) + "  waiting " + std::to_string(waiting) +
                             "  drafted " + std::to_string(c.drafted) + "  served " +
                             std::to_string(c.served) + "  finished " + std::to_string(c.finished) +
                             "  errors " + std::to_string(run.recorder.error_count());
                    }),
      asio::detached);
  io_context.run();

  const double elapsed_s = std::chrono::duration<double>(steady_now() - run.start).count();
  Json header = {{"mode", mode_name(options.mode)},
                 {"url", options.url + options.prefix},
                 {"seed", seed},
                 {"id_prefix", options.id_prefix},
                 {"parameters",
                  {{"users", users},
                   {"batch_size", options.batch_size},
                   {"batch_delay_s", options.batch_delay_s},
                   {"reaction_s", {options.reaction.min_s, options.reaction.max_s}},
                   {"no_confirm_ratio", options.no_confirm_ratio},
                   {"stay_s", {options.stay.min_s, options.stay.max_s}},
                   {"leave_ratio", options.leave_ratio},
                   {"heartbeat_interval_s", options.heartbeat_interval_s},
                   {"duration_cap_s", options.duration_s}}}};
  Json summary = summary_json(run.recorder, std::move(header), elapsed_s);
  std::cout << summary_text(summary) << std::flush;
  if (!options.json_file.empty() && !write_file(options.json_file, summary.dump(2) + "\n")) {
    return 1;
  }
  return c.joined > 0 ? 0 : 1;
}

}  // namespace waitroom::loadtest
