// Checks forward-auth with a real nginx from Debian (auth_request), the deployment where
// nginx is the proxy and waitroom only decides: a fresh nginx on a free loopback port with
// its own config, pid and temp files (never the system service) in front of the node app,
// asking waitroom's {prefix}/authz for every request. Without a slot the visitor is sent
// to the waiting room; an admitted user reaches the app and the app learns the user id
// from X-Waitroom-User; once the session ends, nginx sends them back to the waiting room.
// Skipped when nginx is not installed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fstream>
#include <thread>

#include "gate/gate_fixture.hpp"

namespace waitroom::test {
namespace {

using namespace std::chrono_literals;

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

bool accepts_connections(std::uint16_t port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

class Nginx {
 public:
  Nginx(const std::filesystem::path& binary, const std::filesystem::path& dir, std::uint16_t port,
        std::uint16_t waitroom_port, std::uint16_t app_port)
      : port_(port) {
    const auto d = dir.string();
    const auto waitroom = "http://127.0.0.1:" + std::to_string(waitroom_port);
    std::ofstream(dir / "nginx.conf")
        << "daemon off;\nmaster_process off;\nworker_processes 1;\npid " << d << "/nginx.pid;\n"
        << "error_log " << d << "/error.log warn;\nevents { worker_connections 64; }\n"
        << "http {\n  access_log off;\n"
        << "  client_body_temp_path " << d << "/body;\n  proxy_temp_path " << d << "/proxy;\n"
        << "  fastcgi_temp_path " << d << "/fastcgi;\n  uwsgi_temp_path " << d << "/uwsgi;\n"
        << "  scgi_temp_path " << d << "/scgi;\n"
        << "  server {\n    listen 127.0.0.1:" << port
        << ";\n"
        // The README's configuration, with the test's ports.
        << "    location /_waitroom/ { proxy_pass " << waitroom << "; }\n"
        << "    location = /_waitroom/authz {\n      internal;\n      proxy_pass " << waitroom
        << ";\n      proxy_pass_request_body off;\n      proxy_set_header Content-Length \"\";\n"
        << "    }\n"
        << "    location / {\n      auth_request /_waitroom/authz;\n"
        << "      auth_request_set $waitroom_user $upstream_http_x_waitroom_user;\n"
        << "      proxy_set_header X-Waitroom-User $waitroom_user;\n"
        << "      error_page 401 = @waiting_room;\n"
        << "      proxy_pass http://127.0.0.1:" << app_port << ";\n    }\n"
        << "    location @waiting_room { return 302 /_waitroom/; }\n  }\n}\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string conf = (dir / "nginx.conf").string();
      const std::string error_log = (dir / "startup-error.log").string();
      ::execl(binary.c_str(), binary.c_str(), "-p", d.c_str(), "-e", error_log.c_str(), "-c",
              conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // nginx prints nothing once it listens: poll the port, bounded.
    for (int i = 0; i < 250 && !accepts_connections(port); ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  ~Nginx() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  bool running() const { return pid_ > 0 && accepts_connections(port_); }

 private:
  std::uint16_t port_;
  pid_t pid_ = -1;
};

TEST_F(GateTest, NginxAuthRequestUsesForwardAuth) {
  std::filesystem::path nginx = "/usr/sbin/nginx";
  if (!std::filesystem::exists(nginx)) nginx = find_program("nginx");
  ASSERT_FALSE(nginx.empty()) << "nginx is not installed (scripts/install-deps.sh installs it)";
  start_server({"--prefix", "/_waitroom", "--admin-token", kAdminToken});
  TempDir dir("waitroom-nginx");
  const auto nginx_port = free_port();
  Nginx proxy(nginx, dir.path(), nginx_port, port(), upstream().port());
  ASSERT_TRUE(proxy.running()) << "nginx did not start; see " << dir.path();
  HttpClient through(nginx_port);

  auto refused = through.get("/echo");
  EXPECT_EQ(refused.status, 302) << refused.describe();
  EXPECT_EQ(refused.header("Location").value_or("").find("/_waitroom/") != std::string::npos, true);

  const auto me = cookie(admit("alice"));
  auto allowed = through.get("/echo", me);
  ASSERT_EQ(allowed.status, 200) << allowed.describe();
  bool user_seen = false;
  const auto echo = allowed.json();
  for (const auto& pair : echo["headers"]) {
    if (pair[0].get<std::string>() == "X-Waitroom-User" && pair[1].get<std::string>() == "alice") {
      user_seen = true;
    }
  }
  EXPECT_TRUE(user_seen) << allowed.body;
  // The waiting room's own API through the same nginx.
  EXPECT_EQ(through.get("/_waitroom/queue/status/alice").json()["status"], "connected");

  kick("alice");
  EXPECT_EQ(through.get("/echo", me).status, 302);
}

}  // namespace
}  // namespace waitroom::test
