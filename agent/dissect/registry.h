#pragma once

// The table of dissectors: TCP server port -> stream dissector, plus content
// sniffing over every registered stream dissector for other ports; UDP server
// port -> datagram dissector. Built by
// one function, register_builtin_dissectors() (agent/dissect/builtin.h),
// called from main; nothing registers itself.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/dissect/dissector.h"
#include "common/result.h"

namespace vagt::agent::dissect {

class Registry {
 public:
  // Adds a stream dissector for the given TCP server ports (may be empty:
  // sniffing only). Fails when a port is already taken.
  [[nodiscard]] Result<void> add_stream(std::unique_ptr<StreamDissector> dissector,
                                        std::span<const std::uint16_t> tcp_ports);

  // The dissector registered for a TCP server port, or nullptr.
  const StreamDissector* stream_for_port(std::uint16_t port) const;
  // The first dissector (in registration order) whose sniff() accepts the
  // bytes, or nullptr.
  const StreamDissector* sniff_stream(ByteView first_client_bytes) const;
  // A port some dissector is registered for.
  bool is_service_port(std::uint16_t port) const { return tcp_ports_.contains(port); }

  std::vector<std::string_view> names() const;

  // Adds a datagram dissector for the given UDP server ports. Fails when a
  // UDP port is already taken.
  [[nodiscard]] Result<void> add_datagram(std::unique_ptr<DatagramDissector> dissector,
                                          std::span<const std::uint16_t> udp_ports);
  // The datagram dissector registered for a UDP server port, or nullptr.
  const DatagramDissector* datagram_for_port(std::uint16_t port) const;

 private:
  std::vector<std::unique_ptr<StreamDissector>> stream_;
  std::unordered_map<std::uint16_t, const StreamDissector*> tcp_ports_;
  std::vector<std::unique_ptr<DatagramDissector>> datagram_;
  std::unordered_map<std::uint16_t, const DatagramDissector*> udp_ports_;
};

}  // namespace vagt::agent::dissect
