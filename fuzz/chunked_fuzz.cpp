// libFuzzer target for the chunked decoder in src/http/wire: the input (after the first byte)
// is decoded in one piece, in two pieces split at a point chosen by the first byte, and in
// pieces of 1–8 bytes; status, consumed length and decoded output must agree. A decoded body is
// re-encoded with encode_chunk and must decode back to itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/wire/chunked.hpp"

namespace {

using netfence::http::ChunkedDecoder;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Outcome {
  ChunkedDecoder::Status status = ChunkedDecoder::Status::need_more;
  std::size_t consumed = 0;  // position in the whole input where the body ended (done only)
  std::string data;
};

Outcome decode(std::string_view in, const std::vector<std::size_t>& cuts) {
  ChunkedDecoder d;
  Outcome out;
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : in.size();
    std::string_view piece = in.substr(begin, end - begin);
    std::size_t off = 0;
    while (off < piece.size()) {
      const auto step = d.feed(piece.substr(off));
      check(step.consumed <= piece.size() - off);
      check(step.data.empty() ||
            (step.data.data() >= piece.data() + off &&
             step.data.data() + step.data.size() <= piece.data() + off + step.consumed));
      out.data.append(step.data);
      off += step.consumed;
      if (step.status != ChunkedDecoder::Status::need_more) {
        out.status = step.status;
        out.consumed = begin + off;
        if (out.status == ChunkedDecoder::Status::error) out.data.clear();
        return out;
      }
      check(step.consumed > 0);
    }
    begin = end;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto one = decode(in, {});
  const auto two = decode(in, {in.empty() ? 0 : data[0] % (in.size() + 1)});
  std::vector<std::size_t> small_cuts;
  for (std::size_t pos = 0, step = 1; pos < in.size(); step = step % 8 + 1) {
    pos += step;
    if (pos < in.size()) small_cuts.push_back(pos);
  }
  const auto many = decode(in, small_cuts);
  for (const auto* o : {&two, &many}) {
    check(o->status == one.status);
    if (one.status == ChunkedDecoder::Status::done) {
      check(o->consumed == one.consumed && o->data == one.data);
    } else if (one.status == ChunkedDecoder::Status::need_more) {
      check(o->data == one.data);
    }
  }
  if (one.status == ChunkedDecoder::Status::done) {
    const std::string again =
        netfence::http::encode_chunk(one.data) + std::string(netfence::http::kLastChunk);
    const auto back = decode(again, {});
    check(back.status == ChunkedDecoder::Status::done && back.data == one.data &&
          back.consumed == again.size());
  }
  return 0;
}
