#include "http/wire/headers.hpp"

#include <algorithm>

namespace netfence::http {
namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

const Field* Headers::find(std::string_view name) const noexcept {
  for (const auto& f : fields_) {
    if (iequals(f.name, name)) return &f;
  }
  return nullptr;
}

std::size_t Headers::count(std::string_view name) const noexcept {
  std::size_t n = 0;
  for (const auto& f : fields_) n += iequals(f.name, name) ? 1 : 0;
  return n;
}

std::vector<std::string_view> Headers::values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& f : fields_) {
    if (iequals(f.name, name)) out.emplace_back(f.value);
  }
  return out;
}

std::size_t Headers::remove(std::string_view name) {
  const auto before = fields_.size();
  std::erase_if(fields_, [&](const Field& f) { return iequals(f.name, name); });
  return before - fields_.size();
}

void Headers::add(std::string name, std::string value) {
  fields_.push_back(Field{std::move(name), std::move(value)});
}

void Headers::set(std::string_view name, std::string value) {
  auto it = std::find_if(fields_.begin(), fields_.end(),
                         [&](const Field& f) { return iequals(f.name, name); });
  if (it == fields_.end()) {
    add(std::string(name), std::move(value));
    return;
  }
  it->value = std::move(value);
  // Drop later duplicates, keeping the position of the first.
  fields_.erase(std::remove_if(std::next(it), fields_.end(),
                               [&](const Field& f) { return iequals(f.name, name); }),
                fields_.end());
}

bool list_contains_token(std::string_view header_value, std::string_view token) {
  while (true) {
    const auto comma = header_value.find(',');
    if (iequals(trim_ows(header_value.substr(0, comma)), token) && !token.empty()) return true;
    if (comma == std::string_view::npos) return false;
    header_value.remove_prefix(comma + 1);
  }
}

bool headers_contain_token(const Headers& headers, std::string_view name, std::string_view token) {
  for (const auto& f : headers) {
    if (iequals(f.name, name) && list_contains_token(f.value, token)) return true;
  }
  return false;
}

bool strip_hop_by_hop(Headers& headers, Direction direction, bool keep_websocket_upgrade) {
  const bool websocket = keep_websocket_upgrade &&
                         headers_contain_token(headers, "upgrade", "websocket") &&
                         headers_contain_token(headers, "connection", "upgrade");

  // Names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1). Collect them before
  // Connection itself is removed.
  std::vector<std::string> listed;
  for (const auto& f : headers) {
    if (!iequals(f.name, "connection")) continue;
    std::string_view v = f.value;
    while (true) {
      const auto comma = v.find(',');
      const auto item = trim_ows(v.substr(0, comma));
      if (!item.empty()) listed.emplace_back(item);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  for (const auto& name : listed) headers.remove(name);

  static constexpr std::string_view kHopByHop[] = {
      "connection", "keep-alive", "proxy-connection",  "proxy-authorization",
      "te",         "trailer",    "transfer-encoding", "upgrade"};
  for (auto name : kHopByHop) headers.remove(name);
  if (direction == Direction::response) {
    headers.remove("proxy-authenticate");
    headers.remove("x-proxy-error");
  }
  if (websocket) {
    headers.add("Upgrade", "websocket");
    headers.add("Connection", "upgrade");
  }
  return websocket;
}

namespace {

void append_fields(std::string& out, const Headers& headers) {
  for (const auto& f : headers) {
    out.append(f.name);
    out.append(": ");
    out.append(f.value);
    out.append("\r\n");
  }
  out.append("\r\n");
}

std::size_t fields_size(const Headers& headers) {
  std::size_t n = 2;
  for (const auto& f : headers) n += f.name.size() + f.value.size() + 4;
  return n;
}

}  // namespace

std::string serialize_request_head(std::string_view method, std::string_view target,
                                   const Headers& headers) {
  std::string out;
  out.reserve(method.size() + target.size() + 12 + fields_size(headers));
  out.append(method);
  out.push_back(' ');
  out.append(target);
  out.append(" HTTP/1.1\r\n");
  append_fields(out, headers);
  return out;
}

std::string serialize_response_head(int version_minor, int status, std::string_view reason,
                                    const Headers& headers) {
  // "HTTP/1.x NNN " by hand: snprintf showed in the per-request profile.
  const int code = (status >= 0 && status <= 999) ? status : 500;
  char line[] = "HTTP/1.1 000 ";
  if (version_minor == 0) line[7] = '0';
  line[9] = static_cast<char>('0' + code / 100);
  line[10] = static_cast<char>('0' + code / 10 % 10);
  line[11] = static_cast<char>('0' + code % 10);
  std::string out;
  constexpr std::size_t kLine = sizeof line - 1;  // without the terminating NUL
  out.reserve(kLine + reason.size() + 2 + fields_size(headers));
  out.append(line, kLine);
  out.append(reason);
  out.append("\r\n");
  append_fields(out, headers);
  return out;
}

}  // namespace netfence::http
