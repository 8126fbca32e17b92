#pragma once

// IPv4 and IPv6 fragment reassembly with bounded memory. Fragments are kept
// per (version, source, destination, protocol, identification) until the
// datagram is whole, then handed back once. Anomalies (stable ids, counted):
//  - "ip.fragment_overlap": a fragment overlaps another with different
//    bounds or bytes; the datagram is dropped (no guessing which copy a host
//    would believe: overlaps are an evasion technique). An exact duplicate is
//    ignored.
//  - "ip.fragment_too_many": more than max_fragments for one datagram; dropped.
//  - "ip.fragment_too_large": the datagram would exceed max_datagram_bytes;
//    dropped.
//  - "ip.fragment_inconsistent": a second last fragment with another end,
//    or data past the end; dropped.
//  - "ip.fragment_timeout": incomplete after timeout_ns; dropped.
//  - "ip.fragment_table_full": max_datagrams in progress or
//    max_buffered_total bytes held; the new fragment is not kept.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "agent/flow/anomaly_counter.h"
#include "agent/flow/flow_types.h"
#include "common/byte_reader.h"

namespace vagt::agent::flow {

struct FragmentLimits {
  std::size_t max_datagrams = 4096;            // reassemblies in progress
  std::size_t max_fragments = 64;              // per datagram
  std::size_t max_datagram_bytes = 65535;      // reassembled payload
  std::size_t max_buffered_total = 16U << 20;  // bytes held, all datagrams
  std::uint64_t timeout_ns = 30'000'000'000;   // 30 s (RFC 791 suggests 15 s at least)
};

struct FragmentKey {
  std::uint8_t version = 4;  // 4 or 6
  std::array<std::uint8_t, 16> src{};
  std::array<std::uint8_t, 16> dst{};
  std::uint8_t protocol = 0;  // IPv4 protocol; 0 for IPv6
  std::uint32_t id = 0;       // 16 bits for IPv4, 32 for IPv6
  friend auto operator<=>(const FragmentKey&, const FragmentKey&) = default;
};

struct FragmentCounters {
  std::uint64_t fragments = 0;    // fragments seen
  std::uint64_t reassembled = 0;  // datagrams completed
};

class IpReassembler {
 public:
  explicit IpReassembler(AnomalyCounter& anomalies, FragmentLimits limits = {});

  // One fragment: `offset` in bytes into the fragmentable payload, `more` the
  // more-fragments flag, `data` its payload. Returns the whole payload when
  // this fragment completes the datagram; the view is valid until the next
  // call.
  std::optional<ByteView> add(const FragmentKey& key, std::size_t offset, bool more, ByteView data,
                              std::uint64_t now_ns);
  // Drops reassemblies older than the timeout at `now_ns`.
  void expire(std::uint64_t now_ns);

  std::size_t in_progress() const { return datagrams_.size(); }
  std::size_t buffered_bytes() const { return buffered_; }
  const FragmentCounters& counters() const { return counters_; }

 private:
  struct Datagram {
    std::map<std::size_t, std::vector<std::uint8_t>> pieces;  // offset -> bytes
    std::optional<std::size_t> total;                         // known from the last fragment
    std::size_t bytes = 0;
    std::uint64_t first_seen_ns = 0;
  };

  void drop(std::map<FragmentKey, Datagram>::iterator it, std::string_view anomaly);

  AnomalyCounter& anomalies_;
  FragmentLimits limits_;
  std::map<FragmentKey, Datagram> datagrams_;
  std::size_t buffered_ = 0;
  std::uint64_t last_sweep_ns_ = 0;
  std::vector<std::uint8_t> completed_;
  FragmentCounters counters_;
};

}  // namespace vagt::agent::flow
