#pragma once

// UDP "flows": datagrams between one client endpoint and one server endpoint,
// handed whole to one DatagramHandler per flow. Only datagrams to or from a
// port the factory names as a service port open a flow (the server is the
// side on that port); everything else is left alone without keeping state.
// Bounded: at most max_flows flows (new ones beyond are not tracked,
// "udp.flow_table_full"); a flow quiet for idle_timeout_ns is closed.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "agent/flow/anomaly_counter.h"
#include "agent/flow/flow_types.h"
#include "agent/flow/packet_decoder.h"

namespace vagt::agent::flow {

class DatagramHandler {
 public:
  virtual ~DatagramHandler() = default;
  virtual void on_datagram(Direction direction, ByteView payload, std::uint64_t time_ns) = 0;
  // Last call; the handler is destroyed after it.
  virtual void on_close(CloseReason reason, std::uint64_t time_ns) = 0;
};

class DatagramHandlerFactory {
 public:
  virtual ~DatagramHandlerFactory() = default;
  // Whether a UDP port identifies a server this factory has a handler for.
  virtual bool is_datagram_service_port(std::uint16_t port) const = 0;
  // A handler for a new flow (info.server is on a service port), or nullptr.
  virtual std::unique_ptr<DatagramHandler> new_datagram_flow(const FlowInfo& info) = 0;
};

struct DatagramLimits {
  std::size_t max_flows = 50'000;
  std::uint64_t idle_timeout_ns = 30'000'000'000;  // 30 s: request/response protocols
};

struct DatagramCounters {
  std::uint64_t flows_created = 0;
  std::uint64_t datagrams = 0;    // datagrams handed to a handler
  std::uint64_t not_tracked = 0;  // datagrams on no service port (or table full)
};

class DatagramTable {
 public:
  DatagramTable(DatagramHandlerFactory& factory, AnomalyCounter& anomalies,
                DatagramLimits limits = {});
  ~DatagramTable();
  DatagramTable(const DatagramTable&) = delete;
  DatagramTable& operator=(const DatagramTable&) = delete;

  // A decoded UDP packet (whole datagram).
  void on_udp_packet(const DecodedPacket& packet, std::uint64_t time_ns);
  // Closes flows idle for longer than the timeout at `now_ns`.
  void expire_idle(std::uint64_t now_ns);
  // Closes every flow.
  void close_all(std::uint64_t now_ns);

  std::size_t active_flows() const { return flows_.size(); }
  const DatagramCounters& counters() const { return counters_; }

 private:
  struct Flow {
    FlowInfo info;
    std::unique_ptr<DatagramHandler> handler;
    std::uint64_t last_seen_ns = 0;
  };

  void close_flows(bool only_idle, std::uint64_t now_ns);

  DatagramHandlerFactory& factory_;
  AnomalyCounter& anomalies_;
  DatagramLimits limits_;
  std::unordered_map<FlowKey, Flow, FlowKeyHash> flows_;
  std::uint64_t last_sweep_ns_ = 0;
  DatagramCounters counters_;
};

}  // namespace vagt::agent::flow
