// `load-test streams`: many idle event streams against one server, then admissions
// pushed while they are all open (DESIGN.md §7: 100,000 streams, < 10 KiB each; slot freed
// → next user notified, p99 < 10 ms).
//
// One user holds the server's slot (run it with --max-active-users 1). A bounded pool of
// workers joins COUNT users over keep-alive connections and opens each user's stream,
// spreading sockets over the --source-addresses (about 28,000 ephemeral ports per address
// and destination). The server's VmRSS before and after gives its memory per waiting
// user with an open stream. Then the holder leaves, and the time until the user at the
// head of the queue hears "draft" on its own stream is one sample; that user leaves in
// turn, and so on. A draft on any other stream is an error.
//
// A stream's reader keeps only a 512-byte read buffer in its frame and looks for the
// draft without parsing JSON: position updates reach every waiting stream after each
// admission, so the reader's cost matters at 100,000 streams.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "loadtest/run_support.hpp"

namespace waitroom::loadtest {
namespace {

using Json = nlohmann::json;
namespace http = beast::http;

struct StreamUser {
  StreamUser(asio::any_io_executor executor, const Target& target,
             std::optional<asio::ip::address> source)
      : stream(std::move(executor), target, source) {}
  EventStream stream;
  std::string id;
  std::string ticket;
  long position = 0;  // commit_position of the join answer
  bool drafted = false;
  SteadyTime drafted_at{};
};

struct StreamsRun {
  explicit StreamsRun(Run& r) : run(r), drafted_signal(r.io_context) {}
  Run& run;
  std::vector<std::optional<asio::ip::address>> sources;  // round robin; {nullopt}: none
  std::vector<std::shared_ptr<StreamUser>> users;         // by join index
  std::size_t next_index = 0;
  std::size_t opened = 0;
  asio::steady_timer drafted_signal;  // cancelled when any stream hears a draft
  std::vector<std::size_t> drafted_order;
  bool closing = false;

