// The durable store's binary encoding: see journal_codec.hpp for the format.
//
// Tags and field bits are part of the on-disk format (version 1): never renumber them; a new
// field takes a new bit, and a reader that finds an unknown bit or tag refuses the file
// instead of silently dropping state.
#include "store/journal_codec.hpp"

#include <array>
#include <cstring>
#include <vector>

namespace waitroom::store::codec {
namespace {

// ---- CRC-32C ------------------------------------------------------------------------

constexpr std::uint32_t kCastagnoliReflected = 0x82F63B78u;

// Slicing-by-8 tables: eight bytes per step without the SSE4.2 instruction.
struct CrcTables {
  std::array<std::array<std::uint32_t, 256>, 8> table{};
  constexpr CrcTables() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t crc = i;
      for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kCastagnoliReflected : 0);
      table[0][i] = crc;
    }
    for (std::size_t i = 0; i < 256; ++i) {
      for (std::size_t t = 1; t < 8; ++t)
        table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFFu];
    }
  }
};
constexpr CrcTables kCrcTables;

std::uint32_t crc32c_portable(const unsigned char* p, std::size_t size, std::uint32_t crc) {
  const auto& t = kCrcTables.table;
  while (size >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    word ^= crc;
    crc = t[7][word & 0xFF] ^ t[6][(word >> 8) & 0xFF] ^ t[5][(word >> 16) & 0xFF] ^
          t[4][(word >> 24) & 0xFF] ^ t[3][(word >> 32) & 0xFF] ^ t[2][(word >> 40) & 0xFF] ^
          t[1][(word >> 48) & 0xFF] ^ t[0][word >> 56];
    p += 8;
    size -= 8;
  }
  while (size-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const unsigned char* p,
                                                             std::size_t size, std::uint32_t crc) {
  std::uint64_t crc64 = crc;
  while (size >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    crc64 = __builtin_ia32_crc32di(crc64, word);
    p += 8;
    size -= 8;
  }
  auto crc32 = static_cast<std::uint32_t>(crc64);
  while (size-- > 0) crc32 = __builtin_ia32_crc32qi(crc32, *p++);
  return crc32;
}
const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

// ---- varints ------------------------------------------------------------------------

void put_varint(std::string& out, std::uint64_t value) {
  char buffer[10];
  std::size_t n = 0;
  while (value >= 0x80) {
    buffer[n++] = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  buffer[n++] = static_cast<char>(value);
  out.append(buffer, n);
}

std::uint64_t zigzag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}
std::int64_t unzigzag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1);
}

void put_u32(std::string& out, std::uint32_t value) {
  char bytes[4];
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  out.append(bytes, 4);
}
void put_u64(std::string& out, std::uint64_t value) {
  put_u32(out, static_cast<std::uint32_t>(value));
  put_u32(out, static_cast<std::uint32_t>(value >> 32));
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= std::uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return value;
}
void set_u32(std::string& out, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i)
    out[at + static_cast<std::size_t>(i)] = static_cast<char>(value >> (8 * i));
}

void put_time(std::string& out, TimePoint t) {
  put_varint(out, zigzag(t.time_since_epoch().count()));
}
void put_duration(std::string& out, Duration d) {
  put_varint(out, zigzag(d.count()));
}

