// Minimal DNS wire format (RFC 1035 §4) for the stub DNS server and the tests that poke it.
//
// Written by hand on purpose: Debian 12 has no small library that both decodes queries and builds
// scripted answers (c-ares only builds queries and parses answers, ldns/libunbound are whole
// resolvers), and a stub that tests the resolver must not share its parser with it.
//
// Everything here is pure (no sockets) and total: any byte string yields a value or nullopt,
// never a crash, so the server can face garbage.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace netfence::testing::dns_wire {

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeCname = 5;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kClassIn = 1;
inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxNameLength = 255;  // wire octets, RFC 1035 §2.3.4
inline constexpr std::size_t kMaxLabelLength = 63;

enum class Rcode : std::uint8_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5
};

/// "A", "AAAA", "CNAME" or "TYPE<n>".
std::string type_name(std::uint16_t type);

struct Question {
  std::vector<std::string> labels;  // raw label bytes as received (case preserved)
  std::uint16_t type = 0;
  std::uint16_t qclass = 0;
  /// Labels joined by '.', lower-cased (ASCII), no trailing dot; "" for the root.
  std::string name() const;
};

struct Query {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;  // header word 2 as received (QR, opcode, RD, ...)
  Question question;
  std::uint8_t opcode() const { return static_cast<std::uint8_t>((flags >> 11) & 0xF); }
  bool recursion_desired() const { return (flags & 0x0100) != 0; }
};

/// Why parse_query() refused a packet. `too_short` and `is_response` packets get no reply at
/// all (nothing trustworthy to reply to); the others get a header-only FORMERR.
enum class ParseError : std::uint8_t { too_short, is_response, bad_question_count, bad_question };

struct ParseResult {
  std::optional<Query> query;
  ParseError error = ParseError::too_short;  // meaningful only when !query
};

/// Parses a DNS query with exactly one question. Additional sections (EDNS OPT, ...) are ignored.
ParseResult parse_query(std::span<const std::uint8_t> packet);

/// Reads a possibly compressed name starting at `offset`; on success advances `offset` past the
/// name's in-place bytes. Rejects pointer loops, over-long labels/names and reads past the end.
bool read_name(std::span<const std::uint8_t> packet, std::size_t& offset,
               std::vector<std::string>& labels);

/// Appends `name` ("a.b.c", trailing dot optional) as uncompressed labels; false if a label is
/// empty or too long, or the name is too long.
bool append_name(std::string_view name, std::vector<std::uint8_t>& out);

struct Record {
  std::string owner;  // dotted name
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;  // already encoded (4/16 address bytes, or a name)
};

Record make_a(std::string owner, const std::array<std::uint8_t, 4>& address, std::uint32_t ttl);
Record make_aaaa(std::string owner, const std::array<std::uint8_t, 16>& address, std::uint32_t ttl);
Record make_cname(std::string owner, std::string_view target, std::uint32_t ttl);

/// A response echoing `query`'s id, RD bit and question, with AA and RA set.
std::vector<std::uint8_t> encode_response(const Query& query, Rcode rcode, bool truncated,
                                          const std::vector<Record>& answers);

/// A header-only response (no question) for packets whose question could not be read.
std::vector<std::uint8_t> encode_error_header(std::uint16_t id, Rcode rcode);

/// A standard recursive query (for tests that talk to the stub directly).
std::vector<std::uint8_t> encode_query(std::uint16_t id, std::string_view name, std::uint16_t type);

/// One answer record as tests see it.
struct Answer {
  std::string owner;  // lower-cased dotted name
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;  // raw rdata (4 or 16 bytes for A / AAAA)
  std::string target;               // decoded CNAME target, else empty
};

/// The parts of a response that tests look at.
struct Response {
  std::uint16_t id = 0;
  Rcode rcode = Rcode::noerror;
  bool truncated = false;
  std::uint16_t question_count = 0;
  std::vector<Answer> answers;
};

/// Parses a response (tests only); nullopt when malformed.
std::optional<Response> parse_response(std::span<const std::uint8_t> packet);

}  // namespace netfence::testing::dns_wire
