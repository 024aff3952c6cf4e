#include "core/interfaces.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace netfence::core {

std::vector<IpAddress> read_interface_addresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;  // callers treat "none known" as "nothing extra"
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> owned(list, &freeifaddrs);
  for (const ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr) continue;  // e.g. interfaces without an address
    IpAddress ip;
    if (it->ifa_addr->sa_family == AF_INET) {
      sockaddr_in sin{};
      std::memcpy(&sin, it->ifa_addr, sizeof sin);
      ip = IpAddress::v4(ntohl(sin.sin_addr.s_addr));
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      sockaddr_in6 sin6{};
      std::memcpy(&sin6, it->ifa_addr, sizeof sin6);
      std::array<std::uint8_t, 16> bytes{};
      std::memcpy(bytes.data(), &sin6.sin6_addr, bytes.size());
      ip = IpAddress::v6(bytes);
    } else {
      continue;
    }
    // The same address can sit on several interfaces or aliases.
    if (std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
  }
  return out;
}

}  // namespace netfence::core
