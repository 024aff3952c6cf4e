#include "http/wire/request_head.hpp"

namespace netfence::http {
namespace {

bool parse_request_line(std::string_view line, RequestHead& head) {
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  const auto method = line.substr(0, sp1);
  if (!detail::is_token(method)) return false;
  const auto rest = line.substr(sp1 + 1);
  const auto sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos || sp2 == 0) return false;
  const auto target = rest.substr(0, sp2);
  for (char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7F) return false;
  }
  // Exact match: a second SP, lower-case "http", HTTP/0.9, HTTP/2.0 (the h2 preface) all fail.
  const auto version = rest.substr(sp2 + 1);
  if (version == "HTTP/1.1") {
    head.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    head.version_minor = 0;
  } else {
    return false;
  }
  head.method.assign(method);
  head.target.assign(target);
  return true;
}

}  // namespace

HeadParseResult RequestHeadParser::fail(WireError e) {
  phase_ = Phase::finished;
  result_ = HeadParseResult{ParseStatus::error, 0, e};
  return result_;
}

void RequestHeadParser::reset() {
  scanner_.reset();
  phase_ = Phase::leading;
  block_start_ = 0;
  host_fields_ = 0;
  result_ = {};
  head_ = {};
}

HeadParseResult RequestHeadParser::feed(std::string_view buffer) {
  using Status = detail::LineScanner::Status;
  if (phase_ == Phase::finished) return result_;

  if (phase_ == Phase::leading) {
    if (buffer.empty()) return {};
    if (buffer[0] == '\r') {
      if (buffer.size() < 2) return {};
      if (buffer[1] != '\n') return fail(kMalformedRequest);
      scanner_.skip_to(2);  // one tolerated leading CRLF (RFC 9112 §2.2)
    } else if (buffer[0] == '\n') {
      return fail(kMalformedRequest);
    }
    phase_ = Phase::request_line;
  }

  if (phase_ == Phase::request_line) {
    const auto line = scanner_.next_start_line(buffer, limits_.max_start_line);
    switch (line.status) {
      case Status::need_more:
        return {};
      case Status::too_long:
        return fail(kRequestLineTooLong);
      case Status::bare_lf:
        return fail(kMalformedRequest);
      case Status::line:
        break;
    }
    if (!parse_request_line(line.content, head_)) return fail(kMalformedRequest);
    block_start_ = scanner_.line_start();
    phase_ = Phase::fields;
  }

  while (true) {
    const auto line = scanner_.next_field_line(buffer, block_start_, limits_.max_header_bytes);
    switch (line.status) {
      case Status::need_more:
        return {};
      case Status::too_long:
        return fail(kHeaderFieldsTooLarge);
      case Status::bare_lf:
        return fail(kMalformedRequest);
      case Status::line:
        break;
    }
    if (line.content.empty()) {
      phase_ = Phase::finished;
      result_ = HeadParseResult{ParseStatus::done, scanner_.line_start(), {}};
      return result_;
    }
    if (head_.headers.size() >= limits_.max_fields) return fail(kHeaderFieldsTooLarge);
    std::string_view name;
    std::string_view value;
    if (!detail::parse_field_line(line.content, name, value)) return fail(kMalformedRequest);
    // Two Host fields let a proxy and an origin pick different hosts.
    if (iequals(name, "host") && ++host_fields_ > 1) return fail(kMalformedRequest);
    head_.headers.add(std::string(name), std::string(value));
  }
}

bool wants_keep_alive(const RequestHead& head) {
  if (headers_contain_token(head.headers, "connection", "close")) return false;
  if (head.version_minor >= 1) return true;
  return headers_contain_token(head.headers, "connection", "keep-alive");
}

}  // namespace netfence::http
