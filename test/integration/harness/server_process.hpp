// Runs a real server binary as a child process, the way Redis's test suite does: start it,
// wait for the one line it prints once it listens, talk to it over the network, stop it.
//
// The child's stdout goes through a pipe (to find the "listening" line, then drained by a
// thread so that the child never blocks on a full pipe) and its stderr into a file, whose
// tail is put into every failure message. The child is put in its own process group and
// asked to die with us (PR_SET_PDEATHSIG), so that a test killed by ctest's timeout
// leaves no server behind; the destructor always kills and reaps it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace waitroom::test {

struct ProcessOptions {
  std::filesystem::path binary;
  std::vector<std::string> args;  // without argv[0]
  // Added to (or replacing in) the inherited environment; the seed's settings variables
  // are removed from the inherited environment first so that the machine running the
  // tests cannot change what they check.
  std::map<std::string, std::string> env;
  std::filesystem::path stderr_file;  // required
  std::string ready_prefix = "waitroom listening on http://127.0.0.1:";
  // A process told its port (redis-server): the ready line only says it is ready.
  std::optional<std::uint16_t> known_port;
  std::chrono::milliseconds start_timeout{15000};
};

// How a process ended, from waitpid.
struct ExitStatus {
  bool exited = false;  // normal exit: `code` is valid
  int code = -1;
  bool signaled = false;  // killed by `signal`
  int signal = 0;
  std::string describe() const;
};

class ServerProcess {
 public:
  // Starts the process and waits for the ready line; throws std::runtime_error (with the
  // captured stderr) when the process exits or the deadline passes first.
  explicit ServerProcess(ProcessOptions options);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running();

  // SIGTERM, then wait up to `timeout`; SIGKILL after that. Returns how it ended.
  ExitStatus stop(std::chrono::milliseconds timeout = std::chrono::milliseconds{10000});
  // SIGKILL at once (a crash), then reap.
  ExitStatus kill9();
  // Waits for the process to end by itself, up to `timeout`.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);

  // Everything the child wrote on stderr so far (its last `max_bytes`).
  std::string stderr_text(std::size_t max_bytes = 8192) const;
  std::string stdout_text() const;

 private:
  void read_ready_line();
  void reap_blocking();

  ProcessOptions options_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  std::optional<ExitStatus> exit_status_;

  mutable std::mutex stdout_mutex_;
  std::string stdout_text_;
  std::thread stdout_drain_;
};

}  // namespace waitroom::test
