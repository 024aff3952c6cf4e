// Reads the addresses configured on this host's interfaces (getifaddrs). Does I/O: never call it
// from the policy engine; callers pass the result in.
#pragma once

#include <vector>

#include "core/ip_address.hpp"

namespace netfence::core {

std::vector<IpAddress> read_interface_addresses();

}  // namespace netfence::core
