// libFuzzer target for host canonicalisation (SPEC §4): parse_host_port with both sources,
// canonicalize_host, canonicalize_name and IpAddress::parse, checking that canonical output is
// a fixed point and stays inside the documented character set.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/host.hpp"
#include "core/ip_address.hpp"

namespace {

using netfence::core::CanonicalHost;
using netfence::core::HostKind;
using netfence::core::HostSource;
using netfence::core::IpAddress;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_name_text(std::string_view t) {
  check(!t.empty() && t.size() <= 253);
  std::size_t label = 0;
  for (char c : t) {
    if (c == '.') {
      check(label > 0);
      label = 0;
      continue;
    }
    check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
    check(++label <= 63);
  }
  check(label > 0);
}

void check_same(const CanonicalHost& a, const CanonicalHost& b) {
  check(a.text == b.text);
  check(a.kind == b.kind);
  check(a.ip == b.ip);
  check(a.zone == b.zone);
}

void check_canonical(const CanonicalHost& h) {
  switch (h.kind) {
    case HostKind::name:
      check(!h.ip.has_value() && h.zone.empty());
      check_name_text(h.text);
      break;
    case HostKind::ipv4:
      check(h.ip.has_value() && h.ip->is_v4() && h.zone.empty());
      check(h.text == h.ip->to_string());
      check(IpAddress::parse(h.text) == h.ip);
      break;
    case HostKind::ipv6: {
      check(h.ip.has_value() && h.ip->is_v6());
      check(h.ip->unmapped().is_v6());  // mapped addresses come out as IPv4
      std::string want = h.ip->to_string();
      if (!h.zone.empty()) want += "%" + h.zone;
      check(h.text == want);
      break;
    }
  }
  // Fixed point: the canonical text (bracketed for IPv6 over HTTP) canonicalises to itself.
  auto again = netfence::core::canonicalize_host(h.text);
  check(again.ok());
  check_same(*again, h);
  std::string http = h.kind == HostKind::ipv6 ? "[" + h.text + "]" : h.text;
  auto via_http = netfence::core::parse_host_port(http + ":1", HostSource::http);
  check(via_http.ok());
  check_same(via_http->host, h);
  check(via_http->port == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto http = netfence::core::parse_host_port(in, HostSource::http);
  auto lenient = netfence::core::parse_host_port(in, HostSource::lenient);
  if (http.ok()) {
    check_canonical(http->host);
    // Lenient accepts a superset of what HTTP accepts, with the same result.
    check(lenient.ok());
    check_same(lenient->host, http->host);
    check(lenient->port == http->port);
    if (http->port) check(*http->port != 0);
  } else {
    check(http.error().code == "invalid_host" && !http.error().message.empty());
  }
  if (lenient.ok()) {
    check_canonical(lenient->host);
  } else {
    check(lenient.error().code == "invalid_host" && !lenient.error().message.empty());
  }

  auto host = netfence::core::canonicalize_host(in);
  if (host.ok()) {
    check_canonical(*host);
    // Without a port, canonicalize_host and parse_host_port agree.
    check(lenient.ok() && !lenient->port.has_value());
    check_same(lenient->host, *host);
  }

  auto name = netfence::core::canonicalize_name(in);
  if (name.ok()) {
    check_name_text(*name);
    auto again = netfence::core::canonicalize_name(*name);
    check(again.ok() && *again == *name);
  }

  if (auto ip = IpAddress::parse(in)) {
    check(IpAddress::parse(ip->to_string()) == ip);
  }
  return 0;
}
