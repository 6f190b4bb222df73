// The journal, the snapshot and recovery: see journal.hpp for the design.
//
// Files are read whole into memory at recovery (a snapshot of 1,000,000 users is about
// 30 MB, and the journal is compacted before it passes max(64 MiB, 2 x snapshot)), which
// keeps the parser a simple loop over a buffer. Every path that creates or replaces a file
// writes a temp file, fsyncs it, renames it into place and fsyncs the directory, so that a
// crash leaves either the old file or the new one, never a half-written one.
#include "store/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "store/journal_codec.hpp"

namespace waitroom::store {
namespace {

namespace fs = std::filesystem;

constexpr const char* kJournalName = "journal";
constexpr const char* kSnapshotName = "snapshot";
constexpr const char* kLockName = "LOCK";
// Users per snapshot frame: frames of about 1 MiB keep each CRC check cache-friendly.
constexpr std::size_t kUsersPerSnapshotFrame = 32 * 1024;
constexpr std::size_t kReleaseWindow = 32;

std::string errno_text(int error) {
  return std::strerror(error);
}

boost::system::error_code errno_code(int error) {
  return {error, boost::system::system_category()};
}

// Reads a whole file; false when it does not exist. Throws RecoveryError on I/O errors.
bool read_file(const fs::path& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    throw RecoveryError("cannot open " + path.string() + ": " + errno_text(errno));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    int error = errno;
    ::close(fd);
    throw RecoveryError("cannot stat " + path.string() + ": " + errno_text(error));
  }
  out.resize(static_cast<std::size_t>(info.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = n < 0 ? errno : EIO;
      ::close(fd);
      throw RecoveryError("cannot read " + path.string() + ": " + errno_text(error));
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return true;
}

// 0 or an errno.
int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

int sync_directory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int error = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return error;
}

// Writes `bytes` to dir/name atomically; answers an fd open for appending to the new file
// when `keep_open`, else -1. Throws std::system_error.
int replace_file(const fs::path& dir, const char* name, const std::string& bytes, bool keep_open) {
  fs::path temp = dir / (std::string(name) + ".tmp");
  fs::path target = dir / name;
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "create " + temp.string());
  int error = write_all(fd, bytes.data(), bytes.size());
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (error == 0 && ::rename(temp.c_str(), target.c_str()) != 0) error = errno;
  if (error == 0) error = sync_directory(dir);
  if (error != 0) {
    ::close(fd);
    throw std::system_error(error, std::generic_category(), "write " + target.string());
  }
  if (keep_open) return fd;
  ::close(fd);
  return -1;
}

// Feeds decoded records into a fresh engine.
class RestoreTarget final : public codec::DecodeTarget {
 public:
  explicit RestoreTarget(engine::Engine& engine) : engine_(engine) {}
  void on_sequence(std::uint64_t sequence) override {
    store_sequence = std::max(store_sequence, sequence);
  }
  void on_user(const engine::UserRecord& record) override {
    engine_.restore_record(record);
    ++records;
  }
  void on_globals(const engine::DurableGlobals& g) override { globals = g; }
  void on_releases(std::span<const TimePoint> more) override {
    releases.insert(releases.end(), more.begin(), more.end());
    if (releases.size() > kReleaseWindow)
      releases.erase(releases.begin(), releases.end() - kReleaseWindow);
  }
  void on_count(std::uint64_t users) override { counted = users; }

  std::uint64_t store_sequence = 0;
  std::uint64_t records = 0;
  std::optional<engine::DurableGlobals> globals;
  std::vector<TimePoint> releases;
  std::optional<std::uint64_t> counted;

 private:
  engine::Engine& engine_;
};

struct Frame {
  std::string_view payload;
  bool valid = false;
  const char* problem = nullptr;  // why it is not valid
};

std::uint32_t read_u32(const char* p) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= std::uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return value;
}

