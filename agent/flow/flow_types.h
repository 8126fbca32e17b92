#pragma once

// Small value types shared by flows, reassembly and stream consumers.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace vagt::agent::flow {

enum class Direction : std::uint8_t {
  kClientToServer = 0,
  kServerToClient = 1,
};

inline Direction reverse(Direction d) {
  return d == Direction::kClientToServer ? Direction::kServerToClient : Direction::kClientToServer;
}

enum class Transport : std::uint8_t { kTcp, kUdp };

// An IP address (4 or 16 bytes, network order) and a port.
struct Endpoint {
  std::array<std::uint8_t, 16> address{};
  std::uint8_t address_length = 0;  // 4 or 16
  std::uint16_t port = 0;

  // The raw address bytes, as AccessEvent.Endpoint.address wants them.
  std::string address_bytes() const {
    return std::string(reinterpret_cast<const char*>(address.data()), address_length);
  }
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// What a stream consumer knows about the flow it is attached to.
struct FlowInfo {
  Transport transport = Transport::kTcp;
  Endpoint client;
  Endpoint server;
  bool saw_syn = false;  // client side decided by the handshake, not by port heuristics
};

// The two endpoints of a flow in a canonical order (the lower one first), so
// both directions find the same entry.
struct FlowKey {
  Endpoint a;
  Endpoint b;
  friend bool operator==(const FlowKey&, const FlowKey&) = default;

  static FlowKey of(const Endpoint& x, const Endpoint& y);
};
struct FlowKeyHash {
  std::size_t operator()(const FlowKey& key) const noexcept;
};

enum class CloseReason : std::uint8_t {
  kFin,          // both sides finished
  kReset,        // RST seen
  kIdleTimeout,  // nothing seen for the idle timeout
  kShutdown,     // end of capture / agent stopping
  kEvicted,      // flow table full
};

}  // namespace vagt::agent::flow
