// A Redis reply (RESP2) as plain data, converted from hiredis's redisReply tree so that no
// hiredis type leaks past the connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace waitroom::store::redis {

struct RedisReply {
  enum class Type : std::uint8_t { nil, integer, string, status, error, array };
  Type type = Type::nil;
  std::int64_t integer = 0;
  std::string text;  // string, status and error replies
  std::vector<RedisReply> elements;

  bool is_error() const { return type == Type::error; }
  bool is_nil() const { return type == Type::nil; }
  // The reply as an integer: an integer reply, or a string of digits (Lua numbers come
  // back as integers, HGET values as strings). nullopt for anything else.
  std::optional<std::int64_t> as_integer() const;
  // An element of an array reply, or a nil reply when out of range (never throws).
  const RedisReply& at(std::size_t index) const;
  std::size_t size() const { return elements.size(); }
  // Short text for logs and error messages.
  std::string describe() const;
};

// Reads the numbers of an answer that the engine packed as little-endian IEEE doubles
// (lua/prelude.lua, numbers): one pass, no allocation. Integers are exact up to 2^53.
class PackedReader {
 public:
  explicit PackedReader(std::string_view bytes = {}, std::size_t offset = 0)
      : bytes_(bytes), offset_(offset) {}
  // The next number; nullopt when none is left.
  std::optional<double> next();
  // The next number as an integer; nullopt when none is left or it is not a whole number
  // within ±2^53.
  std::optional<std::int64_t> next_integer();
  std::size_t remaining() const {
    return offset_ < bytes_.size() ? (bytes_.size() - offset_) / 8 : 0;
  }
  std::size_t offset() const { return offset_; }

 private:
  std::string_view bytes_;
  std::size_t offset_ = 0;
};

}  // namespace waitroom::store::redis
