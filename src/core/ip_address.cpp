#include "core/ip_address.hpp"

#include <cstddef>

namespace netfence::core {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict dotted quad: exactly four decimal parts 0-255 without leading zeros. Leading zeros are
// refused because other parsers read them as octal; config values must mean one thing.
std::optional<std::uint32_t> parse_dotted_quad(std::string_view s) noexcept {
  std::uint32_t value = 0;
  std::size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= s.size() || s[pos] != '.') return std::nullopt;
      ++pos;
    }
    std::size_t start = pos;
    std::uint32_t octet = 0;
    while (pos < s.size() && is_digit(s[pos]) && pos - start < 3) {
      octet = octet * 10 + static_cast<std::uint32_t>(s[pos] - '0');
      ++pos;
    }
    std::size_t len = pos - start;
    if (len == 0 || octet > 255 || (len > 1 && s[start] == '0')) return std::nullopt;
    value = (value << 8) | octet;
  }
  if (pos != s.size()) return std::nullopt;
  return value;
}

// RFC 4291 §2.2 text: eight 1-4 digit hex groups, at most one "::", optionally ending in a
// dotted quad that stands for the last two groups.
std::optional<std::array<std::uint8_t, 16>> parse_v6(std::string_view s) noexcept {
  std::array<std::uint16_t, 8> groups{};
  int count = 0;
  int gap = -1;  // index in `groups` where "::" was seen
  std::size_t pos = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    pos = 2;
  } else if (!s.empty() && s[0] == ':') {
    return std::nullopt;
  }
  while (pos < s.size()) {
    if (count == 8) return std::nullopt;
    // A dotted quad is only allowed as the final component.
    std::size_t end = s.find_first_of(':', pos);
    std::string_view piece =
        s.substr(pos, end == std::string_view::npos ? s.size() - pos : end - pos);
    if (piece.find('.') != std::string_view::npos) {
      if (end != std::string_view::npos || count > 6) return std::nullopt;
      auto v4 = parse_dotted_quad(piece);
      if (!v4) return std::nullopt;
      groups[count++] = static_cast<std::uint16_t>(*v4 >> 16);
      groups[count++] = static_cast<std::uint16_t>(*v4 & 0xffff);
      pos = s.size();
      break;
    }
    if (piece.empty() || piece.size() > 4) return std::nullopt;
    std::uint16_t g = 0;
    for (char c : piece) {
      int h = hex_value(c);
      if (h < 0) return std::nullopt;
      g = static_cast<std::uint16_t>((g << 4) | h);
    }
    groups[count++] = g;
    pos += piece.size();
    if (pos == s.size()) break;
    // pos is at ':'
    if (pos + 1 < s.size() && s[pos + 1] == ':') {
      if (gap >= 0) return std::nullopt;
      gap = count;
      pos += 2;
    } else {
      ++pos;
      if (pos == s.size()) return std::nullopt;  // trailing single ':'
    }
  }
  std::array<std::uint16_t, 8> full{};
  if (gap >= 0) {
    if (count > 7) return std::nullopt;  // "::" must stand for at least one group
    int tail = count - gap;
    for (int i = 0; i < gap; ++i) full[i] = groups[i];
    for (int i = 0; i < tail; ++i) full[8 - tail + i] = groups[gap + i];
  } else {
    if (count != 8) return std::nullopt;
    full = groups;
  }
  std::array<std::uint8_t, 16> bytes{};
  for (int i = 0; i < 8; ++i) {
    bytes[2 * i] = static_cast<std::uint8_t>(full[i] >> 8);
    bytes[2 * i + 1] = static_cast<std::uint8_t>(full[i] & 0xff);
  }
  return bytes;
}

bool is_mapped(const std::array<std::uint8_t, 16>& b) noexcept {
  for (std::size_t i = 0; i < kMappedPrefix.size(); ++i) {
    if (b[i] != kMappedPrefix[i]) return false;
  }
  return true;
}

std::string v4_text(std::uint32_t v) {
  std::string out;
  out.reserve(15);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out += std::to_string((v >> shift) & 0xff);
    if (shift > 0) out += '.';
  }
  return out;
}

}  // namespace

IpAddress IpAddress::v4(std::uint32_t host_order) noexcept {
  IpAddress a;
  a.family_ = Family::v4;
  a.bytes_[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) noexcept {
  IpAddress a;
  a.family_ = Family::v6;
  a.bytes_ = bytes;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) noexcept {
  if (text.find(':') == std::string_view::npos) {
    auto v = parse_dotted_quad(text);
    if (!v) return std::nullopt;
    return v4(*v);
  }
  auto b = parse_v6(text);
  if (!b) return std::nullopt;
  return v6(*b);
}

std::uint32_t IpAddress::v4_value() const noexcept {
  return (static_cast<std::uint32_t>(bytes_[0]) << 24) |
         (static_cast<std::uint32_t>(bytes_[1]) << 16) |
         (static_cast<std::uint32_t>(bytes_[2]) << 8) | static_cast<std::uint32_t>(bytes_[3]);
}

IpAddress IpAddress::unmapped() const noexcept {
  if (family_ != Family::v6 || !is_mapped(bytes_)) return *this;
  return v4((static_cast<std::uint32_t>(bytes_[12]) << 24) |
            (static_cast<std::uint32_t>(bytes_[13]) << 16) |
            (static_cast<std::uint32_t>(bytes_[14]) << 8) | static_cast<std::uint32_t>(bytes_[15]));
}

std::string IpAddress::to_string() const {
  if (family_ == Family::v4) return v4_text(v4_value());
  if (is_mapped(bytes_)) return "::ffff:" + v4_text(unmapped().v4_value());

  std::array<unsigned, 8> g{};
  for (int i = 0; i < 8; ++i)
    g[i] = (static_cast<unsigned>(bytes_[2 * i]) << 8) | bytes_[2 * i + 1];
  // RFC 5952 §4.2: compress the longest run of >= 2 zero groups, the first one on ties.
  int best_start = -1;
  int best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best_start = -1;

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(39);
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      unsigned nibble = (g[i] >> shift) & 0xf;
      if (nibble != 0 || started || shift == 0) {
        out += kHex[nibble];
        started = true;
      }
    }
  }
  return out;
}

}  // namespace netfence::core
