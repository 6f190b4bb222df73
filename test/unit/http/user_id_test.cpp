// Checks URL-decoding and validation of user ids taken from path segments.
#include <gtest/gtest.h>

#include "http/user_id.hpp"

namespace waitroom::http {
namespace {

TEST(UserId, AcceptsTheContractAlphabet) {
  EXPECT_TRUE(valid_user_id("u1", 64));
  EXPECT_TRUE(valid_user_id("A.b_c-d@e+f~9", 64));
  EXPECT_TRUE(valid_user_id(std::string(64, 'x'), 64));
}

TEST(UserId, RejectsEverythingElse) {
  EXPECT_FALSE(valid_user_id("", 64));
  EXPECT_FALSE(valid_user_id(std::string(65, 'x'), 64));
  EXPECT_FALSE(valid_user_id("a b", 64));
  EXPECT_FALSE(valid_user_id("a/b", 64));
  EXPECT_FALSE(valid_user_id("a\"b", 64));
  EXPECT_FALSE(valid_user_id("é", 64));
}

TEST(UserId, DecodesPercentEscapes) {
  std::string out;
  ASSERT_TRUE(url_decode("a%40b%2Bc+d", out));
  EXPECT_EQ(out, "a@b+c+d");
  EXPECT_FALSE(url_decode("a%4", out));
  EXPECT_FALSE(url_decode("a%zz", out));
  EXPECT_FALSE(url_decode("%", out));
}

TEST(UserId, DecodeUserIdValidatesAfterDecoding) {
  std::string scratch;
  EXPECT_EQ(decode_user_id("alice", 64, scratch), std::optional<std::string_view>("alice"));
  EXPECT_EQ(decode_user_id("a%40b", 64, scratch), std::optional<std::string_view>("a@b"));
  EXPECT_FALSE(decode_user_id("a%20b", 64, scratch));  // a space after decoding
  EXPECT_FALSE(decode_user_id("a%2Fb", 64, scratch));  // a slash after decoding
  EXPECT_FALSE(decode_user_id("a%0", 64, scratch));
}

}  // namespace
}  // namespace waitroom::http
