#include "runtime/unix_allowlist.hpp"

#include <climits>
#include <cstdlib>
#include <memory>

namespace netfence::runtime {
namespace {

// Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF) without C0/C1 controls
// or DEL. Hand-written: libidn2 has no plain validator and the check is a dozen lines.
bool printable_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp >= 0x80 && cp <= 0x9F) return false;  // C1 controls
    i += len;
  }
  return true;
}

}  // namespace

bool valid_unix_socket_header(std::string_view v) {
  return !v.empty() && v.front() == '/' && v.size() <= kMaxUnixPath && printable_utf8(v);
}

std::string lexically_normal_unix_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const std::size_t start = i;
    while (i < path.size() && path[i] != '/') ++i;
    const std::string_view part = path.substr(start, i - start);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();  // never above "/"
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (auto p : parts) {
    out += '/';
    out += p;
  }
  return out.empty() ? "/" : out;
}

std::string resolve_unix_path(const std::string& lexical) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(lexical.c_str(), nullptr),
                                                   &std::free);
  return real ? std::string(real.get()) : lexical;
}

UnixAllowlist UnixAllowlist::from(const Config& cfg) {
  UnixAllowlist a;
  a.allow_all = cfg.dangerously_allow_all_unix_sockets;
  for (const auto& entry : cfg.allow_unix_sockets) {
    a.resolved.push_back(resolve_unix_path(lexically_normal_unix_path(entry)));
  }
  return a;
}

std::optional<std::string> UnixAllowlist::admit(std::string_view header_path) const {
  // Nothing can match an empty list: do not touch the file system for a path that is refused.
  if (!allow_all && resolved.empty()) return std::nullopt;
  const std::string target = resolve_unix_path(lexically_normal_unix_path(header_path));
  if (allow_all) return target;
  for (const auto& r : resolved) {
    if (r == target) return target;
  }
  return std::nullopt;
}

}  // namespace netfence::runtime
