#include "core/secret.hpp"

#include <gtest/gtest.h>

#include <string>

namespace netfence::core {
namespace {

TEST(SecretEquals, EqualAndUnequal) {
  EXPECT_TRUE(secret_equals("", ""));
  EXPECT_TRUE(secret_equals("hunter2", "hunter2"));
  EXPECT_FALSE(secret_equals("hunter2", "hunter3"));
  EXPECT_FALSE(secret_equals("hunter2", "Hunter2"));
  EXPECT_FALSE(secret_equals("hunter2", "hunter"));
  EXPECT_FALSE(secret_equals("hunter", "hunter2"));
  EXPECT_FALSE(secret_equals("", "x"));
  // A shorter input is not padded with NULs into a match.
  EXPECT_FALSE(secret_equals(std::string("ab\0", 3), "ab"));
}

}  // namespace
}  // namespace netfence::core
