// The waitroom binary: configuration in, a running server out. The only code no test
// links, so it only wires: it builds the Config, resolves the ticket secret, constructs
// the one real clock, the io_context, the store, the Hub and the server, binds, prints
// the listening line the tests parse, and stops cleanly on SIGINT/SIGTERM.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "auth/ticket.hpp"
#include "cli/config.hpp"
#include "gate/gate.hpp"
#include "http/hub.hpp"
#include "http/server.hpp"
#include "loadtest/load_test.hpp"
#include "store/embedded_store.hpp"
#include "store/redis/redis_store.hpp"

namespace {

using namespace waitroom;

// The system clock, as the engine needs it: wall-clock milliseconds that never go back.
// A step back of the wall clock (NTP, an operator) holds time still until the wall
// clock catches up, so deadlines never move backwards. This is the only place in the
// program that reads a real clock.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override {
    const auto wall = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    std::lock_guard lock(mutex_);
    if (wall > last_) last_ = wall;
    return last_;
  }

 private:
  mutable std::mutex mutex_;
  mutable TimePoint last_{};
};

// io_context's shutdown() is protected; it destroys every pending handler and coroutine
// frame, which must happen while the objects those frames refer to (store, Hub) are
// still alive.
class IoContext : public boost::asio::io_context {
 public:
  using boost::asio::io_context::io_context;
  using boost::asio::io_context::shutdown;
};

// 32 random bytes as hex, for an --ephemeral run that may write no file.
std::string random_secret() {
  std::random_device random;
  std::string out;
  for (int i = 0; i < 32; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02x", static_cast<unsigned>(random() & 0xFFu));
    out += byte;
  }
  return out;
}

std::string resolve_ticket_secret(const cli::Config& config) {
  if (!config.ticket_secret.empty()) return config.ticket_secret;
  if (config.ticket_secret_file) return auth::load_or_create_secret(*config.ticket_secret_file);
  if (config.ephemeral) return random_secret();
  return auth::load_or_create_secret(config.data_dir / "ticket_secret");
}

store::redis::RedisOptions redis_options(const cli::Config& config) {
  store::redis::RedisOptions options;
  options.endpoint = {.host = config.redis_host,
                      .port = config.redis_port,
                      .db = config.redis_db,
                      .username = config.redis_username,
                      .password = config.redis_password};
  options.key_prefix = config.redis_key_prefix;
  options.channel_prefix = config.redis_channel_prefix;
  options.timeout = config.redis_timeout;
  options.connections = config.redis_connections;
  options.stream_lease = config.redis_stream_lease;
  return options;
}

