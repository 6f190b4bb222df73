// Runs one asynchronous operation on a private io_context with a deadline, which is how
// the synchronous clients bound every read and write without sleeping or closing the
// socket: when the deadline passes first, the socket's pending operations are cancelled
// and the operation completes with operation_aborted.
#pragma once

#include <chrono>
#include <cstddef>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

namespace waitroom::test::detail {

struct OpResult {
  boost::system::error_code error;
  std::size_t bytes = 0;
  bool timed_out = false;
};

// `start(handler)` must start exactly one operation whose handler is
// void(error_code, std::size_t).
template <class Start>
OpResult run_with_deadline(boost::asio::io_context& io, boost::asio::ip::tcp::socket& socket,
                           std::chrono::steady_clock::time_point deadline, Start&& start) {
  OpResult result;
  bool done = false;
  boost::asio::steady_timer timer(io);
  timer.expires_at(deadline);
  start([&](boost::system::error_code error, std::size_t bytes) {
    done = true;
    result.error = error;
    result.bytes = bytes;
    timer.cancel();
  });
  timer.async_wait([&](boost::system::error_code error) {
    if (!error && !done) {
      result.timed_out = true;
      boost::system::error_code ignored;
      socket.cancel(ignored);
    }
  });
  io.restart();
  io.run();
  return result;
}

}  // namespace waitroom::test::detail
