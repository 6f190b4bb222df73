#include "gate/gate_fixture.hpp"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdlib>
#include <sstream>

#include "harness/io_deadline.hpp"

namespace waitroom::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

std::filesystem::path upstream_dir() {
  return WAITROOM_UPSTREAM_DIR;
}

std::filesystem::path find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::optional<CommandResult> run_command(const std::vector<std::string>& args,
                                         std::chrono::milliseconds timeout) {
  int out[2];
  if (::pipe(out) != 0) return std::nullopt;
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fd{out[0], POLLIN, 0};
    if (::poll(&fd, 1, int(left.count())) <= 0) continue;
    char chunk[4096];
    const auto n = ::read(out[0], chunk, sizeof chunk);
    if (n <= 0) break;
    result.output.append(chunk, std::size_t(n));
  }
  ::close(out[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (timed_out) return std::nullopt;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

UpstreamApp::UpstreamApp(const std::filesystem::path& stderr_file) {
  ProcessOptions options;
  options.binary = find_program("node");
  if (options.binary.empty()) throw std::runtime_error("node is not on PATH");
  options.args = {(upstream_dir() / "server.js").string()};
  options.stderr_file = stderr_file;
  options.ready_prefix = "upstream listening on http://127.0.0.1:";
  process_ = std::make_unique<ServerProcess>(std::move(options));
}

void GateTest::SetUp() {
  if (!std::filesystem::exists(upstream_dir() / "node_modules")) {
    // The ctest fixture gate_upstream_npm_ci installs them; a skip here would hide the gate's
    // tests on a fresh clone.
    FAIL() << "test/upstream/node_modules is missing (scripts/npm-ci.sh installs it)";
  }
  upstream_ = std::make_unique<UpstreamApp>(upstream_dir_.path() / "upstream-stderr.log");
}

void GateTest::TearDown() {
  WaitroomTest::TearDown();
  upstream_.reset();
}

void GateTest::start_gate(std::vector<std::string> args) {
  std::vector<std::string> all = {"--upstream", upstream_->url(), "--admin-token", kAdminToken};
  all.insert(all.end(), args.begin(), args.end());
  start_server(std::move(all));
}

std::string GateTest::admit(const std::string& user_id) {
  const auto joined = client().post(std::string(kPrefix) + "/queue/join/" + user_id);
  EXPECT_EQ(joined.status, 200) << joined.describe();
  const std::string value = "waitroom_ticket=" + ticket_of(joined);
  const auto confirmed =
      client().post(std::string(kPrefix) + "/queue/confirm/" + user_id, {}, cookie(value));
  EXPECT_EQ(confirmed.status, 200) << confirmed.describe();
  return value;
}

void GateTest::kick(const std::string& user_id) {
  const auto kicked =
      client().post(std::string(kPrefix) + "/queue/admin/kick/" + user_id, {}, bearer(kAdminToken));
  EXPECT_EQ(kicked.status, 200) << kicked.describe();
}

// ---- RawWebSocket --------------------------------------------------------------------

struct RawWebSocket::Impl {
  asio::io_context io;
  websocket::stream<asio::ip::tcp::socket> ws{io};
  beast::flat_buffer buffer;
};

RawWebSocket::RawWebSocket(std::uint16_t port, const std::string& target, const Headers& headers)
    : impl_(std::make_unique<Impl>()) {
  auto& socket = impl_->ws.next_layer();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  auto connected = detail::run_with_deadline(impl_->io, socket, deadline, [&](auto handler) {
    socket.async_connect(endpoint,
                         [handler](boost::system::error_code ec) mutable { handler(ec, 0); });
  });
  if (connected.error || connected.timed_out) {
    error_ = "connect: " + connected.error.message();
    return;
  }
  impl_->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& r) {
    for (const auto& [name, value] : headers) r.set(name, value);
  }));
  websocket::response_type response;
  auto shaken = detail::run_with_deadline(impl_->io, socket, deadline, [&](auto handler) {
    impl_->ws.async_handshake(response, "127.0.0.1:" + std::to_string(port), target,
                              [handler](boost::system::error_code ec) mutable { handler(ec, 0); });
  });
  if (shaken.error || shaken.timed_out) {
    error_ =
        "handshake: " + (shaken.timed_out ? std::string("timed out") : shaken.error.message()) +
        " (status " + std::to_string(response.result_int()) + ")";
    return;
  }
  open_ = true;
}

RawWebSocket::~RawWebSocket() {
  boost::system::error_code ignored;
  impl_->ws.next_layer().close(ignored);
}

bool RawWebSocket::send(const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  auto written = detail::run_with_deadline(
      impl_->io, impl_->ws.next_layer(), deadline,
      [&](auto handler) { impl_->ws.async_write(asio::buffer(text), handler); });
  return !written.error && !written.timed_out;
}

std::optional<std::string> RawWebSocket::receive(std::chrono::milliseconds timeout) {
  timed_out_ = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  impl_->buffer.clear();
  auto read = detail::run_with_deadline(
      impl_->io, impl_->ws.next_layer(), deadline,
      [&](auto handler) { impl_->ws.async_read(impl_->buffer, handler); });
  if (read.timed_out) {
    timed_out_ = true;
    return std::nullopt;
  }
  if (read.error) return std::nullopt;
  return beast::buffers_to_string(impl_->buffer.data());
}

}  // namespace waitroom::test
