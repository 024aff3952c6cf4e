// Incremental, strict HTTP/1.x response head parser for upstream responses (SPEC §8.3).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/wire/head_common.hpp"
#include "http/wire/headers.hpp"

namespace netfence::http {

struct ResponseHead {
  int version_minor = 1;  // 0 or 1
  int status = 0;         // 100–999
  std::string reason;     // may be empty
  Headers headers;
};

/// Parses an upstream response head; same contract as RequestHeadParser (feed the accumulated
/// buffer, linear scanning, `consumed` excludes body bytes, split-independent, same limits and
/// field-line strictness). Status line: `HTTP/1.0` or `HTTP/1.1`, SP, three digits (100–999),
/// then SP and a reason of HTAB / SP / VCHAR / obs-text (the SP may be absent when the reason is
/// empty). No leading empty lines are tolerated. Every error is kUpstreamFailure (502): the
/// proxy does not distinguish upstream faults. Interim 1xx heads are returned like any other;
/// call reset() and feed the bytes after them to read the final head.
class ResponseHeadParser {
 public:
  explicit ResponseHeadParser(HeadLimits limits = {}) : limits_(limits) {}

  HeadParseResult feed(std::string_view buffer);

  const ResponseHead& head() const noexcept { return head_; }
  ResponseHead& head() noexcept { return head_; }
  ResponseHead take_head() { return std::move(head_); }

  void reset();

 private:
  enum class Phase { status_line, fields, finished };
  HeadParseResult fail();

  HeadLimits limits_;
  detail::LineScanner scanner_;
  Phase phase_ = Phase::status_line;
  std::size_t block_start_ = 0;
  HeadParseResult result_{};
  ResponseHead head_;
};

}  // namespace netfence::http