Frame frame_at(std::string_view file, std::size_t pos) {
  Frame frame;
  if (file.size() - pos < codec::kFrameHeaderBytes) {
    frame.problem = "incomplete frame header";
    return frame;
  }
  std::uint32_t size = read_u32(file.data() + pos);
  std::uint32_t crc = read_u32(file.data() + pos + 4);
  if (size == 0 || size > codec::kMaxFramePayloadBytes) {
    frame.problem = "impossible frame length";
    return frame;
  }
  if (size > file.size() - pos - codec::kFrameHeaderBytes) {
    frame.problem = "incomplete frame";
    return frame;
  }
  frame.payload = file.substr(pos + codec::kFrameHeaderBytes, size);
  if (codec::crc32c(frame.payload.data(), frame.payload.size()) != crc) {
    frame.problem = "checksum mismatch";
    return frame;
  }
  frame.valid = true;
  return frame;
}

// Whether any complete frame with a matching checksum starts after `pos`: what tells a torn
// tail (nothing valid after) from corruption in the middle of the journal.
std::optional<std::size_t> valid_frame_after(std::string_view file, std::size_t pos) {
  for (std::size_t at = pos + 1; at + codec::kFrameHeaderBytes <= file.size(); ++at) {
    std::uint32_t size = read_u32(file.data() + at);
    if (size == 0 || size > file.size() - at - codec::kFrameHeaderBytes) continue;
    if (frame_at(file, at).valid) return at;
  }
  return std::nullopt;
}

std::string where(const fs::path& path, std::size_t offset) {
  return path.string() + " at offset " + std::to_string(offset);
}

const char* kAdvice =
    "; the file was left untouched: restore it from a backup, or move it away to start "
    "with an empty state";

}  // namespace

