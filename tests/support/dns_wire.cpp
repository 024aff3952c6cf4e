#include "dns_wire.hpp"

#include <algorithm>

namespace netfence::testing::dns_wire {
namespace {

std::uint16_t read16(std::span<const std::uint8_t> p, std::size_t at) {
  return static_cast<std::uint16_t>((p[at] << 8) | p[at + 1]);
}

std::uint32_t read32(std::span<const std::uint8_t> p, std::size_t at) {
  return (std::uint32_t{p[at]} << 24) | (std::uint32_t{p[at + 1]} << 16) |
         (std::uint32_t{p[at + 2]} << 8) | std::uint32_t{p[at + 3]};
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xFFFF));
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string join_lower(const std::vector<std::string>& labels) {
  std::string out;
  for (const auto& label : labels) {
    if (!out.empty()) out.push_back('.');
    for (char c : label) out.push_back(ascii_lower(c));
  }
  return out;
}

void put_labels(const std::vector<std::string>& labels, std::vector<std::uint8_t>& out) {
  for (const auto& label : labels) {
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
}

}  // namespace

std::string type_name(std::uint16_t type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeAaaa:
      return "AAAA";
    case kTypeCname:
      return "CNAME";
    default:
      return "TYPE" + std::to_string(type);
  }
}

std::string Question::name() const { return join_lower(labels); }

bool read_name(std::span<const std::uint8_t> packet, std::size_t& offset,
               std::vector<std::string>& labels) {
  labels.clear();
  std::size_t pos = offset;
  std::size_t wire_length = 1;  // the final zero octet
  bool jumped = false;
  // Each pointer must go strictly backwards, which rules out loops; the cap is belt and braces.
  std::size_t last_pointer_target = pos;
  for (int hops = 0; hops < 128; ++hops) {
    if (pos >= packet.size()) return false;
    const std::uint8_t len = packet[pos];
    if (len == 0) {
      if (!jumped) offset = pos + 1;
      return true;
    }
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= packet.size()) return false;
      const std::size_t target = static_cast<std::size_t>(((len & 0x3F) << 8) | packet[pos + 1]);
      if (target >= last_pointer_target) return false;
      if (!jumped) offset = pos + 2;
      jumped = true;
      last_pointer_target = target;
      pos = target;
      continue;
    }
    if ((len & 0xC0) != 0) return false;  // 0x40/0x80: obsolete extended label types
    if (pos + 1 + len > packet.size()) return false;
    wire_length += 1 + len;
    if (wire_length > kMaxNameLength) return false;
    labels.emplace_back(reinterpret_cast<const char*>(packet.data() + pos + 1), len);
    pos += 1 + len;
  }
  return false;
}

