#include "http/wire/request_head.hpp"

#include <gtest/gtest.h>

#include <string>

#include "grind.hpp"

namespace netfence::http {
namespace {

using test::grind_request;

const std::string kMalformed = "error 400 malformed request";
const std::string kTooLong = "error 414 request line too long";
const std::string kTooLarge = "error 431 request header fields too large";

std::string done(std::size_t consumed, std::string rest) {
  return "done " + std::to_string(consumed) + " " + rest;
}

TEST(RequestHead, SimpleAbsoluteForm) {
  const std::string msg = "GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n";
  EXPECT_EQ(grind_request(msg),
            done(msg.size(), "GET http://example.com/a?b 1.1|Host=example.com"));
}

TEST(RequestHead, NoFields) {
  const std::string msg = "CONNECT example.com:443 HTTP/1.0\r\n\r\n";
  EXPECT_EQ(grind_request(msg), done(msg.size(), "CONNECT example.com:443 1.0"));
}

TEST(RequestHead, PipelinedBytesAreNotConsumed) {
  const std::string head = "GET http://a.com/ HTTP/1.1\r\nX: 1\r\n\r\n";
  const std::string msg = head + "GET http://b.com/ HTTP/1.1\r\n\r\n";
  EXPECT_EQ(grind_request(msg), done(head.size(), "GET http://a.com/ 1.1|X=1"));
  const std::string body = head + "hello";
  EXPECT_EQ(grind_request(body), done(head.size(), "GET http://a.com/ 1.1|X=1"));
}

TEST(RequestHead, IncompleteNeedsMore) {
  EXPECT_EQ(grind_request(""), "need_more");
  EXPECT_EQ(grind_request("GET http://a.com/ HTTP/1.1\r\nX: 1\r\n"), "need_more");
  EXPECT_EQ(grind_request("GET http://a.com/ HTTP/1.1\r\nX: 1\r\n\r"), "need_more");
  EXPECT_EQ(grind_request("\r"), "need_more");
}

TEST(RequestHead, ValuesAreTrimmedAndKeepInnerWhitespace) {
  const std::string msg =
      "GET / HTTP/1.1\r\nA:  x  y \t\r\nB:\r\nC:\t\r\nD:v\r\nE: caf\xC3\xA9\r\n\r\n";
  EXPECT_EQ(grind_request(msg), done(msg.size(), "GET / 1.1|A=x  y|B=|C=|D=v|E=caf\xC3\xA9"));
}

TEST(RequestHead, OneLeadingCrlfIsTolerated) {
  const std::string msg = "\r\nGET / HTTP/1.1\r\n\r\n";
  EXPECT_EQ(grind_request(msg), done(msg.size(), "GET / 1.1"));
  EXPECT_EQ(grind_request("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), kMalformed);
  EXPECT_EQ(grind_request("\nGET / HTTP/1.1\r\n\r\n"), kMalformed);
  EXPECT_EQ(grind_request("\rGET / HTTP/1.1\r\n\r\n"), kMalformed);
}

TEST(RequestHead, OnlyHttp10And11) {
  // §18 row 12: the HTTP/2 connection preface.
  EXPECT_EQ(grind_request("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), kMalformed);
  for (const char* line :
       {"GET / HTTP/1.2", "GET / HTTP/2", "GET / HTTP/0.9", "GET / http/1.1", "GET / HTTP/1.1 ",
        "GET / HTTP/1.10", "GET /", "GET", "GET / HTTP/1", "GET / HTTPS/1.1"}) {
    EXPECT_EQ(grind_request(std::string(line) + "\r\n\r\n"), kMalformed) << line;
  }
}

TEST(RequestHead, RequestLineShape) {
  for (const char* line :
       {"GET  / HTTP/1.1", "GET /  HTTP/1.1", " GET / HTTP/1.1", "GET\t/ HTTP/1.1",
        "GET /\tHTTP/1.1", "G(T / HTTP/1.1", "GE\"T / HTTP/1.1", "GET /a b HTTP/1.1",
        "GET /\x7F HTTP/1.1", "GET /\x01 HTTP/1.1", " / HTTP/1.1", ""}) {
    EXPECT_EQ(grind_request(std::string(line) + "\r\n\r\n"), kMalformed) << line;
  }
  // Methods are tokens; case is preserved (and is the policy's business, not ours).
  EXPECT_EQ(grind_request("get / HTTP/1.1\r\n\r\n"), done(18, "get / 1.1"));
  EXPECT_EQ(grind_request("M-SEARCH * HTTP/1.1\r\n\r\n"), done(23, "M-SEARCH * 1.1"));
  // Non-ASCII bytes in the target pass here; target.hpp rejects them for proxy targets.
  EXPECT_EQ(grind_request("GET /\xC3\xA9 HTTP/1.1\r\n\r\n"), done(20, "GET /\xC3\xA9 1.1"));
}

TEST(RequestHead, ObsFoldIsRejected) {
  EXPECT_EQ(grind_request("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), kMalformed);
  EXPECT_EQ(grind_request("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), kMalformed);
  EXPECT_EQ(grind_request("GET / HTTP/1.1\r\n X: a\r\n\r\n"), kMalformed);
}

TEST(RequestHead, FieldNames) {
  for (const char* field : {"Host : example.com", "Host\t: example.com", ": x", "X@Y: 1", "X\"Y: 1",
                            "X(Y): 1", "X Y: 1", "NoColon", "X/Y: 1", "X\x80: 1"}) {
    EXPECT_EQ(grind_request("GET / HTTP/1.1\r\n" + std::string(field) + "\r\n\r\n"), kMalformed)
        << field;
  }
  EXPECT_EQ(grind_request("GET / HTTP/1.1\r\nX-A_b.c~!#$%&'*+^`|: 1\r\n\r\n"),
            done(42, "GET / 1.1|X-A_b.c~!#$%&'*+^`|=1"));
}

TEST(RequestHead, NulBareCrBareLf) {
  using namespace std::string_literals;
  for (const std::string& msg : {
           "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"s,
           "GET /\0 HTTP/1.1\r\n\r\n"s,
           "GE\0T / HTTP/1.1\r\n\r\n"s,
           "GET / HTTP/1.1\r\nX\0: 1\r\n\r\n"s,
           "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"s,
           "GET / HTTP/1.1\r\nX: a\r\r\n\r\n"s,
           "GET / HTTP/1.1\r\nX: a\r\n\rY: b\r\n\r\n"s,
           "GET / HTTP/1.1\r\r\n\r\n"s,
           "GET / HTTP/1.1\n\r\n"s,
           "GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n"s,
           "GET / HTTP/1.1\r\nX: a\r\n\n"s,
           "GET / HTTP/1.1\r\n\n"s,
           "GET / HTTP/1.1\n\n"s,
           "GET / HTTP/1.1\r\nX: \x01\r\n\r\n"s,
           "GET / HTTP/1.1\r\nX: \x7F\r\n\r\n"s,
           "GET / HTTP/1.1\r\nX: \x1B[31m\r\n\r\n"s,
       }) {
    EXPECT_EQ(grind_request(msg), kMalformed) << testing::PrintToString(msg);
  }
}

TEST(RequestHead, DuplicateHostIsRejected) {
  EXPECT_EQ(grind_request("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\nHost: a.com\r\n\r\n"),
            kMalformed);
  EXPECT_EQ(grind_request("GET http://a.com/ HTTP/1.1\r\nhost: a.com\r\nX: 1\r\nHOST: b\r\n\r\n"),
            kMalformed);
}

TEST(RequestHead, RequestLineLimit) {
  // 8192 bytes of request line (without CRLF) are fine, 8193 are 414.
  const std::string prefix = "GET /";
  const std::string suffix = " HTTP/1.1";
  const std::string ok = prefix + std::string(8192 - prefix.size() - suffix.size(), 'a') + suffix;
  ASSERT_EQ(ok.size(), 8192u);
  EXPECT_EQ(grind_request(ok + "\r\n\r\n", {}, {8192, 8194}).substr(0, 9), "done 8196");
  const std::string over = "GET /a" + ok.substr(5);
  EXPECT_EQ(grind_request(over + "\r\n\r\n", {}, {8192, 8194}), kTooLong);
  // §18 row 13: 9 KiB request line.
  const std::string nine = prefix + std::string(9 * 1024, 'a') + suffix + "\r\n\r\n";
  EXPECT_EQ(grind_request(nine, {}, {8192, 8194}), kTooLong);
  // With a leading CRLF the limit still applies to the line itself.
  EXPECT_EQ(grind_request("\r\n" + ok + "\r\n\r\n", {}, {8194, 8196}).substr(0, 9), "done 8198");
  // A 9 KiB line with a bad byte early is still 414: length is checked first, so the answer
  // never depends on how the bytes arrived.
  EXPECT_EQ(grind_request("GET /\x01" + nine.substr(5), {}, {8192}), kTooLong);
}

TEST(RequestHead, RequestLineLimitIsDetectedEarly) {
  const std::string line(8192, 'a');
  RequestHeadParser p;
  EXPECT_EQ(p.feed(line).status, ParseStatus::need_more);
  EXPECT_EQ(p.feed(line + "\r").status, ParseStatus::need_more);  // could still be a CRLF
  RequestHeadParser q;
  const auto r = q.feed(line + "a");  // 8193 bytes, no CRLF possible within the limit
  EXPECT_EQ(r.status, ParseStatus::error);
  EXPECT_EQ(r.error, kRequestLineTooLong);
  RequestHeadParser s;
  EXPECT_EQ(s.feed(line + "\rx").error, kRequestLineTooLong);
}

std::string fields_of_total_size(std::size_t total) {
  // Field lines "X<n>: aaaa\r\n" adding up to exactly `total` bytes.
  std::string out;
  int n = 0;
  while (out.size() < total) {
    const std::size_t left = total - out.size();
    std::string name = "X";  // (operator+ on a literal trips GCC 12 -Wrestrict)
    name += std::to_string(n++);
    const std::size_t overhead = name.size() + 4;  // ": " + CRLF
    std::size_t value = left > 1000 + overhead ? 1000 : left - overhead;
    if (left - overhead - value < 8 && left > 1000 + overhead) value = 900;
    out += name + ": " + std::string(value, 'v') + "\r\n";
  }
  return out;
}

TEST(RequestHead, HeaderBlockLimit) {
  const std::string line = "GET / HTTP/1.1\r\n";
  const std::string ok_fields = fields_of_total_size(65536);
  ASSERT_EQ(ok_fields.size(), 65536u);
  const std::size_t end = line.size() + 65536;
  EXPECT_EQ(grind_request(line + ok_fields + "\r\n", {}, {end}).substr(0, 10), "done 65554");
  const std::string over = fields_of_total_size(65537);
  ASSERT_EQ(over.size(), 65537u);
  EXPECT_EQ(grind_request(line + over + "\r\n", {}, {end}), kTooLarge);
  // §18 row 13: 65 KiB of headers in one field and in many.
  EXPECT_EQ(grind_request(line + "X: " + std::string(65 * 1024, 'a') + "\r\n\r\n", {}, {end}),
            kTooLarge);
  EXPECT_EQ(grind_request(line + fields_of_total_size(65 * 1024 + 7) + "\r\n", {}, {end}),
            kTooLarge);
  // Never terminated: detected as soon as the block cannot fit.
  RequestHeadParser p;
  const std::string endless = line + "X: " + std::string(65536, 'a');
  EXPECT_EQ(p.feed(endless.substr(0, end - 1)).status, ParseStatus::need_more);
  EXPECT_EQ(p.feed(endless.substr(0, end)).error, kHeaderFieldsTooLarge);
}

TEST(RequestHead, FieldCountLimit) {
  std::string fields;
  for (int i = 0; i < 128; ++i) fields.append("X").append(std::to_string(i)).append(": v\r\n");
  const std::string line = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(grind_request(line + fields + "\r\n").substr(0, 4), "done");
  // §18 row 13: 129 fields.
  EXPECT_EQ(grind_request(line + fields + "X128: v\r\n\r\n"), kTooLarge);
}

TEST(RequestHead, CustomLimits) {
  const HeadLimits small{20, 32, 2};
  EXPECT_EQ(grind_request("GET /1234567 HTTP/1.1\r\n\r\n", small), kTooLong);
  EXPECT_EQ(grind_request("GET /123456 HTTP/1.1\r\n\r\n", small).substr(0, 4), "done");
  EXPECT_EQ(grind_request("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", small), kTooLarge);
  EXPECT_EQ(grind_request("GET / HTTP/1.1\r\nA: 1234567890123456789012345678\r\n\r\n", small),
            kTooLarge);
  EXPECT_EQ(
      grind_request("GET / HTTP/1.1\r\nA: 123456789012345678901234567\r\n\r\n", small).substr(0, 4),
      "done");
}

TEST(RequestHead, ResultIsStickyAndResetStartsOver) {
  RequestHeadParser p;
  const std::string two =
      "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  auto r = p.feed(two);
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(r.consumed, 19u);
  EXPECT_EQ(p.feed(two).consumed, 19u);
  auto first = p.take_head();
  EXPECT_EQ(first.target, "/a");
  EXPECT_TRUE(wants_keep_alive(first));
  p.reset();
  r = p.feed(std::string_view(two).substr(19));
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(p.head().target, "/b");
  EXPECT_EQ(p.head().version_minor, 0);
  EXPECT_TRUE(wants_keep_alive(p.head()));
}

TEST(RequestHead, KeepAlive) {
  auto head = [](int minor, const char* connection) {
    RequestHead h;
    h.version_minor = minor;
    if (connection != nullptr) h.headers.add("Connection", connection);
    return h;
  };
  EXPECT_TRUE(wants_keep_alive(head(1, nullptr)));
  EXPECT_FALSE(wants_keep_alive(head(1, "close")));
  EXPECT_FALSE(wants_keep_alive(head(1, "Upgrade, Close")));
  EXPECT_FALSE(wants_keep_alive(head(0, nullptr)));
  EXPECT_TRUE(wants_keep_alive(head(0, "Keep-Alive")));
}

TEST(RequestHead, ByteByByteFeedingIsLinear) {
  // A slowloris client: 64 KiB of head fed one byte at a time must not rescan the buffer.
  std::string msg = "GET / HTTP/1.1\r\n" + fields_of_total_size(65000) + "\r\n";
  RequestHeadParser p;
  HeadParseResult r;
  for (std::size_t i = 1; i <= msg.size(); ++i) r = p.feed(std::string_view(msg).substr(0, i));
  EXPECT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(r.consumed, msg.size());
}

}  // namespace
}  // namespace netfence::http