RecoveryReport recover(const fs::path& dir, engine::Engine& engine, TimePoint now, bool repair) {
  RecoveryReport report;
  RestoreTarget target(engine);
  const fs::path snapshot_path = dir / kSnapshotName;
  const fs::path journal_path = dir / kJournalName;

  std::string bytes;
  if (read_file(snapshot_path, bytes)) {
    report.snapshot_found = true;
    report.snapshot_bytes = bytes.size();
    codec::FileHeader header;
    if (std::string error = codec::decode_file_header(bytes, codec::kSnapshotMagic, header);
        !error.empty())
      throw RecoveryError("refusing to start: " + where(snapshot_path, 0) + ": " + error + kAdvice);
    report.snapshot_lsn = header.base_lsn;
    // A queued user takes about 30 bytes; a slightly large index beats rehashing 20 times.
    engine.reserve(bytes.size() / 24);
    std::size_t pos = codec::kFileHeaderBytes;
    while (pos < bytes.size() && !target.counted) {
      Frame frame = frame_at(bytes, pos);
      if (!frame.valid)
        throw RecoveryError("refusing to start: " + where(snapshot_path, pos) + ": " +
                            frame.problem +
                            " (a snapshot is written atomically, so this is corruption)" + kAdvice);
      if (std::string error = codec::decode_payload(frame.payload, target); !error.empty())
        throw RecoveryError("refusing to start: " + where(snapshot_path, pos) + ": " + error +
                            kAdvice);
      pos += codec::kFrameHeaderBytes + frame.payload.size();
    }
    if (!target.counted || *target.counted != target.records || pos != bytes.size())
      throw RecoveryError("refusing to start: " + where(snapshot_path, pos) +
                          ": the snapshot is truncated or has trailing data" + kAdvice);
  }
  report.lsn = report.snapshot_lsn;

  if (read_file(journal_path, bytes)) {
    report.journal_found = true;
    codec::FileHeader header;
    if (std::string error = codec::decode_file_header(bytes, codec::kJournalMagic, header);
        !error.empty())
      throw RecoveryError("refusing to start: " + where(journal_path, 0) + ": " + error + kAdvice);
    if (header.base_lsn > report.snapshot_lsn)
      throw RecoveryError(
          "refusing to start: " + where(journal_path, 0) + ": the journal starts after LSN " +
          std::to_string(header.base_lsn) + " but the snapshot only reaches LSN " +
          std::to_string(report.snapshot_lsn) + " (a snapshot is missing)" + kAdvice);
    std::uint64_t lsn = header.base_lsn;
    std::size_t pos = codec::kFileHeaderBytes;
    while (pos < bytes.size()) {
      Frame frame = frame_at(bytes, pos);
      if (!frame.valid) {
        if (auto later = valid_frame_after(bytes, pos))
          throw RecoveryError("refusing to start: " + where(journal_path, pos) + ": " +
                              frame.problem + ", followed by a valid record at offset " +
                              std::to_string(*later) + " (corruption, not a torn write)" + kAdvice);
        report.cut_bytes = bytes.size() - pos;
        report.warnings.push_back("journal " + where(journal_path, pos) + ": torn tail (" +
                                  frame.problem + "), " + std::to_string(report.cut_bytes) +
                                  " bytes " + (repair ? "cut" : "would be cut") +
                                  " back to the last good record");
        break;
      }
      ++lsn;
      // Commits the snapshot already holds (a crash between snapshot and journal restart).
      if (lsn > report.snapshot_lsn) {
        if (std::string error = codec::decode_payload(frame.payload, target); !error.empty())
          throw RecoveryError("refusing to start: " + where(journal_path, pos) + ": " + error +
                              kAdvice);
        ++report.journal_commits;
      }
      pos += codec::kFrameHeaderBytes + frame.payload.size();
    }
    report.journal_bytes = pos;
    report.lsn = std::max(lsn, report.snapshot_lsn);
    if (report.cut_bytes > 0 && repair) {
      int fd = ::open(journal_path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(pos)) != 0 || ::fsync(fd) != 0) {
        int error = errno;
        if (fd >= 0) ::close(fd);
        throw RecoveryError("cannot cut the torn tail of " + where(journal_path, pos) + ": " +
                            errno_text(error));
      }
      ::close(fd);
    }
  } else if (report.snapshot_found) {
    report.warnings.push_back(journal_path.string() +
                              " is missing: starting from the snapshot alone");
  }

  report.fresh = !report.snapshot_found && !report.journal_found;
  report.store_sequence = target.store_sequence;
  if (!report.fresh) {
    engine::DurableGlobals globals = target.globals ? *target.globals : engine.durable_globals();
    if (std::string error = engine.restore_finish(globals, target.releases, now); !error.empty())
      throw RecoveryError("refusing to start: the state in " + dir.string() +
                          " is inconsistent: " + error + kAdvice);
  }
  report.users = engine.user_count();
  return report;
}

// ---- Journal --------------------------------------------------------------------------

