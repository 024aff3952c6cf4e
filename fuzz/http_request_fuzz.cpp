// libFuzzer target for the HTTP request side of src/http/wire: the request head parser fed in
// two pieces (split chosen by the first input byte) must agree with a one-piece feed; a parsed
// head then goes through request framing, target classification and parsing, the Host check,
// hop-by-hop stripping, and a serialise → re-parse round trip that must reproduce the fields.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/wire/framing.hpp"
#include "http/wire/headers.hpp"
#include "http/wire/request_head.hpp"
#include "http/wire/target.hpp"

namespace {

using namespace netfence::http;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool same_head(const RequestHead& a, const RequestHead& b) {
  if (a.method != b.method || a.target != b.target || a.version_minor != b.version_minor ||
      a.headers.size() != b.headers.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers.fields()[i].name != b.headers.fields()[i].name ||
        a.headers.fields()[i].value != b.headers.fields()[i].value) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t split = in.empty() ? 0 : data[0] % (in.size() + 1);

  RequestHeadParser whole;
  const auto rw = whole.feed(in);
  RequestHeadParser pieces;
  auto rp = pieces.feed(in.substr(0, split));
  if (rp.status == ParseStatus::need_more) rp = pieces.feed(in);
  check(rw.status == rp.status);
  if (rw.status == ParseStatus::error) {
    check(rw.error == rp.error);
    check(rw.error.status == 400 || rw.error.status == 414 || rw.error.status == 431);
    return 0;
  }
  if (rw.status == ParseStatus::need_more) return 0;
  check(rw.consumed == rp.consumed && rw.consumed <= in.size() && rw.consumed >= 4);
  check(same_head(whole.head(), pieces.head()));
  check(in.substr(rw.consumed - 4, 4) == "\r\n\r\n");

  const RequestHead& head = whole.head();
  const auto framing = request_framing(head);
  check(framing.ok() || framing.error() == kMalformedRequest);

  // Serialising what we parsed and parsing it again gives the same head (HTTP/1.1 line).
  {
    const auto text = serialize_request_head(head.method, head.target, head.headers);
    RequestHeadParser again(HeadLimits{1 << 20, 1 << 20, 1 << 12});  // "a:b" grows to "a: b"
    const auto r = again.feed(text);
    check(r.status == ParseStatus::done && r.consumed == text.size());
    RequestHead expect = head;
    expect.version_minor = 1;
    check(same_head(again.head(), expect));
  }

  if (head.method == "CONNECT") {
    const auto t = parse_connect_target(head.target);
    check(t.ok() || t.error() == kInvalidConnectTarget || t.error() == kInvalidHost);
    if (t.ok()) check(t->port.has_value() && *t->port != 0);
  } else if (classify_target(head.target) == TargetForm::absolute) {
    const auto t = parse_absolute_target(head.target);
    if (t.ok()) {
      check(!t->origin_form.empty() && t->origin_form[0] == '/');
      check(t->port != 0 && !t->host.text.empty());
      check(t->scheme == "http" || t->scheme == "https" || t->scheme == "ws" || t->scheme == "wss");
      const auto e = check_host_header(head.headers, t->host, t->port, t->default_port);
      check(!e || *e == kInvalidHostHeader || *e == kHostHeaderMismatch);
      // The canonical authority we would forward satisfies our own Host check.
      Headers forwarded;
      forwarded.add("Host", format_authority(t->host, t->port, t->default_port));
      check(!check_host_header(forwarded, t->host, t->port, t->default_port).has_value());
    } else {
      const auto& e = t.error();
      check(e == kInvalidRequestTarget || e == kUnsupportedScheme || e == kInvalidHost);
    }
  }

  Headers stripped = head.headers;
  const bool ws = strip_hop_by_hop(stripped, Direction::request, true);
  check(stripped.count("transfer-encoding") == 0 && stripped.count("te") == 0);
  check(stripped.count("upgrade") == (ws ? 1u : 0u));
  return 0;
}
