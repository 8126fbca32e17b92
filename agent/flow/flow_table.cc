#include "agent/flow/flow_table.h"

#include <algorithm>
#include <vector>

namespace vagt::agent::flow {
struct FlowTable::Flow {
  class Sink final : public HalfStreamSink {
   public:
    Sink(Flow& flow, Direction direction) : flow_(flow), direction_(direction) {}
    void deliver(ByteView data, std::uint64_t time_ns) override {
      if (flow_.handler && flow_.handler->wants_data()) {
        flow_.handler->on_data(direction_, data, time_ns);
      }
    }
    void gap(std::uint64_t length, std::uint64_t time_ns) override {
      if (flow_.handler && flow_.handler->wants_data()) {
        flow_.handler->on_gap(direction_, length, time_ns);
      }
    }

   private:
    Flow& flow_;
    Direction direction_;
  };

  Flow()
      : sinks{Sink(*this, Direction::kClientToServer), Sink(*this, Direction::kServerToClient)} {}

  Key key;
  FlowInfo info;
  std::unique_ptr<StreamHandler> handler;
  TcpHalfStream halves[2];
  Sink sinks[2];
  std::size_t buffered = 0;
  std::uint64_t last_seen_ns = 0;
  bool rst = false;
};

FlowTable::FlowTable(StreamHandlerFactory& factory, AnomalyCounter& anomalies, FlowLimits limits)
    : factory_(factory), anomalies_(anomalies), limits_(limits) {}

FlowTable::~FlowTable() = default;

FlowTable::Flow* FlowTable::create_flow(const Key& key, const DecodedPacket& packet,
                                        std::uint64_t time_ns) {
  if (flows_.size() >= limits_.max_flows) {
    anomalies_.add("flow.table_full");
    return nullptr;
  }
  auto flow = std::make_unique<Flow>();
  flow->key = key;
  flow->last_seen_ns = time_ns;
  flow->info.transport = Transport::kTcp;

  // Who is the client: the SYN sender; else the side talking to a service
  // port; else the side with the higher (ephemeral) port.
  const bool syn = (packet.flags & tcp_flags::kSyn) != 0;
  const bool ack = (packet.flags & tcp_flags::kAck) != 0;
  bool src_is_client = true;
  if (syn) {
    src_is_client = !ack;
    flow->info.saw_syn = true;
  } else {
    const bool src_service = factory_.is_service_port(packet.src.port);
    const bool dst_service = factory_.is_service_port(packet.dst.port);
    if (src_service != dst_service) {
      src_is_client = dst_service;
    } else if (packet.src.port != packet.dst.port) {
      src_is_client = packet.src.port > packet.dst.port;
    }
  }
  flow->info.client = src_is_client ? packet.src : packet.dst;
  flow->info.server = src_is_client ? packet.dst : packet.src;
  flow->handler = factory_.new_stream(flow->info);
  ++counters_.flows_created;
  Flow* raw = flow.get();
  flows_.emplace(key, std::move(flow));
  return raw;
}

void FlowTable::on_tcp_packet(const DecodedPacket& packet, std::uint64_t time_ns) {
  if (time_ns >= last_sweep_ns_ + std::max<std::uint64_t>(limits_.idle_timeout_ns / 8, 1)) {
    expire_idle(time_ns);
  }
  const Key key = FlowKey::of(packet.src, packet.dst);
  auto it = flows_.find(key);
  Flow* flow = nullptr;
  if (it == flows_.end()) {
    const bool syn = (packet.flags & tcp_flags::kSyn) != 0;
    const bool rst = (packet.flags & tcp_flags::kRst) != 0;
    // A flow starts with a SYN or with data; stray ACKs, FINs and RSTs of
    // flows already closed (or never seen) do not open one.
    if (rst || (!syn && packet.payload.empty())) return;
    flow = create_flow(key, packet, time_ns);
    if (flow == nullptr) return;
  } else {
    flow = it->second.get();
  }
  flow->last_seen_ns = std::max(flow->last_seen_ns, time_ns);

  const Direction direction =
      packet.src == flow->info.client ? Direction::kClientToServer : Direction::kServerToClient;
  const auto index = static_cast<std::size_t>(direction);

  if ((packet.flags & tcp_flags::kRst) != 0) {
    close_flow(*flow, CloseReason::kReset, time_ns);
    return;
  }

  const BufferBudget budget{limits_.max_buffered_per_flow, limits_.max_buffered_total,
                            &flow->buffered, &total_buffered_};
  if (flow->handler && flow->handler->wants_data()) {
    flow->halves[index].on_segment(packet.seq, packet.flags, packet.payload, time_ns,
                                   flow->sinks[index], budget, anomalies_);
  } else {
    // Nobody reads this flow: only follow FINs so it can close.
    flow->halves[0].discard(budget);
    flow->halves[1].discard(budget);
    flow->halves[index].on_segment(packet.seq, packet.flags, ByteView{}, time_ns,
                                   flow->sinks[index], budget, anomalies_);
  }
  // Both sides sent FIN: close (holes before a FIN are reported by flush).
  if (flow->halves[0].fin_seen() && flow->halves[1].fin_seen()) {
    close_flow(*flow, CloseReason::kFin, time_ns);
  }
}

void FlowTable::close_flow(Flow& flow, CloseReason reason, std::uint64_t time_ns) {
  const BufferBudget budget{limits_.max_buffered_per_flow, limits_.max_buffered_total,
                            &flow.buffered, &total_buffered_};
  for (std::size_t i = 0; i < 2; ++i) {
    if (flow.handler && flow.handler->wants_data()) {
      flow.halves[i].flush(time_ns, flow.sinks[i], budget, anomalies_);
    } else {
      flow.halves[i].discard(budget);
    }
  }
  if (flow.handler) flow.handler->on_close(reason, time_ns);
  ++counters_.flows_closed;
  if (reason == CloseReason::kIdleTimeout) ++counters_.flows_timed_out;
  flows_.erase(flow.key);  // destroys `flow`
}

void FlowTable::expire_idle(std::uint64_t now_ns) {
  last_sweep_ns_ = now_ns;
  std::vector<Flow*> idle;
  for (auto& [key, flow] : flows_) {
    if (now_ns > flow->last_seen_ns && now_ns - flow->last_seen_ns > limits_.idle_timeout_ns) {
      idle.push_back(flow.get());
    }
  }
  // Close in a stable order (creation order is not kept; use last activity).
  std::sort(idle.begin(), idle.end(),
            [](const Flow* x, const Flow* y) { return x->last_seen_ns < y->last_seen_ns; });
  for (Flow* flow : idle) close_flow(*flow, CloseReason::kIdleTimeout, flow->last_seen_ns);
}

void FlowTable::close_all(std::uint64_t now_ns) {
  std::vector<Flow*> all;
  all.reserve(flows_.size());
  for (auto& [key, flow] : flows_) all.push_back(flow.get());
  std::sort(all.begin(), all.end(),
            [](const Flow* x, const Flow* y) { return x->last_seen_ns < y->last_seen_ns; });
  for (Flow* flow : all)
    close_flow(*flow, CloseReason::kShutdown, std::max(now_ns, flow->last_seen_ns));
}

}  // namespace vagt::agent::flow
