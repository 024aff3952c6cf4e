#include "http/wire/head_common.hpp"

#include <cstring>
#include <limits>

namespace netfence::http::detail {
namespace {

std::size_t sat_add(std::size_t a, std::size_t b) noexcept {
  return a > std::numeric_limits<std::size_t>::max() - b ? std::numeric_limits<std::size_t>::max()
                                                         : a + b;
}

}  // namespace

std::size_t LineScanner::find_lf(std::string_view buf, std::size_t limit) {
  const std::size_t end = limit < buf.size() ? limit : buf.size();
  if (scan_ < line_start_) scan_ = line_start_;
  if (scan_ >= end) return std::string_view::npos;
  const void* hit = std::memchr(buf.data() + scan_, '\n', end - scan_);
  if (hit == nullptr) {
    scan_ = end;
    return std::string_view::npos;
  }
  return static_cast<std::size_t>(static_cast<const char*>(hit) - buf.data());
}

// Limits are checked before the line's content, and a partial line is declared too long only
// when every possible completion would be: that keeps the outcome independent of the split.
LineScanner::Line LineScanner::next_start_line(std::string_view buf, std::size_t max_content) {
  const std::size_t start = line_start_;
  if (buf.size() < start) return {};  // contract violation (buffer shrank): wait, never crash
  const std::size_t lf = find_lf(buf, sat_add(start, sat_add(max_content, 2)));
  if (lf == std::string_view::npos) {
    const std::size_t avail = buf.size() - start;
    // max_content + 1 bytes without LF are fine only if the last one is the CR of the CRLF.
    if (avail >= sat_add(max_content, 2) ||
        (avail == sat_add(max_content, 1) && buf[start + max_content] != '\r')) {
      return {Status::too_long, {}};
    }
    return {};
  }
  const bool cr = lf > start && buf[lf - 1] == '\r';
  const std::size_t content = lf - start - (cr ? 1 : 0);
  if (content > max_content) return {Status::too_long, {}};
  if (!cr) return {Status::bare_lf, {}};
  skip_to(lf + 1);
  return {Status::line, buf.substr(start, content)};
}

LineScanner::Line LineScanner::next_field_line(std::string_view buf, std::size_t block_start,
                                               std::size_t max_block) {
  const std::size_t start = line_start_;
  if (buf.size() < start || start < block_start) return {};
  // A field line must end (LF included) within max_block bytes of block_start; the empty line
  // that ends the head may come right after, i.e. 2 bytes later.
  const std::size_t block_end = sat_add(block_start, max_block);
  const std::size_t lf = find_lf(buf, sat_add(block_end, 2));
  if (lf == std::string_view::npos) {
    const std::size_t partial = buf.size() - start;
    if (partial == 0 || (partial == 1 && buf[start] == '\r')) return {};  // maybe the empty line
    // A field line in progress: its LF is at index >= buf.size().
    if (buf.size() >= block_end) return {Status::too_long, {}};
    return {};
  }
  if (lf == start + 1 && buf[start] == '\r') {
    skip_to(lf + 1);
    return {Status::line, {}};
  }
  if (lf >= block_end) return {Status::too_long, {}};
  if (lf == start || buf[lf - 1] != '\r') return {Status::bare_lf, {}};
  skip_to(lf + 1);
  return {Status::line, buf.substr(start, lf - 1 - start)};
}

bool is_tchar(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool parse_field_line(std::string_view line, std::string_view& name, std::string_view& value) {
  // A leading SP/HTAB is obs-fold (or whitespace before the first name): rejected, never
  // unfolded, since proxies that unfold and origins that do not disagree on the field set.
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  name = line.substr(0, colon);
  if (!is_token(name)) return false;  // also catches whitespace before the colon
  std::string_view v = line.substr(colon + 1);
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\t') continue;
    if (c < 0x20 || c == 0x7F) return false;  // NUL, CR, LF and other CTLs
  }
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  value = v;
  return true;
}

}  // namespace netfence::http::detail
