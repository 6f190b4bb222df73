// Checks the integration harness itself, without the waitroom server: ServerProcess
// against small shell scripts (ready line, start failure with stderr, start deadline,
// SIGTERM, kill -9), and HttpClient, RawConnection, SseStream and WsClient against a tiny
// Beast server defined here (keep-alive, chunked SSE split across chunks, keepalive
// comments, refusals, WebSocket frames).
#include <array>
#include <atomic>
#include <csignal>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "harness/http_client.hpp"
#include "harness/push_stream.hpp"
#include "harness/server_process.hpp"
#include "harness/temp_dir.hpp"

namespace waitroom::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

ProcessOptions shell(const TempDir& dir, std::string script) {
  ProcessOptions options;
  options.binary = "/bin/sh";
  options.args = {"-c", std::move(script)};
  options.stderr_file = dir.path() / "stderr.log";
  return options;
}

TEST(ServerProcessTest, ReadsThePortFromTheReadyLineAndStopsWithSigterm) {
  TempDir dir;
  ServerProcess process(shell(dir,
                              "echo starting; echo 'waitroom listening on http://127.0.0.1:4321'; "
                              "exec sleep 60"));
  EXPECT_EQ(process.port(), 4321);
  EXPECT_TRUE(process.running());
  const ExitStatus status = process.stop();
  EXPECT_TRUE(status.signaled) << status.describe();
  EXPECT_EQ(status.signal, SIGTERM);
  EXPECT_FALSE(process.running());
}

TEST(ServerProcessTest, ReportsACleanExitOnSigterm) {
  TempDir dir;
  ServerProcess process(shell(dir,
                              "trap 'exit 0' TERM; "
                              "echo 'waitroom listening on http://127.0.0.1:1'; "
                              "while :; do sleep 0.05; done"));
  const ExitStatus status = process.stop(5000ms);
  EXPECT_TRUE(status.exited) << status.describe();
  EXPECT_EQ(status.code, 0);
}

TEST(ServerProcessTest, StartFailureCarriesStderrAndExitCode) {
  TempDir dir;
  try {
    ServerProcess process(shell(dir, "echo 'boom: bad flag' >&2; exit 3"));
    FAIL() << "expected the start to fail";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("boom: bad flag"), std::string::npos) << message;
    EXPECT_NE(message.find("exited with code 3"), std::string::npos) << message;
  }
}

