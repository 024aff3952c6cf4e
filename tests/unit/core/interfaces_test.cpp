#include "core/interfaces.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace netfence::core {
namespace {

TEST(Interfaces, IncludesLoopback) {
  std::vector<IpAddress> addrs = read_interface_addresses();
  IpAddress lo = IpAddress::v4(0x7f000001);
  EXPECT_NE(std::find(addrs.begin(), addrs.end(), lo), addrs.end());
}

TEST(Interfaces, NoDuplicates) {
  std::vector<IpAddress> addrs = read_interface_addresses();
  std::vector<IpAddress> sorted = addrs;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
}

}  // namespace
}  // namespace netfence::core
