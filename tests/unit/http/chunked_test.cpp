#include "http/wire/chunked.hpp"

#include <gtest/gtest.h>

#include <string>

#include "grind.hpp"

namespace netfence::http {
namespace {

using test::grind_chunked;

std::string done(std::string_view body, std::string data) {
  return "done " + std::to_string(body.size()) + " " + data;
}

TEST(Chunked, Simple) {
  const std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  EXPECT_EQ(grind_chunked(body), done(body, "hello world"));
}

TEST(Chunked, EmptyBody) { EXPECT_EQ(grind_chunked("0\r\n\r\n"), "done 5 "); }

TEST(Chunked, HexSizes) {
  const std::string data(0x1a, 'x');
  EXPECT_EQ(grind_chunked("1a\r\n" + data + "\r\n0\r\n\r\n"), "done 37 " + data);
  EXPECT_EQ(grind_chunked("1A\r\n" + data + "\r\n0\r\n\r\n"), "done 37 " + data);
  EXPECT_EQ(grind_chunked("0005\r\nhello\r\n0000\r\n\r\n"), "done 21 hello");
  // 16 digits are fine, 17 are not, even as leading zeros.
  EXPECT_EQ(grind_chunked("0000000000000005\r\nhello\r\n0\r\n\r\n"), "done 30 hello");
  EXPECT_EQ(grind_chunked("00000000000000005\r\nhello\r\n0\r\n\r\n"), "error");
  // Sizes must stay below 2^63.
  EXPECT_EQ(grind_chunked("7fffffffffffffff\r\nab"), "need_more ab");
  EXPECT_EQ(grind_chunked("8000000000000000\r\n"), "error");
  EXPECT_EQ(grind_chunked("ffffffffffffffff\r\n"), "error");
}

TEST(Chunked, Extensions) {
  for (std::string ok :
       {"5;foo=bar\r\nhello\r\n0;last\r\n\r\n", "5;a;b=c;d=\"q \\\" ;x\"\r\nhello\r\n0\r\n\r\n",
        "5;a=\"\"\r\nhello\r\n0\r\n\r\n", "5;a=\"\xC3\xA9\"\r\nhello\r\n0\r\n\r\n"}) {
    EXPECT_EQ(grind_chunked(ok), done(ok, "hello")) << ok;
  }
  for (const char* bad : {"5;\r\nhello\r\n0\r\n\r\n", "5;=x\r\nhello\r\n0\r\n\r\n",
                          "5;a=\r\nhello\r\n0\r\n\r\n", "5; a=b\r\nhello\r\n0\r\n\r\n",
                          "5;a =b\r\nhello\r\n0\r\n\r\n", "5;a=b c\r\nhello\r\n0\r\n\r\n",
                          "5;a=\"x\r\nhello\r\n0\r\n\r\n", "5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
                          "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", "5;a\n\r\nhello\r\n0\r\n\r\n"}) {
    EXPECT_EQ(grind_chunked(bad), "error") << testing::PrintToString(std::string(bad));
  }
  const std::string ext_ok = "5;" + std::string(4095, 'e') + "\r\nhello\r\n0\r\n\r\n";
  EXPECT_EQ(grind_chunked(ext_ok), done(ext_ok, "hello"));
  EXPECT_EQ(grind_chunked("5;" + std::string(4096, 'e') + "\r\nhello\r\n0\r\n\r\n"), "error");
}

TEST(Chunked, Trailers) {
  const std::string body = "5\r\nhello\r\n0\r\nX-Sum: abc\r\nY:\r\n\r\n";
  EXPECT_EQ(grind_chunked(body), done(body, "hello"));
  for (const char* bad : {"0\r\nX : y\r\n\r\n", "0\r\n X: y\r\n\r\n", "0\r\nX: y\r\n z\r\n\r\n",
                          "0\r\nX: \x01\r\n\r\n", "0\r\nX\r\n\r\n", "0\r\n: y\r\n\r\n",
                          "0\r\nX: y\n\r\n", "0\r\nX: y\r\n\n", "0\r\n\n", "0\r\n\rx"}) {
    EXPECT_EQ(grind_chunked(bad), "error") << testing::PrintToString(std::string(bad));
  }
  std::string big = "0\r\n";
  while (big.size() < 70000) big += "X: " + std::string(1000, 'a') + "\r\n";
  EXPECT_EQ(grind_chunked(big + "\r\n"), "error");
  std::string many = "0\r\n";
  for (int i = 0; i < 129; ++i) many += "X: 1\r\n";
  EXPECT_EQ(grind_chunked(many + "\r\n"), "error");
}

TEST(Chunked, Malformed) {
  using namespace std::string_literals;
  for (const std::string& bad :
       {"G\r\n"s, "\r\n"s, "5 \r\nhello\r\n0\r\n\r\n"s, " 5\r\nhello\r\n0\r\n\r\n"s,
        "5\nhello\r\n0\r\n\r\n"s, "5\r\nhelloX\r\n0\r\n\r\n"s, "5\r\nhello\n0\r\n\r\n"s,
        "5\r\nhello\r0\r\n\r\n"s, "-5\r\nhello\r\n0\r\n\r\n"s, "0x5\r\nhello\r\n0\r\n\r\n"s,
        "+5\r\nhello\r\n0\r\n\r\n"s, "5\r\r\nhello\r\n0\r\n\r\n"s,
        "0\v\n\r\n"s,  // the Beast 1.81 assert input (cpp-stack A.5-15)
        "0\r\n\r\r"s, "5\0\r\nhello\r\n0\r\n\r\n"s}) {
    EXPECT_EQ(grind_chunked(bad), "error") << testing::PrintToString(bad);
  }
}

TEST(Chunked, NeedMore) {
  EXPECT_EQ(grind_chunked(""), "need_more ");
  EXPECT_EQ(grind_chunked("5"), "need_more ");
  EXPECT_EQ(grind_chunked("5\r\nhel"), "need_more hel");
  EXPECT_EQ(grind_chunked("5\r\nhello\r\n"), "need_more hello");
  EXPECT_EQ(grind_chunked("0\r\n"), "need_more ");
  EXPECT_EQ(grind_chunked("0\r\n\r"), "need_more ");
  EXPECT_EQ(grind_chunked("0\r\nX: 1\r\n"), "need_more ");
}

TEST(Chunked, PipelinedBytesAreNotConsumed) {
  const std::string body = "3\r\nabc\r\n0\r\n\r\n";
  EXPECT_EQ(grind_chunked(body + "GET / HTTP/1.1\r\n\r\n"), done(body, "abc"));
  ChunkedDecoder d;
  const std::string all = body + "NEXT";
  const auto s1 = d.feed(all);  // first call stops after the data run
  EXPECT_EQ(s1.data, "abc");
  const auto s2 = d.feed(std::string_view(all).substr(s1.consumed));
  EXPECT_EQ(s2.status, ChunkedDecoder::Status::done);
  EXPECT_EQ(s1.consumed + s2.consumed, body.size());
  EXPECT_EQ(d.body_bytes(), 3u);
  // Sticky after done.
  const auto s3 = d.feed("more");
  EXPECT_EQ(s3.consumed, 0u);
  EXPECT_EQ(s3.status, ChunkedDecoder::Status::done);
}

TEST(Chunked, DataViewsPointIntoInput) {
  ChunkedDecoder d;
  const std::string in = "2\r\nab\r\n2\r\ncd\r\n";
  const auto s = d.feed(in);
  EXPECT_EQ(s.data, "ab");
  EXPECT_EQ(s.data.data(), in.data() + 3);
  EXPECT_EQ(s.consumed, 10u);  // framing up to the next data run is consumed too
}

TEST(Chunked, Encode) {
  EXPECT_EQ(encode_chunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(encode_chunk(""), "");
  EXPECT_EQ(encode_chunk(std::string(255, 'x')).substr(0, 4), "ff\r\n");
  EXPECT_EQ(chunk_size_line(0x1234abcd), "1234abcd\r\n");
  EXPECT_EQ(kLastChunk, "0\r\n\r\n");
  std::string body = encode_chunk("hello ") + encode_chunk(std::string(300, 'z')) + "0\r\n\r\n";
  EXPECT_EQ(grind_chunked(body), done(body, "hello " + std::string(300, 'z')));
}

TEST(Chunked, LargeBody) {
  std::string body;
  std::string expect;
  for (int i = 1; i < 40; ++i) {
    const std::string piece(static_cast<std::size_t>(i * 37), static_cast<char>('a' + i % 26));
    body += encode_chunk(piece);
    expect += piece;
  }
  body += kLastChunk;
  EXPECT_EQ(grind_chunked(body), done(body, expect));
}

}  // namespace
}  // namespace netfence::http
