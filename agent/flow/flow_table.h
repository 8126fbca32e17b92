#pragma once

// TCP flows: which side is the client, per-direction reassembly, close on
// FIN/RST, idle timeout, bounded memory. Reassembled bytes go to one
// StreamHandler per flow, made by a StreamHandlerFactory.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "agent/flow/anomaly_counter.h"
#include "agent/flow/flow_types.h"
#include "agent/flow/packet_decoder.h"
#include "agent/flow/tcp_reassembler.h"

namespace vagt::agent::flow {

// Receives one flow's reassembled streams.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  virtual void on_data(Direction direction, ByteView data, std::uint64_t time_ns) = 0;
  // `length` bytes of this direction were lost (never captured or given up on).
  virtual void on_gap(Direction direction, std::uint64_t length, std::uint64_t time_ns) = 0;
  // Last call; the handler is destroyed after it.
  virtual void on_close(CloseReason reason, std::uint64_t time_ns) = 0;
  // False once the handler wants no more data: the flow then stops reassembling.
  virtual bool wants_data() const { return true; }
};

class StreamHandlerFactory {
 public:
  virtual ~StreamHandlerFactory() = default;
  // A handler for a new TCP flow, or nullptr to ignore the flow's payload.
  virtual std::unique_ptr<StreamHandler> new_stream(const FlowInfo& info) = 0;
  // Ports that identify the server side when the handshake was not seen.
  virtual bool is_service_port(std::uint16_t port) const { return port < 1024; }
};

struct FlowLimits {
  std::size_t max_buffered_per_flow = 1U << 20;     // out-of-order bytes, both directions
  std::size_t max_buffered_total = 64U << 20;       // out-of-order bytes, all flows
  std::size_t max_flows = 100'000;                  // new flows beyond are not tracked
  std::uint64_t idle_timeout_ns = 120'000'000'000;  // 2 minutes
};

struct FlowCounters {
  std::uint64_t flows_created = 0;
  std::uint64_t flows_closed = 0;
  std::uint64_t flows_timed_out = 0;
};

class FlowTable {
 public:
  FlowTable(StreamHandlerFactory& factory, AnomalyCounter& anomalies, FlowLimits limits = {});
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // A decoded TCP packet. UDP packets are not tracked here.
  void on_tcp_packet(const DecodedPacket& packet, std::uint64_t time_ns);

  // Closes flows idle for longer than the timeout at `now_ns` (packet time).
  void expire_idle(std::uint64_t now_ns);
  // Closes every flow (end of capture).
  void close_all(std::uint64_t now_ns);

  std::size_t active_flows() const { return flows_.size(); }
  std::size_t buffered_bytes() const { return total_buffered_; }
  const FlowCounters& counters() const { return counters_; }

 private:
  using Key = FlowKey;
  struct Flow;

  Flow* create_flow(const Key& key, const DecodedPacket& packet, std::uint64_t time_ns);
  void close_flow(Flow& flow, CloseReason reason, std::uint64_t time_ns);

  StreamHandlerFactory& factory_;
  AnomalyCounter& anomalies_;
  FlowLimits limits_;
  std::unordered_map<Key, std::unique_ptr<Flow>, FlowKeyHash> flows_;
  std::size_t total_buffered_ = 0;
  std::uint64_t last_sweep_ns_ = 0;
  FlowCounters counters_;
};

}  // namespace vagt::agent::flow
