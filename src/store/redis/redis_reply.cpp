// RedisReply helpers; see redis_reply.hpp.
#include "store/redis/redis_reply.hpp"

#include <bit>
#include <charconv>
#include <cmath>

namespace waitroom::store::redis {

std::optional<std::int64_t> RedisReply::as_integer() const {
  if (type == Type::integer) return integer;
  if (type != Type::string && type != Type::status) return std::nullopt;
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

const RedisReply& RedisReply::at(std::size_t index) const {
  static const RedisReply nil;
  return index < elements.size() ? elements[index] : nil;
}

std::optional<double> PackedReader::next() {
  if (remaining() == 0) return std::nullopt;
  std::uint64_t bits = 0;
  for (int i = 7; i >= 0; --i) {
    bits = (bits << 8) | static_cast<unsigned char>(bytes_[offset_ + static_cast<std::size_t>(i)]);
  }
  offset_ += 8;
  return std::bit_cast<double>(bits);
}

std::optional<std::int64_t> PackedReader::next_integer() {
  const auto value = next();
  constexpr double kLimit = 9007199254740992.0;  // 2^53
  if (!value || !(std::fabs(*value) <= kLimit) || std::trunc(*value) != *value) return std::nullopt;
  return static_cast<std::int64_t>(*value);
}

std::string RedisReply::describe() const {
  switch (type) {
    case Type::nil:
      return "(nil)";
    case Type::integer:
      return std::to_string(integer);
    case Type::string:
    case Type::status:
    case Type::error:
      return text.size() > 200 ? text.substr(0, 200) + "..." : text;
    case Type::array:
      return "(array of " + std::to_string(elements.size()) + ")";
  }
  return "?";
}

}  // namespace waitroom::store::redis
