// Pieces shared by the request and response head parsers: limits, the feed() result, and the
// line scanner that keeps both parsers linear and split-independent.
#pragma once

#include <cstddef>
#include <string_view>

#include "http/wire/error.hpp"

namespace netfence::http {

/// Head limits (SPEC §8.1, §8.6). Defaults are the SPEC values.
struct HeadLimits {
  /// Longest start line (request line / status line), excluding its CRLF.
  std::size_t max_start_line = 8192;
  /// Largest header block: the bytes of all field lines including their CRLFs (the start line
  /// and the final empty line are not counted).
  std::size_t max_header_bytes = 65536;
  /// Most field lines.
  std::size_t max_fields = 128;
};

enum class ParseStatus { need_more, done, error };

/// Result of feeding a head parser.
struct HeadParseResult {
  ParseStatus status = ParseStatus::need_more;
  /// For done: bytes of the head in the buffer, including the final CRLFCRLF (and a tolerated
  /// leading CRLF). Bytes after it (body, pipelined requests) are not consumed.
  std::size_t consumed = 0;
  /// For error: what to answer (request parser) or kUpstreamFailure (response parser).
  WireError error{};
};

namespace detail {

/// Finds CRLF-terminated lines in a buffer that only ever grows at the end, remembering where it
/// stopped so that every byte is scanned once (feeding byte by byte stays O(n)). Every decision
/// depends only on the bytes up to the point where it is taken, so the outcome is the same
/// however the input was split.
class LineScanner {
 public:
  enum class Status { line, need_more, too_long, bare_lf };
  struct Line {
    Status status = Status::need_more;
    /// Line content without CRLF (may contain stray CRs, which the caller rejects).
    std::string_view content;
  };

  /// Next line starting at line_start(). `max_content` bounds the content length of a start line
  /// (too_long when exceeded); for field lines pass `block_start`/`max_block` instead: a
  /// non-empty line must end within max_block bytes of block_start (too_long otherwise). The
  /// empty line (exactly CRLF) is never too long. On Status::line, line_start() advances past
  /// the line.
  Line next_start_line(std::string_view buf, std::size_t max_content);
  Line next_field_line(std::string_view buf, std::size_t block_start, std::size_t max_block);

  std::size_t line_start() const noexcept { return line_start_; }
  void skip_to(std::size_t pos) noexcept { line_start_ = scan_ = pos; }
  void reset() noexcept { line_start_ = scan_ = 0; }

 private:
  /// Position of the next LF in [scan_, min(size, limit)), or npos (scan_ advances).
  std::size_t find_lf(std::string_view buf, std::size_t limit);

  std::size_t line_start_ = 0;
  std::size_t scan_ = 0;
};

/// Parses and validates one field line (RFC 9110 §5, RFC 9112 §5): token name, ':' right after
/// it, value of HTAB / SP / VCHAR / obs-text, trimmed. Rejects obs-fold (leading SP/HTAB),
/// whitespace before the colon, CR/NUL/CTL. Returns false if malformed.
bool parse_field_line(std::string_view line, std::string_view& name, std::string_view& value);

bool is_tchar(unsigned char c) noexcept;
bool is_token(std::string_view s) noexcept;

}  // namespace detail
}  // namespace netfence::http
