#include "http/wire/response_head.hpp"

namespace netfence::http {
namespace {

bool parse_status_line(std::string_view line, ResponseHead& head) {
  if (line.size() < 12) return false;  // "HTTP/1.x DDD"
  const auto version = line.substr(0, 8);
  if (version == "HTTP/1.1") {
    head.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    head.version_minor = 0;
  } else {
    return false;
  }
  if (line[8] != ' ') return false;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100) return false;
  std::string_view reason;
  if (line.size() > 12) {
    if (line[12] != ' ') return false;
    reason = line.substr(13);
    for (char ch : reason) {
      const auto c = static_cast<unsigned char>(ch);
      if (c != '\t' && (c < 0x20 || c == 0x7F)) return false;
    }
  }
  head.status = status;
  head.reason.assign(reason);
  return true;
}

}  // namespace

HeadParseResult ResponseHeadParser::fail() {
  phase_ = Phase::finished;
  result_ = HeadParseResult{ParseStatus::error, 0, kUpstreamFailure};
  return result_;
}

void ResponseHeadParser::reset() {
  scanner_.reset();
  phase_ = Phase::status_line;
  block_start_ = 0;
  result_ = {};
  head_ = {};
}

HeadParseResult ResponseHeadParser::feed(std::string_view buffer) {
  using Status = detail::LineScanner::Status;
  if (phase_ == Phase::finished) return result_;

  if (phase_ == Phase::status_line) {
    const auto line = scanner_.next_start_line(buffer, limits_.max_start_line);
    if (line.status == Status::need_more) return {};
    if (line.status != Status::line || !parse_status_line(line.content, head_)) return fail();
    block_start_ = scanner_.line_start();
    phase_ = Phase::fields;
  }

  while (true) {
    const auto line = scanner_.next_field_line(buffer, block_start_, limits_.max_header_bytes);
    if (line.status == Status::need_more) return {};
    if (line.status != Status::line) return fail();
    if (line.content.empty()) {
      phase_ = Phase::finished;
      result_ = HeadParseResult{ParseStatus::done, scanner_.line_start(), {}};
      return result_;
    }
    if (head_.headers.size() >= limits_.max_fields) return fail();
    std::string_view name;
    std::string_view value;
    if (!detail::parse_field_line(line.content, name, value)) return fail();
    head_.headers.add(std::string(name), std::string(value));
  }
}

}  // namespace netfence::http
