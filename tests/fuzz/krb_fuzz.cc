// libFuzzer target for the Kerberos dissector: the input as one message
// (parse_message), as one UDP datagram, and as a TCP stream cut into pieces
// at the positions its first byte chooses. Seeds: corpus/krb (messages from
// tests/data/pcap/krb).
// Wiring (main's tests/fuzz/CMakeLists.txt): add "krb" to vagt_fuzz_targets
// and set(vagt_fuzz_krb_libs vagt::agent_dissect).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/dissect/krb/krb_dissector.h"

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
  std::string_view anomaly;
  (void)dissect::krb::parse_message(input, anomaly);

  NullOutput out;
  flow::FlowInfo info;
  auto udp = dissect::KrbDatagramDissector().new_session(info, out);
  udp->on_datagram(flow::Direction::kClientToServer, input, 1);
  udp->on_datagram(flow::Direction::kServerToClient, input, 2);
  udp->on_close(3);

  // As TCP: a record mark for the whole input, then the input in pieces.
  auto tcp = dissect::KrbStreamDissector().new_session(info, out);
  const std::uint8_t mark[4] = {
      static_cast<std::uint8_t>(size >> 24), static_cast<std::uint8_t>(size >> 16),
      static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)};
  tcp->on_data(flow::Direction::kClientToServer, vagt::ByteView(mark, 4), 1);
  const std::size_t step = size > 0 ? 1 + data[0] % 64 : 1;
  for (std::size_t off = 0; off < size; off += step) {
    tcp->on_data(flow::Direction::kClientToServer, input.subspan(off, std::min(step, size - off)),
                 1);
  }
  tcp->on_data(flow::Direction::kServerToClient, input, 2);
  tcp->on_gap(flow::Direction::kServerToClient, 10, 3);
  tcp->on_close(4);
  return 0;
}
