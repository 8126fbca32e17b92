#include "agent/decode/pipeline.h"

#include <utility>

#include "agent/capture/pcap_file_source.h"
#include "agent/flow/packet_decoder.h"

namespace vagt::agent::decode {
namespace {

void set_endpoint(v1::Endpoint& out, const flow::Endpoint& in) {
  out.set_address(in.address_bytes());
  out.set_port(in.port);
}

// Stamps the flow onto an event and hands it on.
void deliver(v1::AccessEvent&& event, const flow::FlowInfo& info, EventSink& sink,
             std::uint64_t& events) {
  event.set_transport(info.transport == flow::Transport::kUdp ? v1::TRANSPORT_UDP
                                                              : v1::TRANSPORT_TCP);
  set_endpoint(*event.mutable_src(), info.client);
  set_endpoint(*event.mutable_dst(), info.server);
  ++events;
  sink.on_event(std::move(event));
}

// One TCP flow: picks the dissector (server port, else by sniffing the first
// client bytes), runs its session and stamps the flow onto every event.
class FlowDissection final : public flow::StreamHandler, public dissect::SessionOutput {
 public:
  FlowDissection(const flow::FlowInfo& info, const dissect::Registry& registry,
                 const dissect::StreamDissector* by_port, EventSink& sink,
                 flow::AnomalyCounter& anomalies, std::uint64_t& events)
      : info_(info), registry_(registry), sink_(sink), anomalies_(anomalies), events_(events) {
    if (by_port != nullptr) session_ = by_port->new_session(info_, *this);
  }

  void on_data(flow::Direction direction, ByteView data, std::uint64_t time_ns) override {
    if (!session_) {
      if (undissected_) return;
      // Server bytes before the client spoke are not sniffed (and are lost
      // to a dissector chosen later).
      if (direction != flow::Direction::kClientToServer) return;
      const dissect::StreamDissector* found = registry_.sniff_stream(data);
      if (found == nullptr) {
        undissected_ = true;
        return;
      }
      session_ = found->new_session(info_, *this);
    }
    session_->on_data(direction, data, time_ns);
  }
  void on_gap(flow::Direction direction, std::uint64_t length, std::uint64_t time_ns) override {
    if (session_) session_->on_gap(direction, length, time_ns);
  }
  void on_close(flow::CloseReason /*reason*/, std::uint64_t time_ns) override {
    if (session_) session_->on_close(time_ns);
  }
  bool wants_data() const override { return session_ ? session_->wants_data() : !undissected_; }

  void emit(v1::AccessEvent&& event) override { deliver(std::move(event), info_, sink_, events_); }
  void anomaly(std::string_view id) override { anomalies_.add(id); }

 private:
  flow::FlowInfo info_;
  const dissect::Registry& registry_;
  EventSink& sink_;
  flow::AnomalyCounter& anomalies_;
  std::uint64_t& events_;
  std::unique_ptr<dissect::StreamSession> session_;
  bool undissected_ = false;
};

// One UDP flow: the datagram dissector registered for the server port, with
// the flow stamped onto every event.
class DatagramDissection final : public flow::DatagramHandler, public dissect::SessionOutput {
 public:
  DatagramDissection(const flow::FlowInfo& info, const dissect::DatagramDissector& dissector,
                     EventSink& sink, flow::AnomalyCounter& anomalies, std::uint64_t& events)
      : info_(info),
        sink_(sink),
        anomalies_(anomalies),
        events_(events),
        session_(dissector.new_session(info_, *this)) {}

  void on_datagram(flow::Direction direction, ByteView payload, std::uint64_t time_ns) override {
    if (session_) session_->on_datagram(direction, payload, time_ns);
  }
  void on_close(flow::CloseReason /*reason*/, std::uint64_t time_ns) override {
    if (session_) session_->on_close(time_ns);
  }

  void emit(v1::AccessEvent&& event) override { deliver(std::move(event), info_, sink_, events_); }
  void anomaly(std::string_view id) override { anomalies_.add(id); }

