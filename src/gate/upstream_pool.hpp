// Connections to the upstream, kept alive between requests.
//
// acquire() hands out an idle connection when there is a live one, else connects (the
// connect is bounded by connect_timeout, so a dead upstream fails fast with a 502); a
// connection is used by one exchange at a time and given back with release() only after
// a complete response that allows keep-alive. Idle connections are bounded in number and
// age: an idle one older than idle_timeout is closed instead of reused, since upstream
// servers close theirs after a few seconds (uvicorn, which runs Open WebUI: 5 s) and a
// request written into a connection the server is closing is lost. A connection the
// upstream has already closed is noticed before reuse (a non-blocking peek).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/time.hpp"

namespace waitroom::gate {

struct PoolOptions {
  std::string host;
  std::uint16_t port = 0;
  Duration connect_timeout = std::chrono::seconds{5};
  std::size_t max_idle = 64;
  Duration idle_timeout = std::chrono::seconds{4};
};

class UpstreamPool {
 public:
  UpstreamPool(const Clock& clock, PoolOptions options);

  struct Lease {
    std::unique_ptr<boost::beast::tcp_stream> stream;  // null on failure
    bool reused = false;
    boost::system::error_code error;
  };
  // An idle connection (when `allow_reuse`), else a new one; on failure, `error`.
  boost::asio::awaitable<Lease> acquire(bool allow_reuse = true);
  void release(std::unique_ptr<boost::beast::tcp_stream> stream);

 private:
  struct Idle {
    std::unique_ptr<boost::beast::tcp_stream> stream;
    TimePoint since;
  };
  const Clock& clock_;
  PoolOptions options_;
  mutable std::mutex mutex_;
  std::vector<Idle> idle_;
};

}  // namespace waitroom::gate