Journal::Journal(JournalOptions options, engine::Engine& engine, TimePoint now)
    : options_(std::move(options)) {
  const fs::path& dir = options_.dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw RecoveryError("cannot create the data directory " + dir.string() + ": " + ec.message());
  const fs::path lock_path = dir / kLockName;
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0)
    throw RecoveryError("cannot open " + lock_path.string() + ": " + errno_text(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    throw RecoveryError("the data directory " + dir.string() +
                        " is in use by another waitroom process (" + lock_path.string() +
                        " is locked)");
  }
  try {
    recovery_ = recover(dir, engine, now, true);
    const fs::path journal_path = dir / kJournalName;
    if (!recovery_.journal_found) {
      std::string header = codec::encode_file_header(codec::kJournalMagic, recovery_.snapshot_lsn);
      journal_fd_ = replace_file(dir, kJournalName, header, true);
      recovery_.journal_bytes = header.size();
    } else {
      journal_fd_ = ::open(journal_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      if (journal_fd_ < 0)
        throw RecoveryError("cannot open " + journal_path.string() + ": " + errno_text(errno));
    }
  } catch (const std::system_error& e) {
    ::close(lock_fd_);
    throw RecoveryError(e.what());
  } catch (...) {
    ::close(lock_fd_);
    throw;
  }
  next_lsn_ = recovery_.lsn + 1;
  durable_lsn_ = recovery_.lsn;
  journal_bytes_ = recovery_.journal_bytes;
  snapshot_bytes_ = recovery_.snapshot_bytes;
  stats_.journal_bytes = recovery_.journal_bytes;
  stats_.snapshot_bytes = recovery_.snapshot_bytes;
  writer_ = std::thread([this] { run_writer(); });
}

Journal::~Journal() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  complete_waiters(UINT64_MAX, boost::asio::error::operation_aborted);
  if (journal_fd_ >= 0) ::close(journal_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::uint64_t Journal::append(const engine::Changes& changes, std::uint64_t store_sequence) {
  // Encode outside the journal's mutex: the caller already serialises appends.
  thread_local std::string frame;
  frame.clear();
  std::size_t begin = codec::begin_frame(frame);
  codec::encode_commit(frame, changes, store_sequence);
  codec::end_frame(frame, begin);
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    lsn = next_lsn_++;
    if (items_.empty() || items_.back().snapshot) items_.emplace_back();
    items_.back().frames.append(frame);
    items_.back().last_lsn = lsn;
    ++stats_.commits;
  }
  wake_.notify_one();
  return lsn;
}

bool Journal::wants_snapshot() const {
  std::uint64_t threshold = std::max(options_.compact_min_bytes, 2 * snapshot_bytes_.load());
  if (journal_bytes_.load(std::memory_order_relaxed) <= threshold) return false;
  std::lock_guard lock(mutex_);
  return !snapshot_queued_;
}

void Journal::snapshot(const engine::Engine& engine, std::uint64_t store_sequence) {
  auto bytes = std::make_shared<std::string>();
  std::string& out = *bytes;
  std::uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    lsn = next_lsn_ - 1;
  }
  out = codec::encode_file_header(codec::kSnapshotMagic, lsn);
  std::size_t begin = codec::begin_frame(out);
  codec::encode_sequence(out, store_sequence);
  codec::encode_globals(out, engine.durable_globals());
  codec::encode_releases(out, engine.recent_releases());
  codec::end_frame(out, begin);
  std::uint64_t users = 0;
  begin = codec::begin_frame(out);
  engine.for_each_record([&](const engine::UserRecord& record) {
    codec::encode_user(out, record);
    if (++users % kUsersPerSnapshotFrame == 0) {
      codec::end_frame(out, begin);
      begin = codec::begin_frame(out);
    }
  });
  codec::encode_count(out, users);
  codec::end_frame(out, begin);
  {
    std::lock_guard lock(mutex_);
    Item& item = items_.emplace_back();
    item.last_lsn = lsn;
    item.snapshot = std::move(bytes);
    snapshot_queued_ = true;
  }
  wake_.notify_one();
}

std::uint64_t Journal::appended_lsn() const {
  std::lock_guard lock(mutex_);
  return next_lsn_ - 1;
}

boost::system::error_code Journal::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

JournalStats Journal::stats() const {
  std::lock_guard lock(mutex_);
  JournalStats out = stats_;
  out.journal_bytes = journal_bytes_.load();
  out.snapshot_bytes = snapshot_bytes_.load();
  return out;
}

void Journal::on_durable(std::function<void(std::uint64_t)> callback) {
  std::lock_guard lock(mutex_);
  on_durable_ = std::move(callback);
}