// A bounds-checked cursor over one payload; after a failed read it stays failed.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  bool ok() const { return ok_; }
  bool done() const { return p_ == end_; }

  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return fail();
      auto byte = static_cast<unsigned char>(*p_++);
      value |= std::uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80u) == 0) return value;
    }
    return fail();
  }
  std::int64_t signed_varint() { return unzigzag(varint()); }
  TimePoint time() { return TimePoint{Duration{signed_varint()}}; }
  Duration duration() { return Duration{signed_varint()}; }
  std::uint8_t byte() {
    if (p_ == end_) return static_cast<std::uint8_t>(fail());
    return static_cast<std::uint8_t>(*p_++);
  }
  std::uint32_t u32_varint() {
    std::uint64_t value = varint();
    if (value > UINT32_MAX) return static_cast<std::uint32_t>(fail());
    return static_cast<std::uint32_t>(value);
  }
  void text(std::string& out) {
    std::uint64_t size = varint();
    if (!ok_ || size > static_cast<std::uint64_t>(end_ - p_)) {
      fail();
      return;
    }
    out.assign(p_, static_cast<std::size_t>(size));
    p_ += size;
  }

 private:
  std::uint64_t fail() {
    ok_ = false;
    p_ = end_;
    return 0;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

// ---- record tags and user fields (on-disk format, version 1) --------------------------

enum Tag : std::uint8_t {
  kTagSequence = 1,
  kTagUser = 2,
  kTagForget = 3,
  kTagGlobals = 4,
  kTagReleases = 5,
  kTagCount = 6,
};

enum UserField : std::uint32_t {
  kDraftMisses = 1u << 0,
  kTicket = 1u << 1,
  kGeneration = 1u << 2,
  kJoinedAt = 1u << 3,
  kDeadline = 1u << 4,
  kTotalDuration = 1u << 5,
  kConfirmedAt = 1u << 6,
  kSessionStart = 1u << 7,
  kDisconnectedAt = 1u << 8,
  kStateTimer = 1u << 9,     // sequence, deadline
  kWarningTimer = 1u << 10,  // sequence, deadline
  kAllUserFields = (1u << 11) - 1,
};

constexpr std::uint8_t kStatusBits = 0x03;
constexpr std::uint8_t kReasonShift = 2;
constexpr std::uint8_t kReasonBits = 0x07;
constexpr std::uint8_t kWarnedBit = 1u << 5;
constexpr std::uint8_t kRenewedBit = 1u << 6;

// Clears a record but keeps its id's buffer: decoding a million records then allocates
// no id at all (each id is copied once, into the engine).
void reset(engine::UserRecord& record) {
  std::string id = std::move(record.id);
  record = engine::UserRecord{};
  id.clear();
  record.id = std::move(id);
}

bool zero(TimePoint t) {
  return t.time_since_epoch().count() == 0;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  crc = kHaveSse42 ? crc32c_sse42(p, size, crc) : crc32c_portable(p, size, crc);
#else
  crc = crc32c_portable(p, size, crc);
#endif
  return ~crc;
}

std::string encode_file_header(std::string_view magic, std::uint64_t base_lsn) {
  std::string out(magic);
  put_u32(out, kFormatVersion);
  put_u32(out, 0);
  put_u64(out, base_lsn);
  put_u32(out, crc32c(out.data(), out.size()));
  return out;
}

std::string decode_file_header(std::string_view bytes, std::string_view magic, FileHeader& header) {
  if (bytes.size() < kFileHeaderBytes) return "file header is incomplete";
  if (bytes.substr(0, magic.size()) != magic) return "not a waitroom file of this kind (bad magic)";
  header.version = get_u32(bytes.data() + 8);
  if (get_u32(bytes.data() + 24) != crc32c(bytes.data(), 24))
    return "file header checksum mismatch";
  if (header.version != kFormatVersion)
    return "format version " + std::to_string(header.version) +
           " is not supported (this build reads " + std::to_string(kFormatVersion) + ")";
  header.base_lsn =
      std::uint64_t{get_u32(bytes.data() + 16)} | (std::uint64_t{get_u32(bytes.data() + 20)} << 32);
  return {};
}

std::size_t begin_frame(std::string& out) {
  std::size_t at = out.size();
  out.append(kFrameHeaderBytes, '\0');
  return at;
}

void end_frame(std::string& out, std::size_t frame_begin) {
  std::size_t payload = frame_begin + kFrameHeaderBytes;
  auto size = static_cast<std::uint32_t>(out.size() - payload);
  set_u32(out, frame_begin, size);
  set_u32(out, frame_begin + 4, crc32c(out.data() + payload, size));
}

void encode_sequence(std::string& out, std::uint64_t store_sequence) {
  out.push_back(static_cast<char>(kTagSequence));
  put_varint(out, store_sequence);
}

void encode_user(std::string& out, const engine::UserRecord& r) {
  if (r.forgotten) {
    out.push_back(static_cast<char>(kTagForget));
    put_varint(out, r.id.size());
    out.append(r.id);
    return;
  }
  out.push_back(static_cast<char>(kTagUser));
  put_varint(out, r.id.size());
  out.append(r.id);
  auto flags = static_cast<std::uint8_t>(
      static_cast<std::uint8_t>(r.status) | (static_cast<std::uint8_t>(r.reason) << kReasonShift) |
      (r.warned ? kWarnedBit : 0) | (r.renewed ? kRenewedBit : 0));
  out.push_back(static_cast<char>(flags));
  std::uint32_t fields = 0;
  if (r.draft_misses != 0) fields |= kDraftMisses;
  if (r.ticket != 0) fields |= kTicket;
  if (r.generation != 0) fields |= kGeneration;
  if (!zero(r.joined_at)) fields |= kJoinedAt;
  if (!zero(r.deadline)) fields |= kDeadline;
  if (r.total_duration.count() != 0) fields |= kTotalDuration;
  if (!zero(r.confirmed_at)) fields |= kConfirmedAt;
  if (!zero(r.session_start)) fields |= kSessionStart;
  if (!zero(r.disconnected_at)) fields |= kDisconnectedAt;
  if (r.state_timer.sequence != 0) fields |= kStateTimer;
  if (r.warning_timer.sequence != 0) fields |= kWarningTimer;
  put_varint(out, fields);
  if (fields & kDraftMisses) put_varint(out, r.draft_misses);
  if (fields & kTicket) put_varint(out, zigzag(r.ticket));
  if (fields & kGeneration) put_varint(out, r.generation);
  if (fields & kJoinedAt) put_time(out, r.joined_at);
  if (fields & kDeadline) put_time(out, r.deadline);
  if (fields & kTotalDuration) put_duration(out, r.total_duration);
  if (fields & kConfirmedAt) put_time(out, r.confirmed_at);
  if (fields & kSessionStart) put_time(out, r.session_start);
  if (fields & kDisconnectedAt) put_time(out, r.disconnected_at);
  if (fields & kStateTimer) {
    put_varint(out, r.state_timer.sequence);
    put_time(out, r.state_timer.deadline);
  }
  if (fields & kWarningTimer) {
    put_varint(out, r.warning_timer.sequence);
    put_time(out, r.warning_timer.deadline);
  }
}

void encode_globals(std::string& out, const engine::DurableGlobals& g) {
  out.push_back(static_cast<char>(kTagGlobals));
  const engine::Settings& s = g.settings;
  put_varint(out, s.max_active_users);
  put_duration(out, s.session_duration);
  put_duration(out, s.draft_duration);
  put_duration(out, s.idle_timeout);
  put_duration(out, s.presence_timeout);
  put_varint(out, s.max_draft_misses);
  put_duration(out, s.expiring_soon);
  put_varint(out, static_cast<std::uint8_t>(s.requeue_policy));
  put_varint(out, s.session_renewal ? 1 : 0);
  put_duration(out, s.disconnected_retention);
  put_varint(out, g.paused ? 1 : 0);
  put_varint(out, zigzag(g.next_back_ticket));
  put_varint(out, zigzag(g.next_front_ticket));
  put_varint(out, g.next_generation);
  const engine::Counters& c = g.counters;
  for (std::uint64_t counter :
       {c.joins, c.drafts, c.admissions, c.leaves, c.kicks, c.draft_requeues, c.draft_timeouts,
        c.session_timeouts, c.idle_timeouts, c.abandoned})
    put_varint(out, counter);
  put_duration(out, g.total_wait);
  put_duration(out, g.total_session);
  put_varint(out, g.sessions_ended);
}

void encode_releases(std::string& out, std::span<const TimePoint> releases) {
  out.push_back(static_cast<char>(kTagReleases));
  put_varint(out, releases.size());
  for (TimePoint at : releases) put_time(out, at);
}

void encode_count(std::string& out, std::uint64_t users) {
  out.push_back(static_cast<char>(kTagCount));
  put_varint(out, users);
}

void encode_commit(std::string& out, const engine::Changes& changes, std::uint64_t store_sequence) {
  encode_sequence(out, store_sequence);
  for (const engine::UserRecord& record : changes.users) encode_user(out, record);
  if (changes.globals) encode_globals(out, *changes.globals);
  if (!changes.releases.empty()) encode_releases(out, changes.releases);
}

std::string decode_payload(std::string_view payload, DecodeTarget& target) {
  Reader in(payload);
  engine::UserRecord record;
  std::vector<TimePoint> releases;
  while (!in.done()) {
    std::uint8_t tag = in.byte();
    switch (tag) {
      case kTagSequence:
        target.on_sequence(in.varint());
        break;
      case kTagForget:
        reset(record);
        in.text(record.id);
        record.forgotten = true;
        if (!in.ok()) return "truncated forget record";
        target.on_user(record);
        break;
      case kTagUser: {
        reset(record);
        in.text(record.id);
        std::uint8_t flags = in.byte();
        if ((flags & kStatusBits) > static_cast<std::uint8_t>(engine::Status::disconnected) ||
            ((flags >> kReasonShift) & kReasonBits) >
                static_cast<std::uint8_t>(engine::Reason::abandoned) ||
            (flags & 0x80u) != 0)
          return "user record with an invalid status, reason or flag";
        record.status = static_cast<engine::Status>(flags & kStatusBits);
        record.reason = static_cast<engine::Reason>((flags >> kReasonShift) & kReasonBits);
        record.warned = (flags & kWarnedBit) != 0;
        record.renewed = (flags & kRenewedBit) != 0;
        std::uint64_t fields = in.varint();
        if ((fields & ~std::uint64_t{kAllUserFields}) != 0)
          return "user record with unknown fields";
        if (fields & kDraftMisses) record.draft_misses = in.u32_varint();
        if (fields & kTicket) record.ticket = in.signed_varint();
        if (fields & kGeneration) record.generation = in.varint();
        if (fields & kJoinedAt) record.joined_at = in.time();
        if (fields & kDeadline) record.deadline = in.time();
        if (fields & kTotalDuration) record.total_duration = in.duration();
        if (fields & kConfirmedAt) record.confirmed_at = in.time();
        if (fields & kSessionStart) record.session_start = in.time();
        if (fields & kDisconnectedAt) record.disconnected_at = in.time();
        if (fields & kStateTimer) {
          record.state_timer.sequence = in.varint();
          record.state_timer.deadline = in.time();
        }
        if (fields & kWarningTimer) {
          record.warning_timer.sequence = in.varint();
          record.warning_timer.deadline = in.time();
        }
        if (!in.ok()) return "truncated user record";
        if (record.id.empty()) return "user record without an id";
        target.on_user(record);
        break;
      }
      case kTagGlobals: {
        engine::DurableGlobals g;
        engine::Settings& s = g.settings;
        s.max_active_users = in.u32_varint();
        s.session_duration = in.duration();
        s.draft_duration = in.duration();
        s.idle_timeout = in.duration();
        s.presence_timeout = in.duration();
        s.max_draft_misses = in.u32_varint();
        s.expiring_soon = in.duration();
        std::uint64_t policy = in.varint();
        if (policy > static_cast<std::uint8_t>(engine::RequeuePolicy::front))
          return "globals with an invalid requeue policy";
        s.requeue_policy = static_cast<engine::RequeuePolicy>(policy);
        s.session_renewal = in.varint() != 0;
        s.disconnected_retention = in.duration();
        g.paused = in.varint() != 0;
        g.next_back_ticket = in.signed_varint();
        g.next_front_ticket = in.signed_varint();
        g.next_generation = in.varint();
        engine::Counters& c = g.counters;
        for (std::uint64_t* counter :
             {&c.joins, &c.drafts, &c.admissions, &c.leaves, &c.kicks, &c.draft_requeues,
              &c.draft_timeouts, &c.session_timeouts, &c.idle_timeouts, &c.abandoned})
          *counter = in.varint();
        g.total_wait = in.duration();
        g.total_session = in.duration();
        g.sessions_ended = in.varint();
        if (!in.ok()) return "truncated globals record";
        target.on_globals(g);
        break;
      }
      case kTagReleases: {
        std::uint64_t count = in.varint();
        if (count > payload.size()) return "releases record with an impossible count";
        releases.clear();
        for (std::uint64_t i = 0; i < count && in.ok(); ++i) releases.push_back(in.time());
        if (!in.ok()) return "truncated releases record";
        target.on_releases(releases);
        break;
      }
      case kTagCount:
        target.on_count(in.varint());
        break;
      default:
        return "unknown record tag " + std::to_string(tag);
    }
    if (!in.ok()) return "truncated record";
  }
  return {};
}

}  // namespace waitroom::store::codec
