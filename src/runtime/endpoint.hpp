// "ip:port" text for peers and bound listeners (SPEC §2 `<addr>`: IPv6 bracketed; IPv4-mapped
// peers of dual-stack sockets shown as IPv4, so logs and policy see one spelling).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace netfence::runtime {

inline std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep) {
  namespace ip = boost::asio::ip;
  ip::address a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = ip::make_address_v4(ip::v4_mapped, a.to_v6());
  std::string out;
  if (a.is_v6()) {
    out.push_back('[');
    out.append(a.to_string());
    out.push_back(']');
  } else {
    out.append(a.to_string());
  }
  out.push_back(':');
  out.append(std::to_string(ep.port()));
  return out;
}

}  // namespace netfence::runtime
