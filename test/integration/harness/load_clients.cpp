#include "harness/load_clients.hpp"

#include "harness/waitroom_fixture.hpp"

#include <memory>
#include <random>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace waitroom::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// One keep-alive connection to one server.
struct Connection {
  explicit Connection(asio::any_io_executor executor) : stream(executor) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bool connected = false;
};

asio::awaitable<void> run_client(std::vector<tcp::endpoint> servers, std::string id,
                                 std::uint64_t seed, LoadOptions options, LoadStats& stats) {
  const auto executor = co_await asio::this_coro::executor;
  std::vector<std::unique_ptr<Connection>> connections;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    connections.push_back(std::make_unique<Connection>(executor));
  }
  std::mt19937_64 random(seed);
  std::string ticket;
  boost::system::error_code error;
  for (int i = 0; i < options.operations_per_client && Clock::now() < options.deadline; ++i) {
    const auto pick = random() % 100;
    const std::size_t server = servers.size() > 1 ? random() % servers.size() : 0;
    Connection& connection = *connections[server];
    http::verb method = http::verb::post;
    std::string route;
    if (pick < 35) {
      route = "join";
    } else if (pick < 60) {
      route = "status";
      method = http::verb::get;
    } else if (pick < 85) {
      route = "confirm";
    } else {
      route = "leave";
    }
    http::request<http::string_body> request{method, "/queue/" + route + "/" + id, 11};
    request.set(http::field::host, "127.0.0.1");
    if (!ticket.empty()) request.set(http::field::authorization, "Bearer " + ticket);
    request.prepare_payload();

    http::response<http::string_body> response;
    bool done = false;
    auto sent = Clock::now();
    for (int attempt = 0; attempt < 2 && !done; ++attempt) {
      const bool reused = connection.connected;
      if (!connection.connected) {
        connection.stream.expires_after(options.request_timeout);
        co_await connection.stream.async_connect(servers[server],
                                                 asio::redirect_error(asio::use_awaitable, error));
        if (error) {
          stats.fail(id + ": connect: " + error.message());
          ++stats.clients_done;
          co_return;
        }
        connection.connected = true;
      }
      sent = Clock::now();
      connection.stream.expires_after(options.request_timeout);
      co_await http::async_write(connection.stream, request,
                                 asio::redirect_error(asio::use_awaitable, error));
      if (!error) {
        response = {};
        co_await http::async_read(connection.stream, connection.buffer, response,
                                  asio::redirect_error(asio::use_awaitable, error));
      }
      if (error) {
        boost::system::error_code ignored;
        connection.stream.socket().close(ignored);
        connection.buffer.clear();
        connection.connected = false;
        if (!reused) {
          stats.fail(id + ": " + route + ": " + error.message() + " after " +
                     std::to_string(std::chrono::duration<double>(Clock::now() - sent).count()) +
                     " s");
          ++stats.clients_done;
          co_return;
        }
        continue;  // a closed keep-alive connection: once more on a new one
      }
      done = true;
    }
    if (!done) {
      stats.fail(id + ": " + route + ": failed twice");
      break;
    }
    ++stats.operations;
    const int status = static_cast<int>(response.result_int());
    if (status == 503 && options.accept_unavailable) {
      ++stats.unavailable;
      continue;
    }
    // Before its first join a client has no ticket: confirm and leave are then refused.
    const bool expected = status == 200 || (route == "confirm" && status == 400) ||
                          (route == "leave" && status == 404) ||
                          (ticket.empty() && route != "join" && route != "status" && status == 401);
    if (!expected) {
      stats.fail(id + ": " + route + " answered " + std::to_string(status) + " " +
                 response.body().substr(0, 200));
    }
    if (route == "join" && status == 200) {
      const Json json = Json::parse(response.body(), nullptr, false);
      if (json.is_object() && json.contains("ticket") && json["ticket"].is_string()) {
        ticket = json["ticket"].get<std::string>();
      }
    }
    if (!response.keep_alive()) {
      connection.stream.socket().close(error);
      connection.connected = false;
    }
  }
  for (auto& connection : connections) {
    if (connection->connected) {
      connection->stream.socket().shutdown(tcp::socket::shutdown_both, error);
    }
  }
  ++stats.clients_done;
}

}  // namespace

void LoadStats::fail(std::string error) {
  ++failures;
  std::lock_guard lock(mutex);
  if (errors.size() < 10) errors.push_back(std::move(error));
}

std::string LoadStats::describe_errors() {
  std::lock_guard lock(mutex);
  std::string text;
  for (const auto& error : errors) text += "\n  " + error;
  return text;
}

void run_load(const std::vector<tcp::endpoint>& servers, const LoadOptions& options,
              LoadStats& stats) {
  asio::io_context io;
  for (int i = 0; i < options.clients; ++i) {
    asio::co_spawn(
        io,
        run_client(servers, options.id_prefix + std::to_string(i),
                   options.seed * 1000003u + static_cast<std::uint64_t>(i), options, stats),
        asio::detached);
  }
  io.run();
}

std::string check_snapshot(const Json& metrics, const Json& users, int cap) {
  if (!metrics.is_object()) return "metrics not JSON: " + metrics.dump();
  const int active = metrics.value("active_users", -1);
  const int draft = metrics.value("draft_users", -1);
  if (active < 0 || draft < 0) return "metrics without counts: " + metrics.dump();
  if (active + draft > cap) return "metrics over the cap: " + metrics.dump();
  if (!users.is_object()) return "get_users not JSON";
  std::set<std::string> seen;
  std::size_t holders = 0;
  for (const char* list : {"waiting_users", "draft_users", "active_users"}) {
    for (const auto& id : users.value(list, Json::array())) {
      if (!seen.insert(id.get<std::string>()).second) {
        return "user " + id.dump() + " listed twice (" + list + ")";
      }
    }
    if (std::string(list) != "waiting_users") holders += users.value(list, Json::array()).size();
  }
  if (holders > static_cast<std::size_t>(cap)) {
    return "get_users over the cap: " + std::to_string(holders);
  }
  return {};
}

InvariantMonitor::InvariantMonitor(std::vector<std::uint16_t> ports, int cap) {
  thread_ = std::thread([this, ports = std::move(ports), cap] {
    std::vector<std::unique_ptr<HttpClient>> observers;
    for (const auto port : ports) observers.push_back(std::make_unique<HttpClient>(port));
    try {
      for (std::size_t i = 0; !done_.load(); ++i) {
        auto& observer = *observers[i % observers.size()];
        const Json metrics = observer.metrics().json();
        const Json users = observer.get("/queue/get_users", bearer(kAdminToken)).json();
        const std::string violation = check_snapshot(metrics, users, cap);
        if (!violation.empty()) {
          std::lock_guard lock(mutex_);
          if (violations_.size() < 10) violations_.push_back(violation);
        }
        ++snapshots_;
      }
    } catch (const std::exception& error) {
      std::lock_guard lock(mutex_);
      violations_.push_back(std::string("monitor request failed: ") + error.what());
    }
  });
}

InvariantMonitor::~InvariantMonitor() {
  stop();
}

void InvariantMonitor::stop() {
  done_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string InvariantMonitor::violations() const {
  std::lock_guard lock(mutex_);
  std::string text;
  for (const auto& violation : violations_) text += "\n  " + violation;
  return text;
}

}  // namespace waitroom::test
