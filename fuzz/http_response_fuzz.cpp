// libFuzzer target for upstream responses in src/http/wire: the response head parser fed in two
// pieces (split chosen by the first input byte) must agree with a one-piece feed; a parsed head
// goes through response framing for several request methods and hop-by-hop stripping (which
// must leave no x-proxy-error behind).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/wire/framing.hpp"
#include "http/wire/headers.hpp"
#include "http/wire/response_head.hpp"

namespace {

using namespace netfence::http;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t split = in.empty() ? 0 : data[0] % (in.size() + 1);

  ResponseHeadParser whole;
  const auto rw = whole.feed(in);
  ResponseHeadParser pieces;
  auto rp = pieces.feed(in.substr(0, split));
  if (rp.status == ParseStatus::need_more) rp = pieces.feed(in);
  check(rw.status == rp.status);
  if (rw.status == ParseStatus::error) check(rw.error == kUpstreamFailure && rp.error == rw.error);
  if (rw.status != ParseStatus::done) return 0;
  check(rw.consumed == rp.consumed && rw.consumed <= in.size());
  const auto& head = whole.head();
  check(head.status >= 100 && head.status <= 999);
  check(head.reason == pieces.head().reason && head.headers.size() == pieces.head().headers.size());

  for (std::string_view method : {"GET", "HEAD", "CONNECT", "POST"}) {
    const auto f = response_framing(head, method);
    check(f.ok() || f.error() == kUpstreamFailure);
    if (f.ok() && method == "HEAD") check(f->kind == BodyFraming::Kind::none);
  }

  Headers stripped = head.headers;
  strip_hop_by_hop(stripped, Direction::response, head.status == 101);
  check(stripped.count("x-proxy-error") == 0 && stripped.count("proxy-authenticate") == 0);
  const auto text = serialize_response_head(head.version_minor, head.status, head.reason, stripped);
  ResponseHeadParser again(HeadLimits{1 << 20, 1 << 20, 1 << 12});
  const auto r = again.feed(text);
  check(r.status == ParseStatus::done && r.consumed == text.size());
  return 0;
}
