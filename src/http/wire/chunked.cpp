#include "http/wire/chunked.hpp"

#include <cstdio>

#include "http/wire/head_common.hpp"

namespace netfence::http {
namespace {

int hex_value(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_field_vchar(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7F); }

// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
bool is_qdtext(unsigned char c) noexcept { return is_field_vchar(c) && c != '"' && c != '\\'; }

}  // namespace

ChunkedDecoder::Step ChunkedDecoder::fail(std::size_t consumed) {
  state_ = State::error;
  status_ = Status::error;
  return Step{consumed, {}, Status::error};
}

ChunkedDecoder::Step ChunkedDecoder::feed(std::string_view in) {
  if (state_ == State::done || state_ == State::error) return Step{0, {}, status_};
  std::string_view out;
  std::size_t i = 0;
  while (i < in.size()) {
    if (state_ == State::data) {
      // One contiguous data view per call: stop before a second run of data.
      if (!out.empty()) return Step{i, out, Status::need_more};
      const std::size_t avail = in.size() - i;
      const std::size_t n = size_ < avail ? static_cast<std::size_t>(size_) : avail;
      out = in.substr(i, n);
      i += n;
      size_ -= n;
      body_bytes_ += n;
      if (size_ == 0) state_ = State::data_cr;
      continue;
    }
    const auto c = static_cast<unsigned char>(in[i]);
    ++i;
    switch (state_) {
      case State::size: {
        const int d = hex_value(c);
        if (d >= 0) {
          // 16 digits at most; the value must stay below 2^63.
          if (digits_ == 16 || size_ >= (std::uint64_t{1} << 59)) return fail(i);
          size_ = size_ * 16 + static_cast<std::uint64_t>(d);
          ++digits_;
        } else if (digits_ == 0) {
          return fail(i);
        } else if (c == ';') {
          ext_bytes_ = 1;
          state_ = State::ext_start;
        } else if (c == '\r') {
          state_ = State::size_lf;
        } else {
          return fail(i);  // whitespace, LF, or garbage after the size
        }
        break;
      }
      case State::ext_start:
      case State::ext_name:
      case State::ext_value_start:
      case State::ext_token_value:
      case State::ext_quoted:
      case State::ext_quoted_escape:
      case State::ext_after_quoted: {
        if (c != '\r' && ++ext_bytes_ > limits_.max_extension) return fail(i);
        switch (state_) {
          case State::ext_start:
            if (!detail::is_tchar(c)) return fail(i);
            state_ = State::ext_name;
            break;
          case State::ext_name:
            if (c == '=') {
              state_ = State::ext_value_start;
            } else if (c == ';') {
              state_ = State::ext_start;
            } else if (c == '\r') {
              state_ = State::size_lf;
            } else if (!detail::is_tchar(c)) {
              return fail(i);
            }
            break;
          case State::ext_value_start:
            if (c == '"') {
              state_ = State::ext_quoted;
            } else if (detail::is_tchar(c)) {
              state_ = State::ext_token_value;
            } else {
              return fail(i);
            }
            break;
          case State::ext_token_value:
            if (c == ';') {
              state_ = State::ext_start;
            } else if (c == '\r') {
              state_ = State::size_lf;
            } else if (!detail::is_tchar(c)) {
              return fail(i);
            }
            break;
          case State::ext_quoted:
            if (c == '"') {
              state_ = State::ext_after_quoted;
            } else if (c == '\\') {
              state_ = State::ext_quoted_escape;
            } else if (!is_qdtext(c)) {
              return fail(i);
            }
            break;
          case State::ext_quoted_escape:
            if (!is_field_vchar(c)) return fail(i);
            state_ = State::ext_quoted;
            break;
          default:  // ext_after_quoted
            if (c == ';') {
              state_ = State::ext_start;
            } else if (c == '\r') {
              state_ = State::size_lf;
            } else {
              return fail(i);
            }
            break;
        }
        break;
      }
      case State::size_lf:
        if (c != '\n') return fail(i);
        if (size_ == 0) {
          state_ = State::trailer_line_start;
        } else {
          state_ = State::data;
        }
        break;
      case State::data_cr:
        if (c != '\r') return fail(i);
        state_ = State::data_lf;
        break;
      case State::data_lf:
        if (c != '\n') return fail(i);
        state_ = State::size;
        size_ = 0;
        digits_ = 0;
        ext_bytes_ = 0;
        break;
      case State::trailer_line_start:
      case State::trailer_name:
      case State::trailer_value:
      case State::trailer_lf:
      case State::final_lf: {
        if (++trailer_bytes_ > limits_.max_trailer_bytes) return fail(i);
        switch (state_) {
          case State::trailer_line_start:
            if (c == '\r') {
              state_ = State::final_lf;
            } else if (detail::is_tchar(c)) {  // SP/HTAB here would be obs-fold
              if (++trailer_fields_ > limits_.max_trailer_fields) return fail(i);
              state_ = State::trailer_name;
            } else {
              return fail(i);
            }
            break;
          case State::trailer_name:
            if (c == ':') {
              state_ = State::trailer_value;
            } else if (!detail::is_tchar(c)) {
              return fail(i);
            }
            break;
          case State::trailer_value:
            if (c == '\r') {
              state_ = State::trailer_lf;
            } else if (!is_field_vchar(c)) {
              return fail(i);
            }
            break;
          case State::trailer_lf:
            if (c != '\n') return fail(i);
            state_ = State::trailer_line_start;
            break;
          default:  // final_lf
            if (c != '\n') return fail(i);
            state_ = State::done;
            status_ = Status::done;
            return Step{i, out, Status::done};
        }
        break;
      }
      case State::data:
      case State::done:
      case State::error:
        return fail(i);  // unreachable: handled above
    }
  }
  return Step{i, out, Status::need_more};
}

std::string chunk_size_line(std::uint64_t size) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%llx\r\n", static_cast<unsigned long long>(size));
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string encode_chunk(std::string_view data) {
  if (data.empty()) return {};
  std::string out = chunk_size_line(data.size());
  out.reserve(out.size() + data.size() + 2);
  out.append(data);
  out.append(kChunkDataEnd);
  return out;
}

}  // namespace netfence::http
