#pragma once

// The agent's packet path: frames from a PacketSource -> link/IP/TCP decoding
// -> TCP flows and reassembly -> the stream dissector chosen by server port (or
// by sniffing the client's first bytes); UDP datagrams -> UDP flows -> the
// datagram dissector of the server port -> AccessEvents to an EventSink, with
// transport and endpoints (src = client, dst = server) filled in. Used by
// `vagt-agent decode` (files) and by the run mode (live capture feeds
// PacketPipeline::on_packet directly).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/capture/packet_source.h"
#include "agent/dissect/registry.h"
#include "agent/flow/datagram_table.h"
#include "agent/flow/flow_table.h"
#include "agent/flow/ip_reassembler.h"
#include "common/proto/vagt.pb.h"
#include "common/result.h"

namespace vagt::agent::decode {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(v1::AccessEvent&& event) = 0;
};

// Keeps every event in memory, in order: the run mode's buffer until the
// spool exists, and what tests inspect.
class EventCollector final : public EventSink {
 public:
  void on_event(v1::AccessEvent&& event) override { events.push_back(std::move(event)); }
  std::vector<v1::AccessEvent> events;
};

struct CaptureStats {
  std::uint64_t packets = 0;      // frames read
  std::uint64_t bytes = 0;        // captured bytes of those frames
  std::uint64_t malformed = 0;    // frames that failed decoding (see anomalies)
  std::uint64_t ignored = 0;      // well-formed frames not decoded further (ARP, ICMP, fragments)
  std::uint64_t udp = 0;          // UDP datagrams
  std::uint64_t flows = 0;        // TCP flows created
  std::uint64_t udp_flows = 0;    // UDP flows created (datagrams on a registered UDP port)
  std::uint64_t events = 0;       // events handed to the sink
  std::uint64_t reassembled = 0;  // IP datagrams rebuilt from fragments (held ones are "ignored")
  std::map<std::string, std::uint64_t> anomalies;  // stable id -> count
};

struct PipelineOptions {
  flow::FlowLimits flow_limits;
  flow::DatagramLimits datagram_limits;
  flow::FragmentLimits fragment_limits;
};

class PacketPipeline {
 public:
  // `registry` and `sink` must outlive the pipeline.
  PacketPipeline(const dissect::Registry& registry, EventSink& sink, PipelineOptions options = {});
  ~PacketPipeline();
  PacketPipeline(const PacketPipeline&) = delete;
  PacketPipeline& operator=(const PacketPipeline&) = delete;

  // One frame. Never throws; problems are counted.
  void on_packet(const capture::RawPacket& packet);
  // Closes idle flows as of `now_ns` (call periodically when live traffic is quiet).
  void expire_idle(std::uint64_t now_ns);
  // Closes every flow (end of input, shutdown): unanswered requests come out
  // with outcome unknown.
  void finish();

  CaptureStats stats() const;

 private:
  class Flows;
  std::unique_ptr<Flows> flows_;
  flow::AnomalyCounter anomalies_;
  std::unique_ptr<flow::FlowTable> table_;
  std::unique_ptr<flow::DatagramTable> datagrams_;
  std::unique_ptr<flow::IpReassembler> fragments_;
  CaptureStats counts_;
  std::uint64_t last_time_ns_ = 0;
};

// Reads every packet of `source` through a PacketPipeline, then finishes it.
// A read error (truncated file) ends the run: flows are still closed (events
// up to the damage reach the sink) and the error is returned.
[[nodiscard]] Result<CaptureStats> process_packets(capture::PacketSource& source,
                                                   const dissect::Registry& registry,
                                                   EventSink& sink, PipelineOptions options = {});

// Opens a pcap/pcapng file and runs process_packets over it.
[[nodiscard]] Result<CaptureStats> process_capture_file(const std::string& path,
                                                        const dissect::Registry& registry,
                                                        EventSink& sink,
                                                        PipelineOptions options = {});

}  // namespace vagt::agent::decode