bool append_name(std::string_view name, std::vector<std::uint8_t>& out) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::vector<std::uint8_t> encoded;
  std::size_t start = 0;
  while (!name.empty() && start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    const std::size_t len = dot - start;
    if (len == 0 || len > kMaxLabelLength) return false;
    encoded.push_back(static_cast<std::uint8_t>(len));
    encoded.insert(encoded.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
                   name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  encoded.push_back(0);
  if (encoded.size() > kMaxNameLength) return false;
  out.insert(out.end(), encoded.begin(), encoded.end());
  return true;
}

ParseResult parse_query(std::span<const std::uint8_t> packet) {
  ParseResult result;
  if (packet.size() < kHeaderSize) {
    result.error = ParseError::too_short;
    return result;
  }
  const std::uint16_t flags = read16(packet, 2);
  if ((flags & 0x8000) != 0) {
    result.error = ParseError::is_response;
    return result;
  }
  if (read16(packet, 4) != 1) {
    result.error = ParseError::bad_question_count;
    return result;
  }
  Query query;
  query.id = read16(packet, 0);
  query.flags = flags;
  std::size_t offset = kHeaderSize;
  if (!read_name(packet, offset, query.question.labels) || offset + 4 > packet.size()) {
    result.error = ParseError::bad_question;
    return result;
  }
  query.question.type = read16(packet, offset);
  query.question.qclass = read16(packet, offset + 2);
  result.query = std::move(query);
  return result;
}

Record make_a(std::string owner, const std::array<std::uint8_t, 4>& address, std::uint32_t ttl) {
  return Record{std::move(owner), kTypeA, ttl, {address.begin(), address.end()}};
}

Record make_aaaa(std::string owner, const std::array<std::uint8_t, 16>& address,
                 std::uint32_t ttl) {
  return Record{std::move(owner), kTypeAaaa, ttl, {address.begin(), address.end()}};
}

Record make_cname(std::string owner, std::string_view target, std::uint32_t ttl) {
  Record r{std::move(owner), kTypeCname, ttl, {}};
  if (!append_name(target, r.rdata)) r.rdata = {0};  // unencodable target: the root
  return r;
}

std::vector<std::uint8_t> encode_response(const Query& query, Rcode rcode, bool truncated,
                                          const std::vector<Record>& answers) {
  std::vector<std::uint8_t> out;
  out.reserve(512);
  put16(out, query.id);
  // QR | opcode | AA | TC | RD (echoed) , RA | rcode
  std::uint16_t flags = 0x8000 | 0x0400 | 0x0080;
  flags = static_cast<std::uint16_t>(flags | (query.flags & 0x7800) | (query.flags & 0x0100));
  if (truncated) flags |= 0x0200;
  flags = static_cast<std::uint16_t>(flags | static_cast<std::uint16_t>(rcode));
  put16(out, flags);
  put16(out, 1);
  std::vector<std::uint8_t> body;
  std::uint16_t count = 0;
  for (const auto& r : answers) {
    std::vector<std::uint8_t> owner;
    if (!append_name(r.owner, owner) || r.rdata.size() > 0xFFFF) continue;
    body.insert(body.end(), owner.begin(), owner.end());
    put16(body, r.type);
    put16(body, kClassIn);
    put32(body, r.ttl);
    put16(body, static_cast<std::uint16_t>(r.rdata.size()));
    body.insert(body.end(), r.rdata.begin(), r.rdata.end());
    ++count;
  }
  put16(out, count);
  put16(out, 0);
  put16(out, 0);
  put_labels(query.question.labels, out);
  put16(out, query.question.type);
  put16(out, query.question.qclass);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::vector<std::uint8_t> encode_error_header(std::uint16_t id, Rcode rcode) {
  std::vector<std::uint8_t> out;
  put16(out, id);
  put16(out, static_cast<std::uint16_t>(0x8000 | static_cast<std::uint16_t>(rcode)));
  for (int i = 0; i < 4; ++i) put16(out, 0);
  return out;
}

std::vector<std::uint8_t> encode_query(std::uint16_t id, std::string_view name,
                                       std::uint16_t type) {
  std::vector<std::uint8_t> out;
  put16(out, id);
  put16(out, 0x0100);  // RD
  put16(out, 1);
  put16(out, 0);
  put16(out, 0);
  put16(out, 0);
  if (!append_name(name, out)) out.push_back(0);
  put16(out, type);
  put16(out, kClassIn);
  return out;
}

std::optional<Response> parse_response(std::span<const std::uint8_t> packet) {
  if (packet.size() < kHeaderSize) return std::nullopt;
  Response r;
  r.id = read16(packet, 0);
  const std::uint16_t flags = read16(packet, 2);
  if ((flags & 0x8000) == 0) return std::nullopt;
  r.truncated = (flags & 0x0200) != 0;
  r.rcode = static_cast<Rcode>(flags & 0xF);
  r.question_count = read16(packet, 4);
  const std::uint16_t ancount = read16(packet, 6);
  std::size_t offset = kHeaderSize;
  std::vector<std::string> labels;
  for (std::uint16_t i = 0; i < r.question_count; ++i) {
    if (!read_name(packet, offset, labels) || offset + 4 > packet.size()) return std::nullopt;
    offset += 4;
  }
  for (std::uint16_t i = 0; i < ancount; ++i) {
    Answer a;
    if (!read_name(packet, offset, labels) || offset + 10 > packet.size()) return std::nullopt;
    a.owner = join_lower(labels);
    a.type = read16(packet, offset);
    a.ttl = read32(packet, offset + 4);
    const std::size_t rdlength = read16(packet, offset + 8);
    offset += 10;
    if (offset + rdlength > packet.size()) return std::nullopt;
    a.rdata.assign(packet.begin() + static_cast<std::ptrdiff_t>(offset),
                   packet.begin() + static_cast<std::ptrdiff_t>(offset + rdlength));
    if (a.type == kTypeCname) {
      std::size_t at = offset;
      if (!read_name(packet, at, labels)) return std::nullopt;
      a.target = join_lower(labels);
    }
    offset += rdlength;
    r.answers.push_back(std::move(a));
  }
  return r;
}

}  // namespace netfence::testing::dns_wire
