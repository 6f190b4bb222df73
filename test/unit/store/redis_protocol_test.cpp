// Checks the two ends of the Redis store's protocol that do not go through hiredis: the RESP
// encoding of commands (format_command, append_bulk: byte for byte what Redis expects,
// binary and empty arguments included), and the reading of the engine's packed answers
// (PackedReader: little-endian doubles, integers exact up to 2^53, nothing read past the
// end, fractions and out-of-range values refused as integers).
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>

#include "store/redis/redis_connection.hpp"
#include "store/redis/redis_reply.hpp"

namespace waitroom::store::redis {
namespace {

using namespace std::string_literals;

std::string packed(std::initializer_list<double> values) {
  std::string out;
  for (double value : values) {
    const auto bits = std::bit_cast<std::uint64_t>(value);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
  }
  return out;
}

TEST(RedisProtocol, CommandsAreEncodedAsArraysOfBulkStrings) {
  EXPECT_EQ(format_command({"GET", "k"}), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  EXPECT_EQ(format_command({"SET", "", "a\0\r\nb"s}),
            "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\na\0\r\nb\r\n"s);
  EXPECT_EQ(format_command({}), "*0\r\n");
  std::string big(1000, 'x');
  EXPECT_EQ(format_command({big}), "*1\r\n$1000\r\n" + big + "\r\n");
}

TEST(RedisProtocol, ArgumentsAppendOneByOne) {
  std::string out;
  append_array_header(out, 12);
  append_bulk(out, "FCALL");
  append_bulk(out, "");
  EXPECT_EQ(out, "*12\r\n$5\r\nFCALL\r\n$0\r\n\r\n");
}

TEST(RedisProtocol, PackedAnswersReadAsIntegersAndNumbers) {
  const std::string bytes = packed({1700000000123, -1, 0, 9007199254740992.0, 2.5});
  PackedReader reader(bytes);
  EXPECT_EQ(reader.remaining(), 5u);
  EXPECT_EQ(reader.next_integer(), 1700000000123);
  EXPECT_EQ(reader.next_integer(), -1);
  EXPECT_EQ(reader.next_integer(), 0);
  EXPECT_EQ(reader.next_integer(), 9007199254740992);
  EXPECT_EQ(reader.offset(), 32u);
  EXPECT_FALSE(reader.next_integer());  // 2.5 is no integer
  EXPECT_FALSE(reader.next());          // nothing past the end
  PackedReader at_offset(bytes, 8);
  EXPECT_EQ(at_offset.next(), -1.0);
}

TEST(RedisProtocol, MalformedPackedAnswersAreRefused) {
  const std::string truncated_bytes = packed({1, 2}).substr(0, 12);  // the reader only views it
  PackedReader truncated(truncated_bytes);
  EXPECT_EQ(truncated.next_integer(), 1);
  EXPECT_FALSE(truncated.next_integer());  // four bytes left: not a number
  EXPECT_FALSE(PackedReader(packed({1e300})).next_integer());
  EXPECT_FALSE(PackedReader(packed({std::bit_cast<double>(0x7FF8000000000000ull)})).next_integer());
  EXPECT_FALSE(PackedReader("").next());
  const std::string one = packed({1});
  PackedReader past_the_end(one, 16);
  EXPECT_FALSE(past_the_end.next());
  EXPECT_EQ(past_the_end.remaining(), 0u);
}

}  // namespace
}  // namespace waitroom::store::redis
