// libFuzzer target for the RADIUS dissector: the input as datagrams of one
// flow in both directions. Seeds: corpus/radius (tests/data/pcap/radius).
// Wiring (main's tests/fuzz/CMakeLists.txt): add "radius" to vagt_fuzz_targets
// and set(vagt_fuzz_radius_libs vagt::agent_dissect).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/dissect/radius/radius_dissector.h"

namespace {

class NullOutput final : public vagt::agent::dissect::SessionOutput {
 public:
  void emit(vagt::v1::AccessEvent&& /*event*/) override {}
  void anomaly(std::string_view /*id*/) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vagt::agent;
  const vagt::ByteView input(data, size);
  NullOutput out;
  flow::FlowInfo info;
  auto session = dissect::RadiusDissector().new_session(info, out);
  session->on_datagram(flow::Direction::kClientToServer, input, 1);
  // The same bytes again, as if the server answered with them.
  session->on_datagram(flow::Direction::kServerToClient, input, 2);
  session->on_close(3);
  return 0;
}
