// The binary encoding of the durable store's files: checksummed frames of compact records.
//
// Both files (the journal and the snapshot) are a fixed header followed by frames:
//
//   [u32 payload length][u32 CRC-32C of the payload][payload]     (little-endian)
//
// A journal frame is one commit: the store sequence it reached, then the records that one
// operation changed. A snapshot is a header frame (sequence, globals, releases), frames of
// user records, and a trailer frame that counts them, so that a truncated snapshot is
// detected even when it was cut exactly at a frame boundary.
//
// Records are tagged and encoded with LEB128 varints (zigzag for signed values and
// instants), and a user record writes only the fields that are not zero: a waiting user
// costs its id plus about 15 bytes, which keeps a 1,000,000-user snapshot near 30 MB and its
// decoding well inside the 2 s start-up budget (DESIGN.md §7). JSON would be three times
// larger and far slower to parse.
//
// Decoding never trusts the bytes: every read is bounds-checked, every enum is range-checked,
// and a malformed payload is reported, not asserted (STYLE.md, practice 3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "engine/engine.hpp"

namespace waitroom::store::codec {

// CRC-32C (Castagnoli), with the SSE4.2 instruction when the CPU has it.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);

constexpr std::size_t kFrameHeaderBytes = 8;
// No single commit or snapshot chunk is larger; a length beyond it is corruption.
constexpr std::uint32_t kMaxFramePayloadBytes = 256u << 20;

// File headers: 8 bytes of magic, u32 format version, u32 reserved (zero), u64 base LSN
// (journal: the LSN of the snapshot it follows, its first frame being base + 1; snapshot:
// the last LSN it contains), u32 CRC-32C of the 24 bytes before it.
constexpr std::string_view kJournalMagic{"WRJOURNL", 8};
constexpr std::string_view kSnapshotMagic{"WRSNAPSH", 8};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kFileHeaderBytes = 28;

std::string encode_file_header(std::string_view magic, std::uint64_t base_lsn);

struct FileHeader {
  std::uint32_t version = 0;
  std::uint64_t base_lsn = 0;
};
// Answers an empty string and fills `header`, or a description of what is wrong.
std::string decode_file_header(std::string_view bytes, std::string_view magic, FileHeader& header);

// Appends a frame around `payload` (which must already be in `out` from `payload_begin`):
// reserves the frame header first with begin_frame, then fills it with end_frame.
std::size_t begin_frame(std::string& out);
void end_frame(std::string& out, std::size_t frame_begin);

// Encoders append to `out`.
void encode_sequence(std::string& out, std::uint64_t store_sequence);
void encode_user(std::string& out, const engine::UserRecord& record);
void encode_globals(std::string& out, const engine::DurableGlobals& globals);
void encode_releases(std::string& out, std::span<const TimePoint> releases);
void encode_count(std::string& out, std::uint64_t users);
// One journal commit payload: the sequence, then every change.
void encode_commit(std::string& out, const engine::Changes& changes, std::uint64_t store_sequence);

// Receives decoded records in file order.
class DecodeTarget {
 public:
  virtual ~DecodeTarget() = default;
  virtual void on_sequence(std::uint64_t store_sequence) = 0;
  virtual void on_user(const engine::UserRecord& record) = 0;
  virtual void on_globals(const engine::DurableGlobals& globals) = 0;
  virtual void on_releases(std::span<const TimePoint> releases) = 0;
  virtual void on_count(std::uint64_t users) = 0;
};

// Decodes every record of one frame payload; answers an empty string or what is malformed.
std::string decode_payload(std::string_view payload, DecodeTarget& target);

}  // namespace waitroom::store::codec
