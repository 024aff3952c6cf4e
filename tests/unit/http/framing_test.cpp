#include "http/wire/framing.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "grind.hpp"

namespace netfence::http {
namespace {

using Kind = BodyFraming::Kind;
using Fields = std::vector<std::pair<std::string, std::string>>;

RequestHead request(Fields fields, int minor = 1) {
  RequestHead h;
  h.method = "POST";
  h.target = "http://example.com/";
  h.version_minor = minor;
  for (auto& [n, v] : fields) h.headers.add(n, v);
  return h;
}

ResponseHead response(int status, Fields fields, int minor = 1) {
  ResponseHead h;
  h.status = status;
  h.version_minor = minor;
  for (auto& [n, v] : fields) h.headers.add(n, v);
  return h;
}

std::string show(const WireResult<BodyFraming>& r) {
  if (!r) return "error " + std::to_string(r.error().status) + " " + std::string(r.error().body);
  switch (r->kind) {
    case Kind::none:
      return "none";
    case Kind::content_length:
      return "length " + std::to_string(r->length);
    case Kind::chunked:
      return "chunked";
    case Kind::until_close:
      return "until_close";
  }
  return "?";
}

const std::string kMalformed = "error 400 malformed request";
const std::string kFail = "error 502 upstream failure";

TEST(RequestFraming, Valid) {
  EXPECT_EQ(show(request_framing(request({}))), "none");
  EXPECT_EQ(show(request_framing(request({{"Content-Length", "0"}}))), "length 0");
  EXPECT_EQ(show(request_framing(request({{"content-length", "10"}}))), "length 10");
  EXPECT_EQ(show(request_framing(request({{"Content-Length", "007"}}))), "length 7");
  EXPECT_EQ(show(request_framing(request({{"Content-Length", "18446744073709551615"}}))),
            "length 18446744073709551615");
  // Identical repeats count as one.
  EXPECT_EQ(show(request_framing(request({{"Content-Length", "10, 10"}}))), "length 10");
  EXPECT_EQ(show(request_framing(request({{"Content-Length", "10"}, {"Content-Length", "10"}}))),
            "length 10");
  EXPECT_EQ(show(request_framing(request({{"Transfer-Encoding", "chunked"}}))), "chunked");
  EXPECT_EQ(show(request_framing(request({{"transfer-encoding", "Chunked"}}))), "chunked");
}

TEST(RequestFraming, Smuggling) {
  // §18 row 12.
  const std::vector<Fields> bad = {
      {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}},
      {{"Transfer-Encoding", "chunked"}, {"Content-Length", "0"}},
      {{"Transfer-Encoding", "chunked, identity"}},
      {{"Transfer-Encoding", "identity"}},
      {{"Transfer-Encoding", "gzip, chunked"}},
      {{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}},
      {{"Transfer-Encoding", "chunked;x=1"}},
      {{"Transfer-Encoding", "xchunked"}},
      {{"Transfer-Encoding", ""}},
      {{"Content-Length", "10"}, {"Content-Length", "11"}},
      {{"Content-Length", "10, 11"}},
      {{"Content-Length", "10,"}},
      {{"Content-Length", ""}},
      {{"Content-Length", "+10"}},
      {{"Content-Length", "-1"}},
      {{"Content-Length", "1 0"}},
      {{"Content-Length", "0x10"}},
      {{"Content-Length", "10a"}},
      {{"Content-Length", "1e3"}},
      {{"Content-Length", "18446744073709551616"}},
      {{"Content-Length", "99999999999999999999999"}},
  };
  for (const auto& fields : bad) {
    EXPECT_EQ(show(request_framing(request(fields))), kMalformed)
        << fields.front().first << ": " << fields.front().second;
  }
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
  EXPECT_EQ(show(request_framing(request({{"Transfer-Encoding", "chunked"}}, 0))), kMalformed);
}

TEST(RequestFraming, FromParsedHead) {
  // End to end with the head parser: the head parses, the framing refuses it.
  RequestHeadParser p;
  const std::string msg =
      "POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  ASSERT_EQ(p.feed(msg).status, ParseStatus::done);
  EXPECT_EQ(show(request_framing(p.head())), kMalformed);
}

TEST(ResponseFraming, NoBody) {
  const Fields cl = {{"Content-Length", "10"}};
  EXPECT_EQ(show(response_framing(response(200, cl), "HEAD")), "none");
  EXPECT_EQ(show(response_framing(response(100, {}), "GET")), "none");
  EXPECT_EQ(show(response_framing(response(101, {}), "GET")), "none");
  EXPECT_EQ(show(response_framing(response(204, cl), "GET")), "none");
  EXPECT_EQ(show(response_framing(response(304, cl), "GET")), "none");
  EXPECT_EQ(show(response_framing(response(200, {}), "CONNECT")), "none");
  EXPECT_EQ(show(response_framing(response(407, cl), "CONNECT")), "length 10");
}

TEST(ResponseFraming, Bodies) {
  EXPECT_EQ(show(response_framing(response(200, {}), "GET")), "until_close");
  EXPECT_EQ(show(response_framing(response(200, {{"Content-Length", "10, 10"}}), "GET")),
            "length 10");
  EXPECT_EQ(show(response_framing(response(200, {{"Transfer-Encoding", "chunked"}}), "GET")),
            "chunked");
  EXPECT_EQ(show(response_framing(response(200, {{"Transfer-Encoding", "gzip, Chunked"}}), "POST")),
            "chunked");
  EXPECT_EQ(
      show(response_framing(
          response(200, {{"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}}), "GET")),
      "chunked");
  EXPECT_EQ(show(response_framing(response(200, {{"Transfer-Encoding", "gzip"}}), "GET")),
            "until_close");
}

TEST(ResponseFraming, Invalid) {
  const std::vector<Fields> bad = {
      {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}},
      {{"Content-Length", "5"}, {"Content-Length", "6"}},
      {{"Content-Length", "5, 6"}},
      {{"Content-Length", "abc"}},
      {{"Transfer-Encoding", "chunked, gzip"}},
      {{"Transfer-Encoding", "chunked, chunked"}},
      {{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}},
      {{"Transfer-Encoding", ""}},
      {{"Transfer-Encoding", "gzip,,chunked"}},
      {{"Transfer-Encoding", "g zip, chunked"}},
  };
  for (const auto& fields : bad) {
    EXPECT_EQ(show(response_framing(response(200, fields), "GET")), kFail)
        << fields.front().first << ": " << fields.front().second;
  }
  EXPECT_EQ(show(response_framing(response(200, {{"Transfer-Encoding", "chunked"}}, 0), "GET")),
            kFail);
}

}  // namespace
}  // namespace netfence::http
