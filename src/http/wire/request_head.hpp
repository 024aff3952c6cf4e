// Incremental, strict HTTP/1.x request head parser (SPEC §8.1).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/wire/head_common.hpp"
#include "http/wire/headers.hpp"

namespace netfence::http {

struct RequestHead {
  std::string method;  // a token, case preserved (methods are case-sensitive)
  std::string target;  // as received: bytes 0x21–0x7E and 0x80–0xFF (target.hpp validates more)
  int version_minor = 1;  // 0 or 1 (only HTTP/1.0 and HTTP/1.1 are accepted)
  Headers headers;
};

/// Parses a request head from the client's accumulated buffer.
///
/// Call feed() each time more bytes arrive, always with the whole buffer from the first byte of
/// this head (the same prefix plus the new bytes; do not drop bytes between calls). It resumes
/// scanning where it stopped, so a slowloris client feeding one byte at a time costs O(n) total.
/// Returns:
///  - need_more: no complete head yet and no error;
///  - done: head() is ready; `consumed` = head length incl. the final CRLFCRLF. Bytes after it
///    (a body, a pipelined request) are left to the caller;
///  - error: `error` holds what to answer, and the connection must be closed:
///      414 `request line too long`  request line > max_start_line bytes (detected as soon as
///                                    enough bytes arrived without its CRLF);
///      431 `request header fields too large`  header block > max_header_bytes or more than
///                                    max_fields fields (detected as early as possible too);
///      400 `malformed request`  anything else: a version other than HTTP/1.0 or HTTP/1.1
///        (including the HTTP/2 preface `PRI * HTTP/2.0`), a method that is not a token, not
///        exactly one SP between the three parts, a CTL or SP in the target, obs-fold, whitespace
///        before a colon, a name that is not a token, NUL / bare CR / bare LF anywhere in the head
///        (lines end with CRLF only), a CTL other than HTAB in a value, more than one Host field,
///        an empty request line.
/// One leading CRLF before the request line is tolerated and counted in `consumed` (RFC 9112
/// §2.2: clients may send an extra CRLF after a body); a second one is an empty request line
/// (400). Limits are checked before content: the result never depends on how the input was
/// split. After done or error, further feed() calls return the same result until reset().
class RequestHeadParser {
 public:
  explicit RequestHeadParser(HeadLimits limits = {}) : limits_(limits) {}

  HeadParseResult feed(std::string_view buffer);

  /// The parsed head; complete only after feed() returned done.
  const RequestHead& head() const noexcept { return head_; }
  RequestHead& head() noexcept { return head_; }
  /// Moves the head out (after done).
  RequestHead take_head() { return std::move(head_); }

  /// Ready for the next head (keep-alive): feed the buffer starting at the next request.
  void reset();

 private:
  enum class Phase { leading, request_line, fields, finished };
  HeadParseResult fail(WireError e);

  HeadLimits limits_;
  detail::LineScanner scanner_;
  Phase phase_ = Phase::leading;
  std::size_t block_start_ = 0;
  std::size_t host_fields_ = 0;
  HeadParseResult result_{};
  RequestHead head_;
};

/// Client keep-alive (SPEC §8.3): HTTP/1.1 persistent unless `Connection: close`; HTTP/1.0 only
/// with `Connection: keep-alive`.
bool wants_keep_alive(const RequestHead& head);

}  // namespace netfence::http
