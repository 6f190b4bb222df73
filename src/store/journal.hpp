// The durable store's files: a redo journal of user records with group commit, periodic
// snapshots, and recovery (DESIGN.md §5, issue 4).
//
// The journal records state, not operations. After each operation the store takes the
// engine's changes (the final record of every user id that changed, and the globals) and
// appends them as one commit; replaying commits in order, last writer wins per user id,
// rebuilds the engine exactly. Touches and stream changes are not journaled (they only prove
// presence), which is why operations could not be replayed.
//
// Files in the data directory:
//   journal    header (magic, version, base LSN) + one frame per commit, append-only
//   snapshot   the whole state at some LSN, replaced atomically (temp file, fsync, rename)
//   LOCK       flock()ed for the life of the process: two servers never share a journal
// Each commit has an LSN, implicit from its place in the journal (base + 1, + 2, ...). A
// snapshot covers every LSN up to its own; recovery loads it, then replays the journal's
// commits above it. Compaction writes a snapshot at the last appended LSN and then starts a
// fresh journal whose base is that LSN; a crash between the two steps leaves an old journal
// whose commits at or below the snapshot's LSN are skipped.
//
// Group commit: append() only encodes and queues, under the caller's lock. One writer thread
// takes everything queued since its last flush, writes it with one write() and one
// fdatasync(), publishes the durable LSN, and completes every waiter at or below it on the
// waiter's own executor. While it syncs, new commits pile up for the next batch, so under load
// many operations share one fdatasync and the sync rate, not the operation rate, bounds the
// disk traffic.
//
// Recovery refuses what it cannot trust and repairs only what a crash can produce: a torn
// tail (an incomplete last frame, or a last frame whose CRC fails with nothing valid after
// it) is cut back to the last good frame with a warning; a bad magic or version, a bad frame
// followed by valid ones, or a frame that checks out but does not decode stop the start with
// a message that names the file and the offset, and the file is left untouched.
#pragma once

#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/error_code.hpp>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "engine/time.hpp"

namespace waitroom::store {

// Recovery refused to start: the message names the file and the byte offset.
class RecoveryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RecoveryReport {
  bool fresh = false;  // no files: a new data directory
  bool snapshot_found = false;
  bool journal_found = false;
  std::uint64_t snapshot_lsn = 0;  // LSN covered by the snapshot (0: none)
  std::uint64_t lsn = 0;           // last LSN recovered
  std::uint64_t store_sequence = 0;
  std::uint64_t snapshot_bytes = 0;
  std::uint64_t journal_bytes = 0;  // after any cut
  std::uint64_t journal_commits = 0;
  std::uint64_t cut_bytes = 0;  // torn tail removed from the journal
  std::size_t users = 0;
  std::vector<std::string> warnings;
};

// Rebuilds a fresh `engine` from the snapshot and journal in `dir` (restore_record +
// restore_finish; no advance), cutting a torn journal tail. Throws RecoveryError. With
// `repair` false a torn tail is reported as a warning but the file is not cut (inspection).
RecoveryReport recover(const std::filesystem::path& dir, engine::Engine& engine, TimePoint now,
                       bool repair = true);

struct JournalOptions {
  std::filesystem::path dir;
  // Compaction starts once the journal is larger than max(this, 2 x the last snapshot).
  std::uint64_t compact_min_bytes = std::uint64_t{64} << 20;
};

struct JournalStats {
  std::uint64_t commits = 0;  // appended
  std::uint64_t fsyncs = 0;   // journal fdatasyncs (one per group)
  std::uint64_t bytes = 0;    // journal bytes written
  std::uint64_t snapshots = 0;
  std::uint64_t journal_bytes = 0;  // current journal size
  std::uint64_t snapshot_bytes = 0;
};

class Journal {
 public:
  // Locks `options.dir` (creating it), recovers its files into `engine` as recover() does,
  // and starts the writer. Throws RecoveryError on a refused recovery or a locked directory.
  Journal(JournalOptions options, engine::Engine& engine, TimePoint now);
  // Writes and syncs everything appended, then stops the writer.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  const RecoveryReport& recovery() const { return recovery_; }

