// The load-test command line: the original tool's three modes (`single USER_ID`,
// `group --size N`, `load --users N --batch-size B --delay S`) and `streams`, with the
// behaviour flags shared by all of them. Durations accept the server's syntax ("5s",
// "250ms", "0.5") through cli::parse_duration, so one spelling works everywhere.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/config.hpp"
#include "loadtest/load_test.hpp"

namespace waitroom::loadtest {
namespace {

double seconds_of(const std::string& text, const std::string& flag) {
  return std::chrono::duration<double>(cli::parse_duration(text, flag)).count();
}

SecondsRange range_of(const std::string& text, const std::string& flag) {
  auto dots = text.find("..");
  if (dots == std::string::npos) {
    double value = seconds_of(text, flag);
    return {value, value};
  }
  SecondsRange range{seconds_of(text.substr(0, dots), flag),
                     seconds_of(text.substr(dots + 2), flag)};
  if (range.max_s < range.min_s) {
    throw cli::ConfigError(flag + ": MIN..MAX with MIN greater than MAX: \"" + text + "\"");
  }
  return range;
}

// Flags that every mode understands. CLI11 binds them to strings first so that the
// duration syntax and the ranges are validated by our own parsers.
struct Common {
  std::string reaction = "0.5s..3s";
  std::string stay = "5s..30s";
  std::string heartbeat = "10s";
  std::string duration = "300s";
  std::string delay = "5s";
  std::string progress = "0";
};

void add_common(CLI::App& command, Options& options, Common& common) {
  command.add_option("--url", options.url, "Server (or gate) base URL, http only")
      ->capture_default_str();
  command.add_option("--prefix", options.prefix, "Path prefix before /queue, e.g. /waitroom");
  command.add_option("--api-key", options.api_key,
                     "Backend API key (default: each user acts with its join ticket)");
  command.add_option("--id-prefix", options.id_prefix,
                     "User id prefix (default lt-<seed>-, unique per run)");
  command.add_option("--reaction-time", common.reaction, "Draft seen to confirm, MIN..MAX")
      ->capture_default_str();
  command
      .add_option("--no-confirm-ratio", options.no_confirm_ratio,
                  "Share of users who never confirm their draft")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  command.add_option("--stay", common.stay, "Time connected before leaving, MIN..MAX")
      ->capture_default_str();
  command
      .add_option("--leave-ratio", options.leave_ratio,
                  "Share of connected users who leave; the others let the session run out")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  command.add_option("--heartbeat-interval", common.heartbeat, "While connected (0: none)")
      ->capture_default_str();
  command.add_option("--duration", common.duration, "Cap for the whole run")->capture_default_str();
  command.add_option("--seed", options.seed, "PRNG seed (default: random, printed)");
  command.add_option("--json", options.json_file, "Also write the summary as JSON to FILE");
  command.add_option("--progress-interval", common.progress,
                     "Progress line period (default 1s on a terminal, 5s otherwise)");
}

}  // namespace

std::optional<Options> parse_options(const std::vector<std::string>& args, int& exit_code) {
  Options options;
  Common common;
  CLI::App app{"waitroom load-test: simulated people against a running waitroom",
               "waitroom load-test"};
  app.require_subcommand(1);
  auto* single = app.add_subcommand("single", "One user, start to end");
  single->add_option("user_id", options.user_id, "The user id")->required();
  auto* group = app.add_subcommand("group", "N users who all arrive at once");
  group->add_option("--size", options.size, "Number of users")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  auto* load = app.add_subcommand("load", "Users arriving in batches");
  load->add_option("--users", options.users, "Number of users")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  load->add_option("--batch-size", options.batch_size, "Users per batch")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  load->add_option("--delay", common.delay, "Between batches")->capture_default_str();
  auto* streams = app.add_subcommand(
      "streams", "Open COUNT idle event streams (waiting users), then time admissions");
  streams->add_option("--count", options.count, "Streams to open")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  streams->add_option("--source-addresses", options.source_addresses,
                      "Local addresses to spread connections over: A.B.C.D-A.B.C.E or a list");
  streams->add_option("--server-pid", options.server_pid, "Server process, to read its VmRSS");
  streams->add_option("--samples", options.samples, "Admissions to time while all are open")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  streams->add_option("--concurrency", options.concurrency, "Joins and opens in flight")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  for (auto* command : {single, group, load, streams}) add_common(*command, options, common);

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
    options.reaction = range_of(common.reaction, "--reaction-time");
    options.stay = range_of(common.stay, "--stay");
    options.heartbeat_interval_s = seconds_of(common.heartbeat, "--heartbeat-interval");
    options.duration_s = seconds_of(common.duration, "--duration");
    options.batch_delay_s = seconds_of(common.delay, "--delay");
    options.progress_interval_s = seconds_of(common.progress, "--progress-interval");
    if (options.duration_s <= 0) throw cli::ConfigError("--duration must be greater than 0");
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    exit_code = 0;
    return std::nullopt;
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) {
      std::cout << (app.get_subcommands().empty() ? app.help()
                                                  : app.get_subcommands().front()->help());
      exit_code = 0;
      return std::nullopt;
    }
    std::cerr << "waitroom load-test: " << error.what() << " (run `waitroom load-test --help`)\n";
    exit_code = 2;
    return std::nullopt;
  } catch (const cli::ConfigError& error) {
    std::cerr << "waitroom load-test: " << error.what() << "\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (single->parsed()) options.mode = Options::Mode::single;
  if (group->parsed()) options.mode = Options::Mode::group;
  if (load->parsed()) options.mode = Options::Mode::load;
  if (streams->parsed()) options.mode = Options::Mode::streams;
  return options;
}

int main(const std::vector<std::string>& args) {
  int exit_code = 0;
  auto options = parse_options(args, exit_code);
  if (!options) return exit_code;
  return run(*options);
}

}  // namespace waitroom::loadtest
