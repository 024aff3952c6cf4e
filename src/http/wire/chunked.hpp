// Incremental strict decoder and encoder for the chunked transfer coding (RFC 9112 §7.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace netfence::http {

/// Decodes a chunked body fed in arbitrary pieces. Grammar accepted (stricter than the RFC's BWS
/// allowances, because whitespace and lone LFs around chunk sizes are classic smuggling
/// differentials):
///   chunk      = 1*16HEXDIG *( ";" token [ "=" ( token / quoted-string ) ] ) CRLF data CRLF
///   last-chunk = 1*16"0" *( ext ) CRLF
///   trailer    = *( field-line CRLF ) CRLF       (validated like header fields, then dropped)
/// A chunk size must be below 2^63; extensions of one chunk line are bounded by max_extension
/// bytes; the trailer section by max_trailer_bytes and max_trailer_fields. Never asserts on input.
class ChunkedDecoder {
 public:
  struct Limits {
    std::size_t max_extension = 4096;
    std::size_t max_trailer_bytes = 65536;
    std::size_t max_trailer_fields = 128;
  };
  enum class Status { need_more, done, error };
  struct Step {
    /// Input bytes used. For need_more this is all of `in` unless `data` ended early (see
    /// feed()); for done it ends right after the final CRLF (pipelined bytes are not used).
    std::size_t consumed = 0;
    /// Decoded body bytes to pass on: a view into `in` (possibly empty).
    std::string_view data;
    Status status = Status::need_more;
  };

  ChunkedDecoder() = default;
  explicit ChunkedDecoder(Limits limits) : limits_(limits) {}

  /// Consumes input up to the end of the first run of chunk data it meets (so that `data` is one
  /// contiguous view), or all of `in`. Call again with the unconsumed rest (`in.substr(consumed)`)
  /// until it is empty or the status is done/error. Framing bytes are remembered internally, so
  /// the caller never has to keep unconsumed input for need_more. After done or error it
  /// consumes nothing and returns the same status.
  Step feed(std::string_view in);

  Status status() const noexcept { return status_; }
  /// Total decoded body bytes so far.
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  void reset() noexcept { *this = ChunkedDecoder(limits_); }

 private:
  enum class State : std::uint8_t {
    size,       // hex digits
    ext_start,  // after ';', expecting a name
    ext_name,   // in an extension name
    ext_value_start,
    ext_token_value,
    ext_quoted,  // inside a quoted-string
    ext_quoted_escape,
    ext_after_quoted,
    size_lf,  // CR seen after the size line
    data,
    data_cr,  // expecting CR after data
    data_lf,
    trailer_line_start,
    trailer_name,
    trailer_value,
    trailer_lf,  // CR seen after a trailer field
    final_lf,    // CR seen on the empty line ending the trailer
    done,
    error,
  };
  Step fail(std::size_t consumed);

  Limits limits_{};
  State state_ = State::size;
  Status status_ = Status::need_more;
  std::uint64_t size_ = 0;  // size of the current chunk / remaining data bytes
  std::size_t digits_ = 0;
  std::size_t ext_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  std::size_t trailer_fields_ = 0;
  std::uint64_t body_bytes_ = 0;
};

/// One chunk carrying `data`: hex size, CRLF, data, CRLF. Empty data gives "" (an empty chunk
/// would terminate the body).
std::string encode_chunk(std::string_view data);
/// The chunk-size line for `size` bytes of data ("1a\r\n"), for scatter-gather writes; follow
/// the data with kChunkDataEnd. Size must be > 0.
std::string chunk_size_line(std::uint64_t size);
inline constexpr std::string_view kChunkDataEnd = "\r\n";
/// Last chunk plus an empty trailer section: ends a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace netfence::http