TEST(ServerProcessTest, StartDeadline) {
  TempDir dir;
  auto options = shell(dir, "echo 'not yet' >&2; exec sleep 60");
  options.start_timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_THROW(ServerProcess process(std::move(options)), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(ServerProcessTest, Kill9) {
  TempDir dir;
  ServerProcess process(
      shell(dir, "echo 'waitroom listening on http://127.0.0.1:7'; exec sleep 60"));
  const ExitStatus status = process.kill9();
  EXPECT_TRUE(status.signaled);
  EXPECT_EQ(status.signal, SIGKILL);
}

// A tiny server: one thread per connection, plain blocking Beast.
class TinyServer {
 public:
  TinyServer() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~TinyServer() {
    // A blocking accept() is not interrupted by closing the acceptor: wake it up.
    stopping_ = true;
    boost::system::error_code ignored;
    tcp::socket waker(io_);
    waker.connect(acceptor_.local_endpoint(), ignored);
    thread_.join();
    waker.close(ignored);
    for (auto& session : sessions_) session.join();
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  void accept_loop() {
    while (!stopping_) {
      tcp::socket socket(io_);
      boost::system::error_code error;
      acceptor_.accept(socket, error);
      if (error || stopping_) return;
      ++connections_;
      sessions_.emplace_back(
          [this, socket = std::move(socket)]() mutable { serve(std::move(socket)); });
    }
  }

  static void serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    boost::system::error_code error;
    for (;;) {
      http::request<http::string_body> request;
      http::read(socket, buffer, request, error);
      if (error) return;
      if (websocket::is_upgrade(request)) {
        if (request[http::field::authorization] != "Bearer good") {
          http::response<http::string_body> refusal{http::status::unauthorized, 11};
          refusal.body() = R"({"detail":"no"})";
          refusal.prepare_payload();
          http::write(socket, refusal, error);
          return;
        }
        websocket::stream<tcp::socket> ws(std::move(socket));
        ws.accept(request, error);
        if (error) return;
        ws.text(true);
        ws.write(asio::buffer(std::string(R"({"status":"waiting","position":1})")), error);
        ws.write(asio::buffer(std::string(R"({"status":"draft"})")), error);
        beast::flat_buffer sink;
        ws.read(sink, error);  // until the client goes away
        return;
      }
      const std::string target(request.target());
      if (target == "/sse") {
        const std::string head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n";
        const auto chunk = [](std::string_view data) {
          char size[32];
          std::snprintf(size, sizeof size, "%zx\r\n", data.size());
          return std::string(size) + std::string(data) + "\r\n";
        };
        std::string body = head + chunk(": keepalive\n\n") + chunk("data: {\"n\":1}\n\n") +
                           chunk("event: update\r\ndata: {\"n\"") + chunk(":2}\r\n\r\n") +
                           chunk(": keepalive\n\n");
        asio::write(socket, asio::buffer(body), error);
        std::array<char, 16> sink{};
        socket.read_some(asio::buffer(sink), error);  // until the client goes away
        return;
      }
      http::response<http::string_body> response{http::status::ok, request.version()};
      response.set(http::field::content_type, "application/json");
      if (target == "/sse-refused") {
        response.result(http::status::unauthorized);
        response.body() = R"({"detail":"missing ticket"})";
      } else if (target == "/close") {
        response.body() = R"({"bye":true})";
        response.keep_alive(false);
      } else {
        response.body() = nlohmann::json{
            {"target", target},
            {"method", std::string(request.method_string())},
            {"body",
             request.body()}}.dump();
        response.keep_alive(request.keep_alive());
      }
      response.prepare_payload();
      http::write(socket, response, error);
      if (error || !response.keep_alive()) return;
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::vector<std::thread> sessions_;
};

TEST(HttpClientTest, KeepAliveJsonAndReconnect) {
  TinyServer server;
  HttpClient client(server.port());
  const auto first = client.post("/queue/join/u1", "", bearer("t"));
  ASSERT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(first.json()["target"], "/queue/join/u1");
  EXPECT_EQ(first.json()["method"], "POST");
  EXPECT_EQ(first.header("content-type"), "application/json");
  const auto second = client.status("a b/c");
  EXPECT_EQ(second.json()["target"], "/queue/status/a%20b%2Fc");
  EXPECT_EQ(client.connections_opened(), 1);
  EXPECT_EQ(client.get("/close").status, 200);
  EXPECT_EQ(client.get("/again").status, 200);
  EXPECT_EQ(client.connections_opened(), 2);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClientTest, RawConnectionSeesTheClose) {
  TinyServer server;
  RawConnection raw(server.port());
  ASSERT_TRUE(raw.send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(raw.read_until_closed(5s), RawConnection::ReadOutcome::closed);
  EXPECT_NE(raw.received().find("200 OK"), std::string::npos) << raw.received();
  RawConnection idle(server.port());
  EXPECT_EQ(idle.read_until_closed(100ms), RawConnection::ReadOutcome::timed_out);
}

TEST(SseStreamTest, ParsesChunkedEventsAndComments) {
  TinyServer server;
  auto stream = SseStream::open_target(server.port(), "/sse");
  ASSERT_EQ(stream->status(), 200);
  auto first = stream->next_message(5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->json, nlohmann::json({{"n", 1}}));
  auto second = stream->next_message(5s);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->json, nlohmann::json({{"n", 2}}));
  EXPECT_EQ(second->event, "update");
  // Nothing else comes: the wait ends at its deadline, and the stream stays usable.
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(stream->next_event(200ms));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 190ms);
  EXPECT_EQ(stream->comments_seen(), 2);
}

TEST(SseStreamTest, RefusalKeepsTheAnswer) {
  TinyServer server;
  auto stream = SseStream::open_target(server.port(), "/sse-refused");
  EXPECT_EQ(stream->status(), 401);
  EXPECT_FALSE(stream->is_open());
  EXPECT_EQ(stream->response().json()["detail"], "missing ticket");
  EXPECT_FALSE(stream->next_event(10ms));
}

TEST(WsClientTest, ReceivesFramesAndSeesRefusals) {
  TinyServer server;
  WsClient ws(server.port(), "u1", bearer("good"));
  ASSERT_TRUE(ws.is_open());
  EXPECT_EQ(ws.status(), 101);
  auto draft = ws.wait_for(has_status("draft"), 5s);
  ASSERT_TRUE(draft);
  ASSERT_EQ(ws.skipped().size(), 1u);
  EXPECT_EQ(ws.skipped()[0]["position"], 1);
  WsClient refused(server.port(), "u1", bearer("bad"));
  EXPECT_FALSE(refused.is_open());
  EXPECT_EQ(refused.status(), 401);
}

}  // namespace
}  // namespace waitroom::test
