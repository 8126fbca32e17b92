// One stream dissector, chosen by its server port, fed reassembled bytes in
// both directions with gaps. Input: [port selector][chunking bytes...]: each
// chunk is [control byte][bytes]; the control byte gives the direction (bit 7),
// a gap (bit 6) and the chunk length (bits 0-5, times 4, plus 1).
// Every dissector added to register_builtin_dissectors is reachable.

#include <cstdint>
#include <string_view>

#include "agent/dissect/builtin.h"
#include "common/byte_reader.h"

using namespace vagt;
using namespace vagt::agent;

namespace {

constexpr std::uint16_t kPorts[] = {389,  3268, 88, 80,  8080, 2575, 6661, 104, 11112,
                                    5432, 3306, 21, 445, 139,  1433, 443,  22};

class Sink final : public dissect::SessionOutput {
 public:
  void emit(v1::AccessEvent&& e) override { (void)e.ByteSizeLong(); }
  void anomaly(std::string_view id) override { (void)id; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const dissect::Registry* registry = [] {
    auto* r = new dissect::Registry();
    (void)dissect::register_builtin_dissectors(*r);
    return r;
  }();
  if (size < 1) return 0;
  ByteReader in(ByteView(data, size));
  const std::uint16_t port = kPorts[in.u8() % std::size(kPorts)];
  const dissect::StreamDissector* dissector = registry->stream_for_port(port);
  if (dissector == nullptr) return 0;
  flow::FlowInfo info;
  info.client.address_length = 4;
  info.client.address = {10, 0, 0, 1};
  info.client.port = 50000;
  info.server.address_length = 4;
  info.server.address = {10, 0, 0, 2};
  info.server.port = port;
  info.saw_syn = true;
  Sink sink;
  auto session = dissector->new_session(info, sink);
  std::uint64_t t = 1'700'000'000'000'000'000ULL;
  while (in.remaining() > 0 && session->wants_data()) {
    const std::uint8_t control = in.u8();
    const auto dir =
        (control & 0x80) ? flow::Direction::kServerToClient : flow::Direction::kClientToServer;
    if (control & 0x40) session->on_gap(dir, control & 0x3f, t);
    const std::size_t len = std::min<std::size_t>(((control & 0x3f) * 4u) + 1u, in.remaining());
    session->on_data(dir, in.bytes(len), t += 1000);
  }
  session->on_close(t);
  return 0;
}
