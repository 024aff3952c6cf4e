#include "http/wire/response_head.hpp"

#include <gtest/gtest.h>

#include <string>

#include "grind.hpp"

namespace netfence::http {
namespace {

using test::grind_response;

const std::string kFail = "error 502 upstream failure";

TEST(ResponseHead, Simple) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX:  a \r\n\r\n";
  EXPECT_EQ(grind_response(head + "hello"),
            "done " + std::to_string(head.size()) + " 1.1 200 OK|Content-Length=5|X=a");
}

TEST(ResponseHead, ReasonForms) {
  EXPECT_EQ(grind_response("HTTP/1.1 204\r\n\r\n"), "done 16 1.1 204 ");
  EXPECT_EQ(grind_response("HTTP/1.1 204 \r\n\r\n"), "done 17 1.1 204 ");
  EXPECT_EQ(grind_response("HTTP/1.0 404 Not  Found\t!\r\n\r\n"), "done 29 1.0 404 Not  Found\t!");
  EXPECT_EQ(grind_response("HTTP/1.1 200 D\xC3\xA9j\xC3\xA0\r\n\r\n"),
            "done 23 1.1 200 D\xC3\xA9j\xC3\xA0");
  EXPECT_EQ(grind_response("HTTP/1.1 999 Odd\r\n\r\n"), "done 20 1.1 999 Odd");
}

TEST(ResponseHead, BadStatusLines) {
  using namespace std::string_literals;
  for (const std::string& line :
       {"HTTP/2 200 OK"s, "HTTP/2.0 200 OK"s, "HTTP/1.2 200 OK"s, "http/1.1 200 OK"s,
        "HTTP/1.1 20 OK"s, "HTTP/1.1 2000 OK"s, "HTTP/1.1 099 Low"s, "HTTP/1.1 200OK"s,
        "HTTP/1.1  200 OK"s, "HTTP/1.1 2x0 OK"s, "HTTP/1.1 200 O\0K"s, "HTTP/1.1 200 O\x7FK"s,
        "HTTP/1.1 200 O\rK"s, ""s, " HTTP/1.1 200 OK"s, "ICY 200 OK"s}) {
    EXPECT_EQ(grind_response(line + "\r\n\r\n"), kFail) << testing::PrintToString(line);
  }
  // No leading empty line is tolerated from an upstream.
  EXPECT_EQ(grind_response("\r\nHTTP/1.1 200 OK\r\n\r\n"), kFail);
}

TEST(ResponseHead, FieldStrictness) {
  using namespace std::string_literals;
  for (const std::string& fields :
       {"X: a\r\n b\r\n"s, "X : a\r\n"s, "X\0: a\r\n"s, "X: a\0\r\n"s, "X: a\nY: b\r\n"s,
        "X: a\rb\r\n"s, "NoColon\r\n"s, "X: \x01\r\n"s}) {
    EXPECT_EQ(grind_response("HTTP/1.1 200 OK\r\n" + fields + "\r\n"), kFail)
        << testing::PrintToString(fields);
  }
  EXPECT_EQ(grind_response("HTTP/1.1 200 OK\r\n\n"), kFail);
  // Several Host fields mean nothing in a response.
  EXPECT_EQ(grind_response("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n"),
            "done 37 1.1 200 OK|Host=a|Host=b");
}

TEST(ResponseHead, Limits) {
  const std::string line = "HTTP/1.1 200 OK\r\n";
  std::string fields;
  for (int i = 0; i < 128; ++i) fields.append("X").append(std::to_string(i)).append(": v\r\n");
  EXPECT_EQ(grind_response(line + fields + "\r\n").substr(0, 4), "done");
  EXPECT_EQ(grind_response(line + fields + "Y: v\r\n\r\n"), kFail);
  EXPECT_EQ(grind_response(line + "X: " + std::string(65 * 1024, 'a') + "\r\n\r\n", {},
                           {line.size() + 65536}),
            kFail);
  EXPECT_EQ(grind_response("HTTP/1.1 200 " + std::string(9000, 'r') + "\r\n\r\n", {}, {8192}),
            kFail);
  EXPECT_EQ(grind_response("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", HeadLimits{64, 64, 1}),
            kFail);
}

TEST(ResponseHead, InterimThenFinal) {
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string final_head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const std::string all = interim + final_head;
  EXPECT_EQ(grind_response(all), "done 25 1.1 100 Continue");
  ResponseHeadParser p;
  auto r = p.feed(all);
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(p.head().status, 100);
  p.reset();
  r = p.feed(std::string_view(all).substr(r.consumed));
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(r.consumed, final_head.size());
  EXPECT_EQ(p.head().status, 200);
}

}  // namespace
}  // namespace netfence::http
