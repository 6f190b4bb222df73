// The waiting queue as an order-statistics tree keyed by ticket number.
//
// A waiting user's position is the number of tickets smaller than theirs plus one, so the
// queue is a balanced search tree whose nodes also count their subtree (GNU pb_ds's
// `tree_order_statistics_node_update`): insert, erase, head and position are all
// O(log N), and positions are 1..N with no gaps by construction. Tickets are signed so
// that the "front" requeue policy can hand out tickets smaller than every other one
// (counting down from zero) while joins count up from one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <functional>
#include <utility>

namespace waitroom::engine::detail {

using Ticket = std::int64_t;
using Slot = std::uint32_t;  // index of a user record in the engine's slab

class TicketQueue {
 public:
  // Returns false when the ticket is already queued (a bug in the caller).
  bool insert(Ticket ticket, Slot slot) { return tree_.insert({ticket, slot}).second; }
  bool erase(Ticket ticket) { return tree_.erase(ticket); }
  bool contains(Ticket ticket) const { return tree_.find(ticket) != tree_.end(); }

  // 1-based position of a queued ticket.
  std::uint64_t position(Ticket ticket) const { return tree_.order_of_key(ticket) + 1; }

  std::size_t size() const { return tree_.size(); }
  bool empty() const { return tree_.empty(); }
  // The head of the queue; the queue must not be empty.
  std::pair<Ticket, Slot> front() const { return *tree_.begin(); }
  // The entry at a 0-based index, for invariant checks.
  std::pair<Ticket, Slot> at(std::size_t index) const { return *tree_.find_by_order(index); }

  template <typename Visit>
  void for_each(Visit visit) const {
    for (const auto& [ticket, slot] : tree_) visit(ticket, slot);
  }

 private:
  __gnu_pbds::tree<Ticket, Slot, std::less<Ticket>, __gnu_pbds::rb_tree_tag,
                   __gnu_pbds::tree_order_statistics_node_update>
      tree_;
};

}  // namespace waitroom::engine::detail