  // Queues one commit and answers its LSN. The caller serialises append and snapshot (the
  // store's mutex), so that LSN order is the order of the state changes.
  std::uint64_t append(const engine::Changes& changes, std::uint64_t store_sequence);
  // True when the journal has grown past its compaction threshold and no snapshot is queued.
  bool wants_snapshot() const;
  // Queues a snapshot of the whole engine as of the last appended LSN (same serialisation
  // as append). Encoding is O(N) and runs on the caller's thread; the file work does not.
  void snapshot(const engine::Engine& engine, std::uint64_t store_sequence);

  std::uint64_t appended_lsn() const;
  std::uint64_t durable_lsn() const { return durable_lsn_.load(std::memory_order_acquire); }
  // Set once a write or sync failed; every later wait completes with it.
  boost::system::error_code failure() const;
  JournalStats stats() const;

  // Called on the writer thread after each durable step, with the durable LSN; set before
  // the first append. Must not block for long: the next group waits for it.
  void on_durable(std::function<void(std::uint64_t durable_lsn)> callback);

  // Completes (on the handler's associated executor, never inline) once `lsn` is durable,
  // with an error if the journal failed. Signature: void(boost::system::error_code).
  template <class Token>
  auto async_wait_durable(std::uint64_t lsn, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, std::uint64_t lsn) {
          add_waiter(lsn, std::make_unique<WaiterOf<decltype(handler)>>(std::move(handler)));
        },
        token, lsn);
  }
  // Blocks the calling thread until `lsn` is durable (tests, shutdown paths).
  boost::system::error_code wait_durable_blocking(std::uint64_t lsn);
  // Blocks until everything queued so far, snapshots included, is on disk.
  boost::system::error_code sync();

 private:
  class Waiter {
   public:
    virtual ~Waiter() = default;
    virtual void complete(boost::system::error_code ec) = 0;
  };
  template <class Handler>
  class WaiterOf final : public Waiter {
   public:
    explicit WaiterOf(Handler handler)
        : handler_(std::move(handler)),
          // Keeps the waiter's io_context running until the handler is posted back to it.
          work_(boost::asio::prefer(boost::asio::get_associated_executor(handler_),
                                    boost::asio::execution::outstanding_work.tracked)) {}
    void complete(boost::system::error_code ec) override {
      auto work = std::move(work_);
      boost::asio::post(work, [handler = std::move(handler_), ec]() mutable { handler(ec); });
    }

   private:
    Handler handler_;
    std::decay_t<decltype(boost::asio::prefer(
        std::declval<boost::asio::associated_executor_t<Handler>>(),
        boost::asio::execution::outstanding_work.tracked))>
        work_;
  };

  // One unit of the writer's queue: frames to append, or a snapshot to install.
  struct Item {
    std::string frames;
    std::uint64_t last_lsn = 0;
    std::shared_ptr<std::string> snapshot;  // set: install this snapshot at last_lsn
  };

  void add_waiter(std::uint64_t lsn, std::unique_ptr<Waiter> waiter);
  void run_writer();
  void write_frames(const Item& item);
  void install_snapshot(const Item& item);
  void publish(std::uint64_t lsn);
  void fail(boost::system::error_code ec);
  void complete_waiters(std::uint64_t durable, boost::system::error_code ec);

  JournalOptions options_;
  int lock_fd_ = -1;
  int journal_fd_ = -1;
  RecoveryReport recovery_;

  mutable std::mutex mutex_;  // items_, next_lsn_, stopping_, failure_, waiters_, stats_
  std::condition_variable wake_;
  std::condition_variable durable_changed_;
  std::vector<Item> items_;
  std::uint64_t next_lsn_ = 1;
  bool stopping_ = false;
  bool snapshot_queued_ = false;
  bool writer_busy_ = false;
  boost::system::error_code failure_;
  // Waiters by LSN; completed in LSN order.
  std::multimap<std::uint64_t, std::unique_ptr<Waiter>> waiters_;
  JournalStats stats_;
  std::function<void(std::uint64_t)> on_durable_;

  std::atomic<std::uint64_t> durable_lsn_{0};
  std::atomic<std::uint64_t> journal_bytes_{0};
  std::atomic<std::uint64_t> snapshot_bytes_{0};
  std::thread writer_;
};

}  // namespace waitroom::store
