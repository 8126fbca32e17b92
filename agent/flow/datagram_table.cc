#include "agent/flow/datagram_table.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace vagt::agent::flow {

DatagramTable::DatagramTable(DatagramHandlerFactory& factory, AnomalyCounter& anomalies,
                             DatagramLimits limits)
    : factory_(factory), anomalies_(anomalies), limits_(limits) {}

DatagramTable::~DatagramTable() = default;

void DatagramTable::on_udp_packet(const DecodedPacket& packet, std::uint64_t time_ns) {
  if (time_ns >= last_sweep_ns_ + std::max<std::uint64_t>(limits_.idle_timeout_ns / 8, 1)) {
    expire_idle(time_ns);
  }
  const FlowKey key = FlowKey::of(packet.src, packet.dst);
  auto it = flows_.find(key);
  if (it == flows_.end()) {
    // The server is the side on a service port; the destination wins when
    // both are (a request seen first is the usual case).
    FlowInfo info;
    info.transport = Transport::kUdp;
    if (factory_.is_datagram_service_port(packet.dst.port)) {
      info.client = packet.src;
      info.server = packet.dst;
    } else if (factory_.is_datagram_service_port(packet.src.port)) {
      info.client = packet.dst;
      info.server = packet.src;
    } else {
      ++counters_.not_tracked;
      return;
    }
    if (flows_.size() >= limits_.max_flows) {
      anomalies_.add("udp.flow_table_full");
      ++counters_.not_tracked;
      return;
    }
    Flow flow;
    flow.info = info;
    flow.handler = factory_.new_datagram_flow(info);
    if (!flow.handler) {
      ++counters_.not_tracked;
      return;
    }
    ++counters_.flows_created;
    it = flows_.emplace(key, std::move(flow)).first;
  }
  Flow& flow = it->second;
  flow.last_seen_ns = std::max(flow.last_seen_ns, time_ns);
  const Direction direction =
      packet.src == flow.info.client ? Direction::kClientToServer : Direction::kServerToClient;
  ++counters_.datagrams;
  flow.handler->on_datagram(direction, packet.payload, time_ns);
}

void DatagramTable::close_flows(bool only_idle, std::uint64_t now_ns) {
  std::vector<std::pair<std::uint64_t, FlowKey>> closing;
  for (const auto& [key, flow] : flows_) {
    if (!only_idle ||
        (now_ns > flow.last_seen_ns && now_ns - flow.last_seen_ns > limits_.idle_timeout_ns)) {
      closing.emplace_back(flow.last_seen_ns, key);
    }
  }
  // A stable order: by last activity.
  std::sort(closing.begin(), closing.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (const auto& [last_seen, key] : closing) {
    auto it = flows_.find(key);
    if (it == flows_.end()) continue;
    Flow flow = std::move(it->second);
    flows_.erase(it);
    flow.handler->on_close(only_idle ? CloseReason::kIdleTimeout : CloseReason::kShutdown,
                           only_idle ? last_seen : std::max(now_ns, last_seen));
  }
}

void DatagramTable::expire_idle(std::uint64_t now_ns) {
  last_sweep_ns_ = now_ns;
  close_flows(true, now_ns);
}

void DatagramTable::close_all(std::uint64_t now_ns) { close_flows(false, now_ns); }

}  // namespace vagt::agent::flow
