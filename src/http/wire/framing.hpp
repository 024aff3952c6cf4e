// Message body framing (SPEC §8.1 for requests, §8.3 for upstream responses).
#pragma once

#include <cstdint>
#include <string_view>

#include "http/wire/error.hpp"
#include "http/wire/request_head.hpp"
#include "http/wire/response_head.hpp"

namespace netfence::http {

struct BodyFraming {
  enum class Kind {
    none,            // no body
    content_length,  // exactly `length` bytes
    chunked,         // chunked coding (decode with ChunkedDecoder)
    until_close,     // responses only: the body ends when the upstream closes
  };
  Kind kind = Kind::none;
  std::uint64_t length = 0;  // for content_length

  friend bool operator==(const BodyFraming&, const BodyFraming&) = default;
};

/// Request body framing, strict (anti-smuggling). 400 `malformed request` when:
///  - both Content-Length and Transfer-Encoding are present;
///  - Content-Length values (separate fields and/or comma lists) differ, or one is empty, not
///    all decimal digits, or overflows 64 bits (identical repeats count as one);
///  - Transfer-Encoding (all fields together) is anything but the single token `chunked`
///    (case-insensitive): `chunked, identity`, `identity`, `gzip, chunked`, two `chunked` fields;
///  - Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: framing is faulty).
/// Content-Length: 0 gives content_length with length 0. No CL and no TE gives none.
WireResult<BodyFraming> request_framing(const RequestHead& head);

/// Response body framing for a response to `request_method` (RFC 9112 §6.3):
///  - none for HEAD requests, 1xx, 204, 304, and 2xx to CONNECT;
///  - chunked if Transfer-Encoding's last coding is `chunked` (and `chunked` appears only last),
///    until_close for any other Transfer-Encoding;
///  - content_length for a valid Content-Length (same strictness as requests);
///  - until_close otherwise.
/// kUpstreamFailure (502) for CL+TE, differing or invalid Content-Length, `chunked` not last or
/// repeated, an empty Transfer-Encoding, or Transfer-Encoding in an HTTP/1.0 response.
WireResult<BodyFraming> response_framing(const ResponseHead& head, std::string_view request_method);

}  // namespace netfence::http