void Journal::add_waiter(std::uint64_t lsn, std::unique_ptr<Waiter> waiter) {
  {
    std::lock_guard lock(mutex_);
    if (!failure_ && durable_lsn_.load() < lsn && !stopping_) {
      waiters_.emplace(lsn, std::move(waiter));
      return;
    }
  }
  // Already durable (or never will be): complete at once, still through the executor.
  waiter->complete(failure() ? failure()
                   : durable_lsn() >= lsn
                       ? boost::system::error_code{}
                       : boost::system::error_code{boost::asio::error::operation_aborted});
}

boost::system::error_code Journal::wait_durable_blocking(std::uint64_t lsn) {
  std::unique_lock lock(mutex_);
  durable_changed_.wait(lock, [&] { return failure_ || durable_lsn_.load() >= lsn || stopping_; });
  if (failure_) return failure_;
  if (durable_lsn_.load() >= lsn) return {};
  return boost::asio::error::operation_aborted;
}

boost::system::error_code Journal::sync() {
  std::unique_lock lock(mutex_);
  durable_changed_.wait(lock, [&] { return failure_ || (items_.empty() && !writer_busy_); });
  return failure_;
}

void Journal::run_writer() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !items_.empty(); });
    if (items_.empty()) break;  // stopping, and everything is written
    std::vector<Item> items = std::move(items_);
    items_.clear();
    bool failed = static_cast<bool>(failure_);
    writer_busy_ = true;
    lock.unlock();
    if (!failed) {
      for (const Item& item : items) {
        if (item.snapshot) {
          install_snapshot(item);
        } else {
          write_frames(item);
        }
      }
    }
    lock.lock();
    writer_busy_ = false;
    durable_changed_.notify_all();
  }
}

void Journal::write_frames(const Item& item) {
  if (int error = write_all(journal_fd_, item.frames.data(), item.frames.size()); error != 0)
    return fail(errno_code(error));
  if (::fdatasync(journal_fd_) != 0) return fail(errno_code(errno));
  journal_bytes_ += item.frames.size();
  {
    std::lock_guard lock(mutex_);
    ++stats_.fsyncs;
    stats_.bytes += item.frames.size();
  }
  publish(item.last_lsn);
}

void Journal::install_snapshot(const Item& item) {
  try {
    replace_file(options_.dir, kSnapshotName, *item.snapshot, false);
    // The snapshot holds every commit up to its LSN: start a journal that follows it.
    std::string header = codec::encode_file_header(codec::kJournalMagic, item.last_lsn);
    int fd = replace_file(options_.dir, kJournalName, header, true);
    ::close(journal_fd_);
    journal_fd_ = fd;
    journal_bytes_ = header.size();
    snapshot_bytes_ = item.snapshot->size();
    std::lock_guard lock(mutex_);
    ++stats_.snapshots;
    snapshot_queued_ = false;
  } catch (const std::system_error& e) {
    fail(boost::system::error_code{e.code().value(), boost::system::system_category()});
  }
}

void Journal::publish(std::uint64_t lsn) {
  std::function<void(std::uint64_t)> callback;
  {
    // Stored under the mutex so that wait_durable_blocking cannot miss the wake-up.
    std::lock_guard lock(mutex_);
    durable_lsn_.store(lsn, std::memory_order_release);
    callback = on_durable_;
  }
  durable_changed_.notify_all();
  if (callback) callback(lsn);
  complete_waiters(lsn, {});
}

void Journal::fail(boost::system::error_code ec) {
  {
    std::lock_guard lock(mutex_);
    if (!failure_) failure_ = ec;
  }
  durable_changed_.notify_all();
  complete_waiters(UINT64_MAX, ec);
}

void Journal::complete_waiters(std::uint64_t durable, boost::system::error_code ec) {
  std::vector<std::unique_ptr<Waiter>> ready;
  {
    std::lock_guard lock(mutex_);
    auto end = waiters_.upper_bound(durable);
    for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    waiters_.erase(waiters_.begin(), end);
  }
  for (auto& waiter : ready) waiter->complete(ec);
}

}  // namespace waitroom::store
