#include "http/wire/headers.hpp"

#include <gtest/gtest.h>

#include <string>

namespace netfence::http {
namespace {

std::string names(const Headers& h) {
  std::string out;
  for (const auto& f : h) out += (out.empty() ? "" : ",") + f.name + "=" + f.value;
  return out;
}

TEST(Headers, CaseInsensitiveLookup) {
  Headers h;
  h.add("Content-Type", "text/plain");
  h.add("X-A", "1");
  h.add("x-a", "2");
  ASSERT_NE(h.find("content-type"), nullptr);
  EXPECT_EQ(h.find("CONTENT-TYPE")->value, "text/plain");
  EXPECT_EQ(h.find("missing"), nullptr);
  EXPECT_EQ(h.count("X-a"), 2u);
  EXPECT_EQ(h.values("X-A"), (std::vector<std::string_view>{"1", "2"}));
  EXPECT_EQ(h.remove("X-A"), 2u);
  EXPECT_EQ(names(h), "Content-Type=text/plain");
}

TEST(Headers, SetReplacesFirstAndDropsDuplicates) {
  Headers h;
  h.add("A", "1");
  h.add("Host", "x");
  h.add("B", "2");
  h.add("host", "y");
  h.set("HOST", "example.com");
  EXPECT_EQ(names(h), "A=1,Host=example.com,B=2");
  h.set("C", "3");
  EXPECT_EQ(names(h), "A=1,Host=example.com,B=2,C=3");
}

TEST(Headers, ListContainsToken) {
  EXPECT_TRUE(list_contains_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(list_contains_token(" close ", "close"));
  EXPECT_TRUE(list_contains_token("a,,\tClose\t,b", "CLOSE"));
  EXPECT_FALSE(list_contains_token("closed", "close"));
  EXPECT_FALSE(list_contains_token("", "close"));
  EXPECT_FALSE(list_contains_token("x", ""));
  EXPECT_FALSE(list_contains_token("keep-alive upgrade", "upgrade"));
}

TEST(Headers, StripHopByHopRequest) {
  Headers h;
  h.add("Host", "example.com");
  h.add("Connection", "keep-alive, X-Secret");
  h.add("Keep-Alive", "timeout=5");
  h.add("Proxy-Connection", "keep-alive");
  h.add("Proxy-Authorization", "Basic abc");
  h.add("TE", "trailers");
  h.add("Trailer", "X-T");
  h.add("Transfer-Encoding", "chunked");
  h.add("Upgrade", "websocket");
  h.add("x-secret", "1");
  h.add("X-Forwarded-For", "1.2.3.4");
  h.add("Proxy-Authenticate", "kept on requests");
  h.add("x-proxy-error", "kept on requests");
  EXPECT_FALSE(strip_hop_by_hop(h, Direction::request));
  EXPECT_EQ(names(h),
            "Host=example.com,X-Forwarded-For=1.2.3.4,Proxy-Authenticate=kept on "
            "requests,x-proxy-error=kept on requests");
}

TEST(Headers, StripHopByHopResponseRemovesProxyErrors) {
  // §18 row 25: an origin cannot imitate a proxy block.
  Headers h;
  h.add("Content-Type", "text/html");
  h.add("X-Proxy-Error", "blocked-by-denylist");
  h.add("x-proxy-error", "again");
  h.add("Proxy-Authenticate", "Basic");
  h.add("Connection", "close");
  h.add("Content-Length", "5");
  strip_hop_by_hop(h, Direction::response);
  EXPECT_EQ(names(h), "Content-Type=text/html,Content-Length=5");
}

TEST(Headers, WebsocketUpgradeIsKeptOnlyWhenAsked) {
  auto make = [](const char* upgrade, const char* connection) {
    Headers h;
    h.add("Host", "x");
    h.add("Upgrade", upgrade);
    h.add("Connection", connection);
    h.add("Sec-WebSocket-Key", "k");
    return h;
  };
  auto h = make("websocket", "Upgrade");
  EXPECT_TRUE(strip_hop_by_hop(h, Direction::request, true));
  EXPECT_EQ(names(h), "Host=x,Sec-WebSocket-Key=k,Upgrade=websocket,Connection=upgrade");

  h = make("WebSocket", "keep-alive, upgrade");
  EXPECT_TRUE(strip_hop_by_hop(h, Direction::response, true));
  EXPECT_EQ(names(h), "Host=x,Sec-WebSocket-Key=k,Upgrade=websocket,Connection=upgrade");

  h = make("websocket", "Upgrade");
  EXPECT_FALSE(strip_hop_by_hop(h, Direction::request, false));
  EXPECT_EQ(names(h), "Host=x,Sec-WebSocket-Key=k");

  h = make("h2c", "Upgrade");  // any other Upgrade value is stripped
  EXPECT_FALSE(strip_hop_by_hop(h, Direction::request, true));
  EXPECT_EQ(names(h), "Host=x,Sec-WebSocket-Key=k");

  h = make("websocket", "keep-alive");  // not an upgrade without Connection: upgrade
  EXPECT_FALSE(strip_hop_by_hop(h, Direction::request, true));
  EXPECT_EQ(names(h), "Host=x,Sec-WebSocket-Key=k");
}

TEST(Headers, Serialize) {
  Headers h;
  h.add("Host", "example.com");
  h.add("X", "");
  EXPECT_EQ(serialize_request_head("GET", "/a?b", h),
            "GET /a?b HTTP/1.1\r\nHost: example.com\r\nX: \r\n\r\n");
  EXPECT_EQ(serialize_request_head("GET", "/", Headers{}), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(serialize_response_head(1, 200, "OK", h),
            "HTTP/1.1 200 OK\r\nHost: example.com\r\nX: \r\n\r\n");
  EXPECT_EQ(serialize_response_head(0, 204, "", Headers{}), "HTTP/1.0 204 \r\n\r\n");
}

}  // namespace
}  // namespace netfence::http