 private:
  flow::FlowInfo info_;
  EventSink& sink_;
  flow::AnomalyCounter& anomalies_;
  std::uint64_t& events_;
  std::unique_ptr<dissect::DatagramSession> session_;
};

}  // namespace

class PacketPipeline::Flows final : public flow::StreamHandlerFactory,
                                    public flow::DatagramHandlerFactory {
 public:
  Flows(const dissect::Registry& registry, EventSink& sink, flow::AnomalyCounter& anomalies,
        std::uint64_t& events)
      : registry_(registry), sink_(sink), anomalies_(anomalies), events_(events) {}

  std::unique_ptr<flow::StreamHandler> new_stream(const flow::FlowInfo& info) override {
    return std::make_unique<FlowDissection>(
        info, registry_, registry_.stream_for_port(info.server.port), sink_, anomalies_, events_);
  }
  bool is_service_port(std::uint16_t port) const override {
    return port < 1024 || registry_.is_service_port(port);
  }

  bool is_datagram_service_port(std::uint16_t port) const override {
    return registry_.datagram_for_port(port) != nullptr;
  }
  std::unique_ptr<flow::DatagramHandler> new_datagram_flow(const flow::FlowInfo& info) override {
    const dissect::DatagramDissector* dissector = registry_.datagram_for_port(info.server.port);
    if (dissector == nullptr) return nullptr;
    return std::make_unique<DatagramDissection>(info, *dissector, sink_, anomalies_, events_);
  }

 private:
  const dissect::Registry& registry_;
  EventSink& sink_;
  flow::AnomalyCounter& anomalies_;
  std::uint64_t& events_;
};

PacketPipeline::PacketPipeline(const dissect::Registry& registry, EventSink& sink,
                               PipelineOptions options)
    : flows_(std::make_unique<Flows>(registry, sink, anomalies_, counts_.events)),
      table_(std::make_unique<flow::FlowTable>(*flows_, anomalies_, options.flow_limits)),
      datagrams_(
          std::make_unique<flow::DatagramTable>(*flows_, anomalies_, options.datagram_limits)),
      fragments_(std::make_unique<flow::IpReassembler>(anomalies_, options.fragment_limits)) {}

PacketPipeline::~PacketPipeline() = default;

void PacketPipeline::on_packet(const capture::RawPacket& packet) {
  ++counts_.packets;
  counts_.bytes += packet.data.size();
  if (packet.time_ns > last_time_ns_) last_time_ns_ = packet.time_ns;

  flow::DecodedPacket decoded;
  switch (flow::decode_packet(packet.link_type, packet.data, decoded, anomalies_, *fragments_,
                              packet.time_ns)) {
    case flow::DecodeStatus::kMalformed:
      ++counts_.malformed;
      return;
    case flow::DecodeStatus::kIgnored:
      ++counts_.ignored;
      return;
    case flow::DecodeStatus::kOk:
      break;
  }
  if (decoded.transport == flow::Transport::kUdp) {
    ++counts_.udp;
    datagrams_->on_udp_packet(decoded, packet.time_ns);
    return;
  }
  table_->on_tcp_packet(decoded, packet.time_ns);
}

void PacketPipeline::expire_idle(std::uint64_t now_ns) {
  table_->expire_idle(now_ns);
  datagrams_->expire_idle(now_ns);
  fragments_->expire(now_ns);
}

void PacketPipeline::finish() {
  table_->close_all(last_time_ns_);
  datagrams_->close_all(last_time_ns_);
}

CaptureStats PacketPipeline::stats() const {
  CaptureStats out = counts_;
  out.flows = table_->counters().flows_created;
  out.udp_flows = datagrams_->counters().flows_created;
  out.reassembled = fragments_->counters().reassembled;
  for (const auto& [id, n] : anomalies_.counts()) out.anomalies.emplace(id, n);
  return out;
}

Result<CaptureStats> process_packets(capture::PacketSource& source,
                                     const dissect::Registry& registry, EventSink& sink,
                                     PipelineOptions options) {
  PacketPipeline pipeline(registry, sink, options);
  for (;;) {
    auto next = source.next();
    if (!next) {
      pipeline.finish();
      return tl::unexpected<Error>(next.error());
    }
    if (!next->has_value()) break;
    pipeline.on_packet(**next);
  }
  pipeline.finish();
  return pipeline.stats();
}

Result<CaptureStats> process_capture_file(const std::string& path,
                                          const dissect::Registry& registry, EventSink& sink,
                                          PipelineOptions options) {
  auto source = capture::PcapFileSource::open(path);
  if (!source) return tl::unexpected<Error>(source.error());
  return process_packets(**source, registry, sink, options);
}

}  // namespace vagt::agent::decode