  const std::optional<asio::ip::address>& source(std::size_t index) const {
    return sources[index % sources.size()];
  }
};

std::vector<std::optional<asio::ip::address>> parse_sources(const std::string& text) {
  std::vector<std::optional<asio::ip::address>> out;
  if (text.empty()) return {std::nullopt};
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    auto dash = item.find('-');
    if (dash == std::string::npos) {
      out.emplace_back(asio::ip::make_address(item));
      continue;
    }
    auto first = asio::ip::make_address_v4(item.substr(0, dash)).to_uint();
    auto last = asio::ip::make_address_v4(item.substr(dash + 1)).to_uint();
    if (last < first || last - first >= 4096) {
      throw std::runtime_error("--source-addresses: bad range " + item);
    }
    for (auto address = first; address <= last; ++address) {
      out.emplace_back(asio::ip::address_v4(address));
    }
  }
  return out;
}

// VmRSS of a process in KiB, or 0 when it cannot be read.
std::uint64_t rss_kib(int pid) {
  std::ifstream status(pid > 0 ? "/proc/" + std::to_string(pid) + "/status"
                               : std::string("/proc/self/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

asio::awaitable<void> watch_stream(StreamsRun& streams, std::shared_ptr<StreamUser> user,
                                   std::size_t index) {
  while (auto data = co_await user->stream.next(streams.run.deadline)) {
    if (!user->drafted && data->find("\"status\":\"draft\"") != std::string::npos) {
      user->drafted = true;
      user->drafted_at = steady_now();
      streams.drafted_order.push_back(index);
      streams.drafted_signal.cancel();
    }
  }
  if (!streams.closing && !streams.run.past_deadline()) {
    streams.run.recorder.error("stream ended early (" + user->stream.ended_by() + ")");
  }
}

// Joins users and opens their streams until COUNT are open.
asio::awaitable<void> open_worker(StreamsRun& streams, std::size_t worker) {
  Run& run = streams.run;
  auto executor = co_await asio::this_coro::executor;
  RequestConnection requests(executor, run.target, streams.source(worker));
  while (streams.next_index < run.options.count && !run.past_deadline()) {
    const std::size_t index = streams.next_index++;
    auto user = std::make_shared<StreamUser>(executor, run.target, streams.source(index));
    user->id = run.options.id_prefix + std::to_string(index);
    ++run.recorder.counters.started;
    SteadyTime sent = steady_now();
    Response joined = co_await requests.request(http::verb::post, "/queue/join/" + user->id,
                                                run.options.api_key, run.deadline);
    if (joined.status != 200) {
      run.recorder.error(joined.status ? "join http " + std::to_string(joined.status)
                                       : "join " + joined.error);
      continue;
    }
    run.recorder.join_ms.push_back(
        std::chrono::duration<double, std::milli>(steady_now() - sent).count());
    ++run.recorder.counters.joined;
    Json answer = Json::parse(joined.body, nullptr, false);
    if (answer.is_object() && answer["ticket"].is_string()) user->ticket = answer["ticket"];
    if (answer.is_object() && answer["commit_position"].is_number_integer()) {
      user->position = answer["commit_position"].get<long>();
    }
    sent = steady_now();
    const std::string& bearer = run.options.api_key.empty() ? user->ticket : run.options.api_key;
    std::string failure = co_await user->stream.open(user->id, bearer, run.deadline);
    if (!failure.empty()) {
      run.recorder.error(failure);
      continue;
    }
    // The first event is the current state: the stream is registered once it arrives.
    auto first = co_await user->stream.next(run.deadline);
    if (!first) {
      run.recorder.error("stream ended before its first event (" + user->stream.ended_by() + ")");
      continue;
    }
    run.recorder.stream_open_ms.push_back(
        std::chrono::duration<double, std::milli>(steady_now() - sent).count());
    ++run.recorder.counters.streams_open;
    ++streams.opened;
    streams.users[index] = user;
    asio::co_spawn(executor, watch_stream(streams, user, index), asio::detached);
  }
  requests.close();
}

asio::awaitable<void> streams_main(StreamsRun& streams, Json& report) {
  Run& run = streams.run;
  const Options& options = run.options;
  auto executor = co_await asio::this_coro::executor;
  RequestConnection control(executor, run.target, streams.source(0));

  // The holder takes the one slot; every other user will wait.
  std::string holder_id = options.id_prefix + "holder";
  Response held = co_await control.request(http::verb::post, "/queue/join/" + holder_id,
                                           options.api_key, run.deadline);
  Json held_answer = Json::parse(held.body, nullptr, false);
  if (held.status != 200 || !held_answer.is_object() || held_answer["commit_status"] != "draft") {
    run.recorder.error(
        "holder did not get the slot (run the server with --max-active-users 1 "
        "and an empty queue): " +
        (held.status ? held.body : held.error));
    co_return;
  }
  std::string holder_ticket =
      held_answer["ticket"].is_string() ? held_answer["ticket"].get<std::string>() : "";

  const std::uint64_t server_before = rss_kib(options.server_pid);
  const std::uint64_t client_before = rss_kib(0);
  const SteadyTime open_start = steady_now();
  streams.users.resize(options.count);
  std::size_t workers = std::min(options.concurrency, options.count);
  auto workers_done = std::make_shared<std::size_t>(0);
  asio::steady_timer all_open(executor);
  for (std::size_t w = 0; w < workers; ++w) {
    asio::co_spawn(executor, open_worker(streams, w), [&, workers_done](std::exception_ptr) {
      if (++*workers_done == workers) all_open.cancel();
    });
  }
  while (*workers_done < workers && !run.past_deadline()) {
    boost::system::error_code ec;
    all_open.expires_at(run.deadline);
    co_await all_open.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  const double open_s = std::chrono::duration<double>(steady_now() - open_start).count();
  // Let the server settle (position updates of the last joins) before reading its memory.
  {
    asio::steady_timer settle(executor);
    settle.expires_after(std::chrono::milliseconds(1500));
    boost::system::error_code ec;
    co_await settle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  const std::uint64_t server_after = rss_kib(options.server_pid);
  const std::uint64_t client_after = rss_kib(0);
  std::cerr << "streams: " << streams.opened << " open in " << open_s << " s\n";

  // Admissions while every stream is open: who should be drafted next is the user whose
  // join answer said position k+1 (nobody else leaves the queue meanwhile).
  std::vector<std::size_t> by_position(options.count + 1, SIZE_MAX);
  for (std::size_t i = 0; i < streams.users.size(); ++i) {
    const auto& user = streams.users[i];
    if (user && user->position >= 1 && std::size_t(user->position) <= options.count) {
      by_position[std::size_t(user->position)] = i;
    }
  }
  std::vector<double> push_ms, leave_ms;
  std::string current_id = holder_id;
  std::string current_ticket = holder_ticket;
  for (std::size_t k = 1; k <= options.samples && k <= options.count; ++k) {
    const std::size_t expected = by_position[k];
    if (expected == SIZE_MAX) {
      run.recorder.error("no open stream at queue position " + std::to_string(k));
      break;
    }
    const std::size_t drafted_before = streams.drafted_order.size();
    const std::string& bearer = options.api_key.empty() ? current_ticket : options.api_key;
    const SteadyTime freed = steady_now();
    Response left = co_await control.request(http::verb::post, "/queue/leave/" + current_id, bearer,
                                             run.deadline);
    if (left.status != 200) {
      run.recorder.error(left.status ? "leave http " + std::to_string(left.status)
                                     : "leave " + left.error);
      break;
    }
    leave_ms.push_back(std::chrono::duration<double, std::milli>(steady_now() - freed).count());
    const SteadyTime give_up = std::min(run.deadline, steady_now() + std::chrono::seconds(10));
    while (streams.drafted_order.size() == drafted_before && steady_now() < give_up) {
      boost::system::error_code ec;
      streams.drafted_signal.expires_at(give_up);
      co_await streams.drafted_signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (streams.drafted_order.size() == drafted_before) {
      run.recorder.error("no draft pushed within 10 s of a leave");
      break;
    }
    const std::size_t got = streams.drafted_order[drafted_before];
    if (got != expected) run.recorder.error("draft pushed to the wrong stream");
    const auto& user = streams.users[got];
    push_ms.push_back(std::chrono::duration<double, std::milli>(user->drafted_at - freed).count());
    current_id = user->id;
    current_ticket = user->ticket;
  }

  const double per_stream_bytes =
      streams.opened ? double(server_after - server_before) * 1024.0 / double(streams.opened) : 0;
  report["streams_requested"] = options.count;
  report["streams_open"] = streams.opened;
  report["open_s"] = std::round(open_s * 1000) / 1000;
  report["server_pid"] = options.server_pid;
  report["server_rss_before_kib"] = server_before;
  report["server_rss_after_kib"] = server_after;
  report["server_bytes_per_stream"] = std::round(per_stream_bytes);
  report["client_bytes_per_stream"] =
      streams.opened
          ? std::round(double(client_after - client_before) * 1024.0 / double(streams.opened))
          : 0;
  report["source_addresses"] = streams.sources.size();
  report["push_latency_ms"] = Distribution::of(push_ms).json();
  report["leave_latency_ms"] = Distribution::of(leave_ms).json();
  report["join_latency_ms"] = Distribution::of(run.recorder.join_ms).json();
  report["stream_open_latency_ms"] = Distribution::of(run.recorder.stream_open_ms).json();

  // Done: close every stream so that their readers (and io_context.run) end.
  streams.closing = true;
  for (auto& user : streams.users) {
    if (user) user->stream.close();
  }
  control.close();
}

}  // namespace

int run_streams(asio::io_context& io_context, const Options& given, Target target,
                std::uint64_t seed) {
  Options options = given;
  if (options.id_prefix.empty()) {
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "st-%08llx-",
                  static_cast<unsigned long long>(seed & 0xFFFFFFFFull));
    options.id_prefix = prefix;
  }
  Run run(io_context, options, std::move(target), seed);
  StreamsRun streams(run);
  try {
    streams.sources = parse_sources(options.source_addresses);
  } catch (const std::exception& e) {
    std::cerr << "waitroom load-test: " << e.what() << "\n";
    return 2;
  }
  const std::uint64_t limit = raise_file_limit(options.count + options.concurrency + 256);
  if (limit < options.count + options.concurrency + 64) {
    std::cerr << "waitroom load-test: only " << limit << " file descriptors; " << options.count
              << " streams need more (raise ulimit -n)\n";
    return 2;
  }
  std::cerr << "load-test streams: " << options.count << " streams against " << options.url
            << options.prefix << " over " << streams.sources.size() << " source address(es), cap "
            << options.duration_s << " s\n";
  Json report = {{"mode", "streams"}, {"url", options.url + options.prefix}, {"seed", seed}};
  const Counters& c = run.recorder.counters;
  run.launching = true;
  asio::co_spawn(io_context, streams_main(streams, report), [&](std::exception_ptr error) {
    if (error) run.recorder.error("internal error");
    run.launching = false;
    run.wake.cancel();
  });
  asio::co_spawn(io_context,
                 progress_loop(run,
                               [&] {
                                 return "joined " + std::to_string(c.joined) + "  streams open " +
                                        std::to_string(c.streams_open) + "  errors " +
                                        std::to_string(run.recorder.error_count());
                               }),
                 asio::detached);
  io_context.run();

  report["elapsed_s"] =
      std::round(std::chrono::duration<double>(steady_now() - run.start).count() * 1000) / 1000;
  report["errors"] = Json::object();
  for (const auto& [kind, count] : run.recorder.errors) report["errors"][kind] = count;
  report["error_count"] = run.recorder.error_count();

  const auto& push = report.value("push_latency_ms", Json::object());
  std::cout << "load-test streams against " << options.url << options.prefix << "\n"
            << "streams open: " << report.value("streams_open", 0) << " of " << options.count
            << " in " << report.value("open_s", 0.0) << " s over " << streams.sources.size()
            << " source address(es)\n"
            << "server memory: " << report.value("server_rss_before_kib", 0) << " KiB before, "
            << report.value("server_rss_after_kib", 0)
            << " KiB after: " << report.value("server_bytes_per_stream", 0.0)
            << " bytes per waiting user with an open stream\n"
            << "slot freed -> draft on the right stream, with all open (" << push.value("count", 0)
            << " samples): p50 " << push.value("p50", 0.0) << " ms, p90 " << push.value("p90", 0.0)
            << " ms, p99 " << push.value("p99", 0.0) << " ms, max " << push.value("max", 0.0)
            << " ms\n"
            << "errors: " << (run.recorder.errors.empty() ? "none" : report["errors"].dump())
            << "\n"
            << std::flush;
  if (!options.json_file.empty() && !write_file(options.json_file, report.dump(2) + "\n")) {
    return 1;
  }
  return streams.opened > 0 && run.recorder.errors.empty() ? 0 : 1;
}

}  // namespace waitroom::loadtest