int serve(const cli::Config& config) {
  // stdout carries only the listening line that tests and scripts parse; logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("waitroom"));
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  for (const auto& line : cli::describe(config)) spdlog::debug("config: {}", line);

  std::optional<auth::TicketSigner> signer;
  if (config.auth_mode == cli::AuthMode::open) {
    spdlog::warn(
        "AUTH MODE IS OPEN: anyone can confirm, leave or watch any user's place. Use this "
        "only on a trusted network.");
  } else {
    signer.emplace(resolve_ticket_secret(config));
  }
  if (config.store == cli::StoreKind::redis && config.auth_mode != cli::AuthMode::open &&
      config.ticket_secret.empty() && !config.ticket_secret_file) {
    spdlog::warn(
        "store redis: every instance must sign tickets with the same key, or a ticket issued by "
        "one is refused by another; set TICKET_SECRET or TICKET_SECRET_FILE (using {})",
        (config.data_dir / "ticket_secret").string());
  }

  const unsigned threads =
      config.threads != 0 ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  SystemClock clock;
  IoContext io_context{int(threads)};
  http::ServerMetrics metrics;
  http::Hub hub(metrics);
  // The embedded store is durable unless --ephemeral: the data directory is recovered (or
  // refused) before anything listens, so no client ever sees a half-recovered state.
  std::optional<store::JournalOptions> journal;
  if (config.store == cli::StoreKind::redis) {
    spdlog::info("store: redis at {}:{} db {}, keys under {}", config.redis_host, config.redis_port,
                 config.redis_db, config.redis_key_prefix);
  } else if (config.ephemeral) {
    spdlog::warn(
        "EPHEMERAL: nothing is written to disk; a restart loses every place in the queue and "
        "every ticket.");
  } else {
    journal = store::JournalOptions{.dir = config.data_dir};
  }
  std::unique_ptr<store::Store> store_owner;
  if (config.store == cli::StoreKind::redis) {
    // Connects in the background: until Redis answers, the API answers 503.
    store_owner = std::make_unique<store::redis::RedisStore>(
        io_context.get_executor(), clock, config.engine, hub, redis_options(config));
  } else {
    try {
      store_owner = std::make_unique<store::EmbeddedStore>(io_context.get_executor(), clock,
                                                           config.engine, hub, std::move(journal));
    } catch (const store::RecoveryError& e) {
      spdlog::critical("{}", e.what());
      return 3;
    }
  }
  store::Store& store = *store_owner;
  if (config.paused) {
    // Queued before the server starts, so the pause takes effect before the first request is
    // read; a durable store then makes it durable like any change.
    boost::asio::co_spawn(io_context, store.set_paused(true), boost::asio::detached);
  }

  http::ServerContext context{.limits = config.limits,
                              .cookie_secure = config.cookie_secure,
                              .auth = {.open = config.auth_mode == cli::AuthMode::open,
                                       .api_key = config.api_key,
                                       .admin_token = config.admin_token,
                                       .signer = signer ? &*signer : nullptr},
                              .store = store,
                              .hub = hub,
                              .metrics = metrics,
                              .router = http::Router::api_routes(config.effective_prefix()),
                              .trusted_user_header = config.trusted_user_header};
  // The gate: the reverse proxy with an upstream, and the forward-auth route either way.
  gate::Gate gate(context, clock,
                  {.prefix = config.effective_prefix(),
                   .upstream = {.host = config.upstream_host,
                                .port = config.upstream_port,
                                .connect_timeout = config.upstream_connect_timeout}});
  context.gateway = &gate;
  context.one_thread = threads == 1;
  if (!config.upstream.empty()) {
    spdlog::info("gate: proxying to {} ; waitroom's own routes under {}", config.upstream,
                 config.effective_prefix());
  }
  http::Server server(io_context, context);
  context.page = config.page;  // the waiting-room page's settings
  context.page.prefix = config.effective_prefix();
  context.page.has_upstream = !config.upstream.empty();
  for (const auto& warning : web::page_warnings(context.page)) spdlog::warn("page: {}", warning);
  boost::asio::ip::tcp::endpoint endpoint;
  try {
    endpoint = server.listen(config.host, config.port);
  } catch (const std::exception& e) {
    spdlog::error("cannot listen on {}:{}: {}", config.host, config.port, e.what());
    return 1;
  }
  server.start();

  boost::asio::signal_set signals(io_context, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping", signal);
    server.stop();
    store.stop();
    io_context.stop();
  });

  std::string host = endpoint.address().to_string();
  if (endpoint.address().is_v6()) host = "[" + host + "]";
  std::printf("waitroom listening on http://%s:%u\n", host.c_str(), unsigned(endpoint.port()));
  std::fflush(stdout);
  spdlog::info("{} thread(s), auth mode {}, max_active_users {}", threads,
               config.auth_mode == cli::AuthMode::open ? "open" : "tickets",
               config.engine.max_active_users);

  std::vector<std::thread> workers;
  for (unsigned i = 1; i < threads; ++i) workers.emplace_back([&] { io_context.run(); });
  io_context.run();
  for (auto& worker : workers) worker.join();

  // Destroy every session's coroutine frame while the Hub and the store still exist.
  io_context.shutdown();
  // The Redis store then drops the calls still waiting on its connections; Asio queues the
  // destruction of their coroutines, which must also run while the Hub exists.
  store_owner.reset();
  io_context.shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv, char** envp) {
  std::vector<std::string> args(argv + 1, argv + argc);
  cli::Command command;
  try {
    command = cli::parse_command_line(args, cli::environment_from(envp));
  } catch (const cli::ConfigError& e) {
    std::cerr << "waitroom: " << e.what() << '\n';
    return 2;
  }
  if (command.kind == cli::Command::Kind::exit) return command.exit_code;
  if (command.kind == cli::Command::Kind::load_test) {
    return loadtest::main(command.load_test_args);
  }
  try {
    return serve(command.config);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
