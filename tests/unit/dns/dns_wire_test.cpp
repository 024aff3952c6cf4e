// The stub server's own DNS codec: malformed input must be refused, never crash.
#include "dns_wire.hpp"

#include <gtest/gtest.h>

#include <random>

namespace netfence::testing::dns_wire {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes header(std::uint16_t qdcount, std::uint16_t flags = 0x0100) {
  return {0x12,
          0x34,
          static_cast<std::uint8_t>(flags >> 8),
          static_cast<std::uint8_t>(flags),
          static_cast<std::uint8_t>(qdcount >> 8),
          static_cast<std::uint8_t>(qdcount),
          0,
          0,
          0,
          0,
          0,
          0};
}

Bytes with(Bytes head, const Bytes& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

TEST(DnsWire, ParsesAWellFormedQuery) {
  const Bytes packet = encode_query(0xBEEF, "Allowed.Test.", kTypeAaaa);
  const ParseResult parsed = parse_query(packet);
  ASSERT_TRUE(parsed.query);
  EXPECT_EQ(parsed.query->id, 0xBEEF);
  EXPECT_EQ(parsed.query->question.name(), "allowed.test");
  EXPECT_EQ(parsed.query->question.labels.front(), "Allowed");  // case kept for the echo
  EXPECT_EQ(parsed.query->question.type, kTypeAaaa);
  EXPECT_EQ(parsed.query->question.qclass, kClassIn);
  EXPECT_TRUE(parsed.query->recursion_desired());
}

TEST(DnsWire, IgnoresAdditionalRecordsSuchAsEdns) {
  Bytes packet = encode_query(1, "a.test", kTypeA);
  packet[11] = 1;  // ARCOUNT = 1: an OPT record
  const Bytes opt = {0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0};
  packet.insert(packet.end(), opt.begin(), opt.end());
  EXPECT_TRUE(parse_query(packet).query);
}

TEST(DnsWire, RefusesShortPacketsAndResponses) {
  EXPECT_EQ(parse_query(Bytes{}).error, ParseError::too_short);
  EXPECT_EQ(parse_query(Bytes(11, 0)).error, ParseError::too_short);
  Bytes response = encode_query(1, "a.test", kTypeA);
  response[2] |= 0x80;
  EXPECT_EQ(parse_query(response).error, ParseError::is_response);
}

TEST(DnsWire, RefusesWrongQuestionCounts) {
  EXPECT_EQ(parse_query(header(0)).error, ParseError::bad_question_count);
  const Bytes two = with(header(2), {1, 'a', 0, 0, 1, 0, 1, 1, 'b', 0, 0, 1, 0, 1});
  EXPECT_EQ(parse_query(two).error, ParseError::bad_question_count);
}

TEST(DnsWire, RefusesMalformedQuestions) {
  const std::vector<Bytes> bad = {
      header(1),                                    // no question at all
      with(header(1), {3, 'a', 'b'}),               // label runs past the end
      with(header(1), {1, 'a', 0}),                 // name but no type/class
      with(header(1), {1, 'a', 0, 0, 1, 0}),        // half a class
      with(header(1), {0x40, 'a', 0, 0, 1, 0, 1}),  // extended label type
      with(header(1), {0x80, 'a', 0, 0, 1, 0, 1}),  // reserved label type
      with(header(1), {0xC0, 12, 0, 1, 0, 1}),      // pointer to itself
      with(header(1), {0xC0, 40, 0, 1, 0, 1}),      // forward pointer
      with(header(1), {0xC0}),                      // half a pointer
  };
  for (const Bytes& packet : bad) {
    const ParseResult parsed = parse_query(packet);
    EXPECT_FALSE(parsed.query);
    EXPECT_EQ(parsed.error, ParseError::bad_question);
  }
}

TEST(DnsWire, RefusesOverlongNames) {
  Bytes labels;
  for (int i = 0; i < 5; ++i) {  // 5 × 64 octets > 255
    labels.push_back(63);
    labels.insert(labels.end(), 63, 'x');
  }
  labels.insert(labels.end(), {0, 0, 1, 0, 1});
  EXPECT_FALSE(parse_query(with(header(1), labels)).query);
}

TEST(DnsWire, FollowsBackwardPointersAndRejectsLoops) {
  // "b" + pointer to offset 0 where "a" is stored: reads "b.a".
  const Bytes packet = {1, 'a', 0, 1, 'b', 0xC0, 0};
  std::size_t offset = 3;
  std::vector<std::string> labels;
  ASSERT_TRUE(read_name(packet, offset, labels));
  EXPECT_EQ(labels, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(offset, 7u);

  const Bytes loop = {0xC0, 2, 0xC0, 0};  // 2 -> 0 -> 2 ...
  offset = 2;
  EXPECT_FALSE(read_name(loop, offset, labels));
}

TEST(DnsWire, EncodesNamesWithinLimits) {
  Bytes out;
  EXPECT_TRUE(append_name("a.b.", out));
  EXPECT_EQ(out, (Bytes{1, 'a', 1, 'b', 0}));
  out.clear();
  EXPECT_TRUE(append_name("", out));
  EXPECT_EQ(out, Bytes{0});
  EXPECT_FALSE(append_name("a..b", out));
  EXPECT_FALSE(append_name(std::string(64, 'x') + ".test", out));
}

TEST(DnsWire, ResponseRoundTrip) {
  const ParseResult parsed = parse_query(encode_query(7, "alias.test", kTypeA));
  ASSERT_TRUE(parsed.query);
  const Bytes bytes = encode_response(
      *parsed.query, Rcode::noerror, false,
      {make_cname("alias.test", "target.test", 30), make_a("target.test", {192, 0, 2, 1}, 60)});
  const auto response = parse_response(bytes);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->id, 7);
  EXPECT_EQ(response->rcode, Rcode::noerror);
  EXPECT_EQ(response->question_count, 1);
  ASSERT_EQ(response->answers.size(), 2u);
  EXPECT_EQ(response->answers[0].type, kTypeCname);
  EXPECT_EQ(response->answers[0].target, "target.test");
  EXPECT_EQ(response->answers[1].owner, "target.test");
  EXPECT_EQ(response->answers[1].rdata, (Bytes{192, 0, 2, 1}));
  EXPECT_EQ(response->answers[1].ttl, 60u);
}

TEST(DnsWire, RandomBytesNeverCrash) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 80);
  const Bytes valid = encode_query(1, "www.example.test", kTypeA);
  for (int i = 0; i < 20000; ++i) {
    Bytes packet;
    if (i % 2 == 0) {
      packet.resize(static_cast<std::size_t>(length(rng)));
      for (auto& b : packet) b = static_cast<std::uint8_t>(byte(rng));
    } else {  // mutate a valid query: more likely to get past the header checks
      packet = valid;
      packet[static_cast<std::size_t>(rng() % packet.size())] =
          static_cast<std::uint8_t>(byte(rng));
      packet.resize(rng() % (packet.size() + 1));
    }
    (void)parse_query(packet);
    (void)parse_response(packet);
  }
}

}  // namespace
}  // namespace netfence::testing::dns_wire
