// Errors of the HTTP/1.1 wire layer (SPEC §8.1, §8.2, §8.4, §8.6) as plain values.
//
// Why this module is hand-written rather than Boost.Beast's parser: Beast 1.81 has a
// BOOST_ASSERT reachable from chunked input split across two put() calls (cpp-stack A.5-15), and
// its single header_limit cannot tell an over-long request line (414) from an over-large header
// block (431). SPEC §8.1 needs exactly: request line > 8 KiB → 414 `request line too long`;
// header block > 64 KiB or > 128 fields → 431 `request header fields too large`; every other
// framing problem → 400 `malformed request`. Everything here is pure (bytes in, need_more | done |
// error out), never asserts on input and never grows memory beyond the configured limits.
#pragma once

#include <string_view>
#include <utility>
#include <variant>

namespace netfence::http {

/// An HTTP error the proxy answers with: status code and the exact text/plain body (§8.6).
/// `body` always points at a string literal (static storage).
struct WireError {
  int status = 400;
  std::string_view body;

  friend bool operator==(const WireError&, const WireError&) = default;
};

inline constexpr WireError kMalformedRequest{400, "malformed request"};
inline constexpr WireError kRequestLineTooLong{414, "request line too long"};
inline constexpr WireError kHeaderFieldsTooLarge{431, "request header fields too large"};
inline constexpr WireError kNotAProxyRequest{400, "not a proxy request"};
inline constexpr WireError kUnsupportedScheme{400, "unsupported URL scheme"};
inline constexpr WireError kInvalidRequestTarget{400, "invalid request target"};
inline constexpr WireError kInvalidHost{400, "invalid host"};
inline constexpr WireError kInvalidHostHeader{400, "invalid Host header"};
inline constexpr WireError kHostHeaderMismatch{400, "Host header does not match request target"};
inline constexpr WireError kInvalidConnectTarget{400, "invalid CONNECT target"};
/// Any invalid upstream response head or framing (§8.3): the proxy answers 502 if nothing was
/// sent to the client yet, else closes.
inline constexpr WireError kUpstreamFailure{502, "upstream failure"};

/// A T or a WireError; allocation-free on the error path and never throws. Precondition:
/// value()/operator* only when ok(), error() only when !ok().
template <class T>
class [[nodiscard]] WireResult {
 public:
  WireResult(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  WireResult(WireError error) : v_(std::in_place_index<1>, error) {}     // NOLINT: implicit

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return *std::get_if<0>(&v_); }
  const T& value() const& { return *std::get_if<0>(&v_); }
  T&& value() && { return std::move(*std::get_if<0>(&v_)); }
  const WireError& error() const { return *std::get_if<1>(&v_); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, WireError> v_;
};

}  // namespace netfence::http
