#include "agent/flow/ip_reassembler.h"

#include <algorithm>
#include <iterator>

namespace vagt::agent::flow {

IpReassembler::IpReassembler(AnomalyCounter& anomalies, FragmentLimits limits)
    : anomalies_(anomalies), limits_(limits) {}

void IpReassembler::drop(std::map<FragmentKey, Datagram>::iterator it, std::string_view anomaly) {
  anomalies_.add(anomaly);
  buffered_ -= it->second.bytes;
  datagrams_.erase(it);
}

void IpReassembler::expire(std::uint64_t now_ns) {
  last_sweep_ns_ = now_ns;
  for (auto it = datagrams_.begin(); it != datagrams_.end();) {
    auto next = std::next(it);
    if (now_ns > it->second.first_seen_ns &&
        now_ns - it->second.first_seen_ns > limits_.timeout_ns) {
      drop(it, "ip.fragment_timeout");
    }
    it = next;
  }
}

std::optional<ByteView> IpReassembler::add(const FragmentKey& key, std::size_t offset, bool more,
                                           ByteView data, std::uint64_t now_ns) {
  ++counters_.fragments;
  if (now_ns >= last_sweep_ns_ + std::max<std::uint64_t>(limits_.timeout_ns / 8, 1)) {
    expire(now_ns);
  }
  auto it = datagrams_.find(key);
  if (it == datagrams_.end()) {
    if (datagrams_.size() >= limits_.max_datagrams) {
      anomalies_.add("ip.fragment_table_full");
      return std::nullopt;
    }
    it = datagrams_.emplace(key, Datagram{}).first;
    it->second.first_seen_ns = now_ns;
  }
  Datagram& d = it->second;
  const std::size_t end = offset + data.size();
  if (end > limits_.max_datagram_bytes) {
    drop(it, "ip.fragment_too_large");
    return std::nullopt;
  }
  if (!more) {
    if (d.total && *d.total != end) {
      drop(it, "ip.fragment_inconsistent");
      return std::nullopt;
    }
    d.total = end;
  }
  const auto held_end = [&d]() -> std::size_t {
    if (d.pieces.empty()) return 0;
    const auto& last = *std::prev(d.pieces.end());
    return last.first + last.second.size();
  };
  if (d.total && (end > *d.total || held_end() > *d.total)) {
    drop(it, "ip.fragment_inconsistent");
    return std::nullopt;
  }
  // Overlaps with the neighbours (pieces never overlap each other).
  auto after = d.pieces.lower_bound(offset);
  if (after != d.pieces.end() && after->first == offset && after->second.size() == data.size() &&
      std::equal(data.begin(), data.end(), after->second.begin())) {
    return std::nullopt;  // an exact duplicate
  }
  const bool overlaps_after = after != d.pieces.end() && after->first < end;
  const bool overlaps_before = after != d.pieces.begin() &&
                               std::prev(after)->first + std::prev(after)->second.size() > offset;
  if (overlaps_after || overlaps_before) {
    drop(it, "ip.fragment_overlap");
    return std::nullopt;
  }
  if (d.pieces.size() >= limits_.max_fragments) {
    drop(it, "ip.fragment_too_many");
    return std::nullopt;
  }
  if (buffered_ + data.size() > limits_.max_buffered_total) {
    anomalies_.add("ip.fragment_table_full");
    if (d.pieces.empty()) datagrams_.erase(it);
    return std::nullopt;
  }
  if (!data.empty()) {
    d.pieces.emplace(offset, std::vector<std::uint8_t>(data.begin(), data.end()));
    d.bytes += data.size();
    buffered_ += data.size();
  }
  // Pieces do not overlap and lie within [0, total): whole when they add up.
  if (!d.total || d.bytes != *d.total) return std::nullopt;
  completed_.clear();
  completed_.reserve(*d.total);
  for (const auto& [off, bytes] : d.pieces)
    completed_.insert(completed_.end(), bytes.begin(), bytes.end());
  buffered_ -= d.bytes;
  datagrams_.erase(it);
  ++counters_.reassembled;
  return ByteView(completed_);
}

}  // namespace vagt::agent::flow
