// The whole agent packet path: link/IP/TCP/UDP decoding, reassembly, flow
// table and every registered dissector. Input: [link type selector byte]
// then frames, each as [2-byte big-endian length][bytes]; all frames go
// through one pipeline, so flows and reassembly state build up across them.

#include <cstdint>

#include "agent/decode/pipeline.h"
#include "agent/dissect/builtin.h"
#include "common/byte_reader.h"

using namespace vagt;
using namespace vagt::agent;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const dissect::Registry* registry = [] {
    auto* r = new dissect::Registry();
    (void)dissect::register_builtin_dissectors(*r);
    return r;
  }();
  if (size < 1) return 0;
  ByteReader in(ByteView(data, size));
  const auto link = static_cast<capture::LinkType>(in.u8() % 6);
  decode::EventCollector sink;
  decode::PacketPipeline pipeline(*registry, sink);
  std::uint64_t t = 1'700'000'000'000'000'000ULL;
  while (in.remaining() >= 2) {
    const std::size_t len = in.u16be();
    const ByteView frame = in.bytes(std::min(len, in.remaining()));
    capture::RawPacket packet;
    packet.time_ns = t += 1'000'000;
    packet.link_type = link;
    packet.data = frame;
    packet.wire_length = static_cast<std::uint32_t>(frame.size());
    pipeline.on_packet(packet);
  }
  pipeline.finish();
  return 0;
}
