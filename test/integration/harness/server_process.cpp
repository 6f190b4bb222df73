#include "harness/server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace waitroom::test {
namespace {

using Clock = std::chrono::steady_clock;

// Variables the server reads (DESIGN.md §6, API-CONTRACT.md); a developer's shell must
// not leak them into a test's server.
constexpr std::array kScrubbedEnvironment = {"MAX_ACTIVE_USERS",
                                             "SESSION_DURATION",
                                             "DRAFT_DURATION",
                                             "IDLE_TIMEOUT",
                                             "PRESENCE_TIMEOUT",
                                             "MAX_DRAFT_MISSES",
                                             "EXPIRING_SOON",
                                             "REQUEUE_POLICY",
                                             "SESSION_RENEWAL",
                                             "AUTH_MODE",
                                             "WAITROOM_CONFIG",
                                             "REDIS_HOST",
                                             "REDIS_PORT",
                                             "REDIS_DB",
                                             "ADMIN_TOKEN",
                                             "API_KEY",
                                             "DISCONNECTED_RETENTION"};

std::vector<std::string> child_environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> result;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const auto equals = text.find('=');
    const std::string name(text.substr(0, equals));
    bool scrubbed = extra.contains(name);
    for (const char* variable : kScrubbedEnvironment) scrubbed = scrubbed || name == variable;
    if (!scrubbed) result.emplace_back(text);
  }
  for (const auto& [name, value] : extra) result.push_back(name + "=" + value);
  return result;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& text : strings) result.push_back(text.data());
  result.push_back(nullptr);
  return result;
}

ExitStatus from_wait_status(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signaled = true;
    result.signal = WTERMSIG(status);
  }
  return result;
}

// Waits for `pid` to end, up to `timeout`, without polling: a pidfd becomes readable
// when the process exits.
std::optional<ExitStatus> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  const pid_t done = ::waitpid(pid, &status, WNOHANG);
  if (done == pid) return from_wait_status(status);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    throw std::system_error(errno, std::generic_category(), "pidfd_open");
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd entry{pidfd, POLLIN, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(std::max<long>(0, left.count())));
    if (ready < 0 && errno == EINTR) continue;
    break;
  }
  ::close(pidfd);
  if (::waitpid(pid, &status, WNOHANG) == pid) return from_wait_status(status);
  return std::nullopt;
}

}  // namespace

std::string ExitStatus::describe() const {
  if (exited) return "exited with code " + std::to_string(code);
  if (signaled)
    return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return "unknown exit status";
}

ServerProcess::ServerProcess(ProcessOptions options) : options_(std::move(options)) {
  std::vector<std::string> argv_strings{options_.binary.string()};
  argv_strings.insert(argv_strings.end(), options_.args.begin(), options_.args.end());
  std::vector<std::string> env_strings = child_environment(options_.env);
  std::vector<char*> argv = pointers(argv_strings);
  std::vector<char*> envp = pointers(env_strings);

  const int stderr_fd =
      ::open(options_.stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (stderr_fd < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "open " + options_.stderr_file.string());
  }
  std::array<int, 2> out{};
  if (::pipe2(out.data(), O_CLOEXEC) != 0) {
    ::close(stderr_fd);
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(stderr_fd);
    ::close(out[0]);
    ::close(out[1]);
    throw std::system_error(errno, std::generic_category(), "fork");
  }
  if (pid_ == 0) {
    // Child: only async-signal-safe calls until execve.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::setpgid(0, 0);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(stderr_fd, STDERR_FILENO);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    constexpr char message[] = "harness: execve failed\n";
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  ::close(stderr_fd);
  ::close(out[1]);
  stdout_fd_ = out[0];
  try {
    read_ready_line();
  } catch (...) {
    kill9();
    if (stdout_drain_.joinable()) stdout_drain_.join();
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    throw;
  }
}

void ServerProcess::read_ready_line() {
  const auto deadline = Clock::now() + options_.start_timeout;
  std::string buffer;
  for (;;) {
    const auto newline = buffer.find('\n');
    if (newline != std::string::npos) {
      const std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      {
        std::lock_guard lock(stdout_mutex_);
        stdout_text_ += line + "\n";
      }
      const auto at = line.find(options_.ready_prefix);
      if (at != std::string::npos) {
        const std::string digits = line.substr(at + options_.ready_prefix.size());
        const int port = options_.known_port ? *options_.known_port : std::atoi(digits.c_str());
        if (port <= 0 || port > 65535) {
          throw std::runtime_error("bad ready line: " + line);
        }
        port_ = static_cast<std::uint16_t>(port);
        {
          std::lock_guard lock(stdout_mutex_);
          stdout_text_ += buffer;
        }
        break;
      }
      continue;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      throw std::runtime_error("server did not print its listening line within " +
                               std::to_string(options_.start_timeout.count()) + " ms; stdout:\n" +
                               stdout_text() + buffer + "\nstderr:\n" + stderr_text());
    }
    pollfd entry{stdout_fd_, POLLIN, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    std::array<char, 4096> chunk{};
    const ssize_t got = ::read(stdout_fd_, chunk.data(), chunk.size());
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const auto status = wait_for_exit(pid_, std::chrono::milliseconds{2000});
      if (status) exit_status_ = status;
      throw std::runtime_error(
          "server closed stdout before listening (" +
          (status ? status->describe() : std::string("still running")) + "); args:" +
          [&] {
            std::string joined;
            for (const auto& arg : options_.args) joined += " " + arg;
            return joined;
          }() +
          "\nstdout:\n" + stdout_text() + buffer + "\nstderr:\n" + stderr_text());
    }
    buffer.append(chunk.data(), static_cast<std::size_t>(got));
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  stdout_drain_ = std::thread([this] {
    std::array<char, 4096> chunk{};
    for (;;) {
      const ssize_t got = ::read(stdout_fd_, chunk.data(), chunk.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return;
      std::lock_guard lock(stdout_mutex_);
      if (stdout_text_.size() < (1u << 20)) {
        stdout_text_.append(chunk.data(), static_cast<std::size_t>(got));
      }
    }
  });
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exit_status_) kill9();
  if (stdout_drain_.joinable()) stdout_drain_.join();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

bool ServerProcess::running() {
  if (exit_status_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_status_ = from_wait_status(status);
    return false;
  }
  return true;
}

std::optional<ExitStatus> ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_status_) return exit_status_;
  exit_status_ = wait_for_exit(pid_, timeout);
  return exit_status_;
}

void ServerProcess::reap_blocking() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = from_wait_status(status);
}

ExitStatus ServerProcess::stop(std::chrono::milliseconds timeout) {
  if (exit_status_) return *exit_status_;
  ::kill(pid_, SIGTERM);
  if (auto status = wait_exit(timeout)) return *status;
  ::kill(pid_, SIGKILL);
  reap_blocking();
  ExitStatus result = *exit_status_;
  return result;
}

ExitStatus ServerProcess::kill9() {
  if (exit_status_) return *exit_status_;
  ::kill(pid_, SIGKILL);
  reap_blocking();
  return *exit_status_;
}

std::string ServerProcess::stderr_text(std::size_t max_bytes) const {
  std::ifstream file(options_.stderr_file, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  std::string all = text.str();
  if (all.size() > max_bytes) all = "[...]" + all.substr(all.size() - max_bytes);
  return all;
}

std::string ServerProcess::stdout_text() const {
  std::lock_guard lock(stdout_mutex_);
  return stdout_text_;
}

}  // namespace waitroom::test
