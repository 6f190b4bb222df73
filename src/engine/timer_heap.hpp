// The engine's timers: one binary min-heap of (deadline, sequence) entries with lazy
// invalidation.
//
// Each user has at most one live entry per timer kind; the user record remembers that
// entry's sequence number, and an entry whose sequence no longer matches is stale and is
// dropped when it surfaces. Deadlines that move later (a touch, a heartbeat) leave the
// old, earlier entry in place: when it pops, the engine re-checks the user's real deadline
// and pushes it again. That keeps touch and heartbeat O(1) instead of O(log N). The
// sequence number breaks ties between equal deadlines, so a run is reproducible.
//
// Stale entries would otherwise pile up (every state change leaves one behind), so the
// heap is rebuilt without them once it holds more than twice as many entries as there are
// live timers: amortised O(1) per push.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/time.hpp"

namespace waitroom::engine::detail {

enum class TimerKind : std::uint8_t {
  state,     // draft expiry, session expiry, or forgetting a disconnected record
  activity,  // idle timeout (connected) or presence timeout (waiting)
  warning,   // expiring-soon notice of a draft or session
};
constexpr std::size_t kTimerKinds = 3;

struct TimerEntry {
  TimePoint deadline;
  std::uint64_t sequence;
  std::uint32_t slot;
  TimerKind kind;
};

class TimerHeap {
 public:
  void push(const TimerEntry& entry) {
    heap_.push_back(entry);
    std::push_heap(heap_.begin(), heap_.end(), later);
  }
  // Adds many entries at once in O(N), for a restore.
  void push_all(const std::vector<TimerEntry>& entries) {
    heap_.insert(heap_.end(), entries.begin(), entries.end());
    std::make_heap(heap_.begin(), heap_.end(), later);
  }
  const TimerEntry& top() const { return heap_.front(); }
  void pop() {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
  }
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  const std::vector<TimerEntry>& entries() const { return heap_; }

  // Drops every entry for which `is_live` is false and restores the heap order.
  template <typename IsLive>
  void compact(IsLive is_live) {
    std::erase_if(heap_, [&](const TimerEntry& entry) { return !is_live(entry); });
    std::make_heap(heap_.begin(), heap_.end(), later);
  }

 private:
  // std heap functions build a max-heap; "later" as the ordering makes it a min-heap.
  static bool later(const TimerEntry& a, const TimerEntry& b) {
    if (a.deadline != b.deadline) return a.deadline > b.deadline;
    return a.sequence > b.sequence;
  }

  std::vector<TimerEntry> heap_;
};

}  // namespace waitroom::engine::detail
