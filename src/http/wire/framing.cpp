#include "http/wire/framing.hpp"

#include <cstdint>
#include <limits>

#include "http/wire/head_common.hpp"

namespace netfence::http {
namespace {

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each comma-separated element (trimmed, possibly empty); stops and returns
// false as soon as f does.
template <class F>
bool for_each_element(std::string_view list, F&& f) {
  while (true) {
    const auto comma = list.find(',');
    if (!f(trim_ows(list.substr(0, comma)))) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

enum class Cl { absent, valid, invalid };

// All Content-Length values, across fields and comma lists, must be the same decimal number.
Cl content_length(const Headers& headers, std::uint64_t& length) {
  bool seen = false;
  for (const auto& f : headers) {
    if (!iequals(f.name, "content-length")) continue;
    const bool ok = for_each_element(f.value, [&](std::string_view e) {
      if (e.empty()) return false;
      std::uint64_t v = 0;
      for (char c : e) {
        if (c < '0' || c > '9') return false;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
        v = v * 10 + d;
      }
      if (seen && v != length) return false;
      seen = true;
      length = v;
      return true;
    });
    if (!ok) return Cl::invalid;
  }
  return seen ? Cl::valid : Cl::absent;
}

}  // namespace

WireResult<BodyFraming> request_framing(const RequestHead& head) {
  const auto& h = head.headers;
  const bool has_te = h.find("transfer-encoding") != nullptr;
  std::uint64_t length = 0;
  const Cl cl = content_length(h, length);
  if (has_te) {
    // CL+TE is the classic smuggling pair; anything but exactly `chunked` leaves the length
    // ambiguous between us and the origin.
    if (cl != Cl::absent || head.version_minor == 0) return kMalformedRequest;
    if (h.count("transfer-encoding") != 1) return kMalformedRequest;
    if (!iequals(h.find("transfer-encoding")->value, "chunked")) return kMalformedRequest;
    return BodyFraming{BodyFraming::Kind::chunked, 0};
  }
  switch (cl) {
    case Cl::absent:
      return BodyFraming{};
    case Cl::valid:
      return BodyFraming{BodyFraming::Kind::content_length, length};
    case Cl::invalid:
      break;
  }
  return kMalformedRequest;
}

WireResult<BodyFraming> response_framing(const ResponseHead& head,
                                         std::string_view request_method) {
  const int status = head.status;
  if (request_method == "HEAD" || (status >= 100 && status < 200) || status == 204 ||
      status == 304 || (request_method == "CONNECT" && status >= 200 && status < 300)) {
    return BodyFraming{};
  }
  const auto& h = head.headers;
  const bool has_te = h.find("transfer-encoding") != nullptr;
  std::uint64_t length = 0;
  const Cl cl = content_length(h, length);
  if (has_te) {
    if (cl != Cl::absent || head.version_minor == 0) return kUpstreamFailure;
    bool chunked_seen = false;  // chunked must be the last coding, and only once
    bool last_chunked = false;
    for (const auto& f : h) {
      if (!iequals(f.name, "transfer-encoding")) continue;
      const bool ok = for_each_element(f.value, [&](std::string_view e) {
        const auto coding = trim_ows(e.substr(0, e.find(';')));
        if (!detail::is_token(coding) || chunked_seen) return false;
        chunked_seen = last_chunked = iequals(coding, "chunked");
        return true;
      });
      if (!ok) return kUpstreamFailure;
    }
    return BodyFraming{last_chunked ? BodyFraming::Kind::chunked : BodyFraming::Kind::until_close,
                       0};
  }
  switch (cl) {
    case Cl::absent:
      return BodyFraming{BodyFraming::Kind::until_close, 0};
    case Cl::valid:
      return BodyFraming{BodyFraming::Kind::content_length, length};
    case Cl::invalid:
      break;
  }
  return kUpstreamFailure;
}

}  // namespace netfence::http
