// One open notification stream (an SSE response or a WebSocket), as the Hub sees it.
//
// The Hub calls deliver() from whatever thread ran the store operation; the stream posts
// the message to its own strand and queues it there. Messages carry the store sequence
// of the change they describe, so that a stream can drop those older than the state it
// sent first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace waitroom::http {

class Stream {
 public:
  virtual ~Stream() = default;
  virtual void deliver(std::shared_ptr<const std::string> message, std::uint64_t sequence) = 0;
  // Whether it counts in open_streams (the waitroom_open_streams gauge). The gate's
  // per-user watchers (src/gate/traffic.hpp) listen without being a client's stream.
  virtual bool counted() const { return true; }
  // Ends the stream (from any thread): its client reconnects and reads its state afresh.
  virtual void drop() = 0;
};

}  // namespace waitroom::http
