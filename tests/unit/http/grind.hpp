// Split-point grinding (Beast's parsegrind idea): every message is parsed whole, split at every
// byte boundary (prefix, then the whole buffer / two feed() calls) and byte by byte; all must
// agree. Outcomes are rendered as strings so a mismatch prints both sides.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "http/wire/chunked.hpp"
#include "http/wire/request_head.hpp"
#include "http/wire/response_head.hpp"

namespace netfence::http::test {

inline std::string render_fields(const Headers& h) {
  std::string out;
  for (const auto& f : h) out += "|" + f.name + "=" + f.value;
  return out;
}

inline std::string render(const HeadParseResult& r, const RequestHead& h) {
  switch (r.status) {
    case ParseStatus::need_more:
      return "need_more";
    case ParseStatus::error:
      return "error " + std::to_string(r.error.status) + " " + std::string(r.error.body);
    case ParseStatus::done:
      break;
  }
  return "done " + std::to_string(r.consumed) + " " + h.method + " " + h.target + " 1." +
         std::to_string(h.version_minor) + render_fields(h.headers);
}

inline std::string render(const HeadParseResult& r, const ResponseHead& h) {
  switch (r.status) {
    case ParseStatus::need_more:
      return "need_more";
    case ParseStatus::error:
      return "error " + std::to_string(r.error.status) + " " + std::string(r.error.body);
    case ParseStatus::done:
      break;
  }
  return "done " + std::to_string(r.consumed) + " 1." + std::to_string(h.version_minor) + " " +
         std::to_string(h.status) + " " + h.reason + render_fields(h.headers);
}

template <class Parser>
std::string parse_whole(std::string_view msg, HeadLimits limits = {}) {
  Parser p(limits);
  const auto r = p.feed(msg);
  return render(r, p.head());
}

template <class Parser>
std::string parse_split(std::string_view msg, std::size_t k, HeadLimits limits = {}) {
  Parser p(limits);
  auto r = p.feed(msg.substr(0, k));
  if (r.status == ParseStatus::need_more) r = p.feed(msg);
  return render(r, p.head());
}

template <class Parser>
std::string parse_bytewise(std::string_view msg, HeadLimits limits = {}) {
  Parser p(limits);
  HeadParseResult r;
  for (std::size_t i = 0; i <= msg.size(); ++i) {
    r = p.feed(msg.substr(0, i));
    if (r.status != ParseStatus::need_more) break;
  }
  return render(r, p.head());
}

/// Split points to grind: all of them for small messages; for large ones a stride plus windows
/// around the given interesting offsets and both ends (keeps the test O(n * points)).
inline std::vector<std::size_t> split_points(std::size_t n, std::vector<std::size_t> around = {}) {
  std::vector<std::size_t> out;
  for (std::size_t k = 0; k <= n; ++k) {
    bool take = n <= 4096 || k % 251 == 0 || k < 64 || n - k < 64;
    for (auto a : around) take = take || (k + 8 >= a && k <= a + 8);
    if (take) out.push_back(k);
  }
  return out;
}

/// Parses `msg` whole, at every split point and byte by byte; expects one outcome, returns it.
template <class Parser>
std::string grind(std::string_view msg, HeadLimits limits = {},
                  std::vector<std::size_t> around = {}) {
  const auto whole = parse_whole<Parser>(msg, limits);
  for (auto k : split_points(msg.size(), around)) {
    const auto split = parse_split<Parser>(msg, k, limits);
    EXPECT_EQ(split, whole) << "split at " << k;
    if (split != whole) break;  // one report per message is enough
  }
  EXPECT_EQ(parse_bytewise<Parser>(msg, limits), whole) << "byte by byte";
  return whole;
}

inline std::string grind_request(std::string_view msg, HeadLimits limits = {},
                                 std::vector<std::size_t> around = {}) {
  return grind<RequestHeadParser>(msg, limits, std::move(around));
}
inline std::string grind_response(std::string_view msg, HeadLimits limits = {},
                                  std::vector<std::size_t> around = {}) {
  return grind<ResponseHeadParser>(msg, limits, std::move(around));
}

/// Decodes `pieces` in order with one decoder, looping feed() over each piece. Renders
/// "done <consumed> <data>", "need_more <data>" or "error".
inline std::string decode_pieces(const std::vector<std::string_view>& pieces,
                                 ChunkedDecoder::Limits limits = {}) {
  ChunkedDecoder d(limits);
  std::string data;
  std::size_t base = 0;
  for (auto piece : pieces) {
    std::size_t off = 0;
    while (off < piece.size()) {
      const auto step = d.feed(piece.substr(off));
      data.append(step.data);
      off += step.consumed;
      if (step.status == ChunkedDecoder::Status::error) return "error";
      if (step.status == ChunkedDecoder::Status::done) {
        return "done " + std::to_string(base + off) + " " + data;
      }
      if (step.consumed == 0) return "stalled";  // must never happen
    }
    base += piece.size();
  }
  return "need_more " + data;
}

inline std::string grind_chunked(std::string_view body, ChunkedDecoder::Limits limits = {}) {
  const auto whole = decode_pieces({body}, limits);
  const bool big = body.size() > 4096;
  for (std::size_t k = 0; k <= body.size(); ++k) {
    if (big && k % 251 != 0 && k > 64 && body.size() - k > 64) continue;
    const auto split = decode_pieces({body.substr(0, k), body.substr(k)}, limits);
    EXPECT_EQ(split, whole) << "split at " << k;
    if (split != whole) break;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < body.size(); ++i) bytes.push_back(body.substr(i, 1));
  EXPECT_EQ(decode_pieces(bytes, limits), whole) << "byte by byte";
  return whole;
}

}  // namespace netfence::http::test
