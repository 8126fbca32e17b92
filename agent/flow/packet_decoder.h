#pragma once

// Link, network and transport decoding of one captured frame: Ethernet (with
// 802.1Q/802.1ad tags), Linux SLL/SLL2, raw IP, null/loopback; IPv4, IPv6
// (extension headers skipped); TCP and UDP. All reads go through ByteReader;
// every problem is an anomaly id counted in the AnomalyCounter.

#include <cstdint>

#include "agent/capture/packet_source.h"
#include "agent/flow/anomaly_counter.h"
#include "agent/flow/flow_types.h"
#include "agent/flow/ip_reassembler.h"
#include "common/byte_reader.h"

namespace vagt::agent::flow {

namespace tcp_flags {
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
}  // namespace tcp_flags

struct DecodedPacket {
  Transport transport = Transport::kTcp;
  Endpoint src;
  Endpoint dst;
  // TCP only.
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;
  // Transport payload; points into the frame.
  ByteView payload;
};

enum class DecodeStatus : std::uint8_t {
  kOk,         // TCP or UDP packet decoded into DecodedPacket
  kIgnored,    // well-formed but not for us (ARP, ICMP, non-first fragment, ...)
  kMalformed,  // counted as an anomaly
};

// Decodes `frame` of the given link type. An IP packet whose stated length
// runs past the captured bytes (snapped or cut) is "ip.truncated_payload";
// IP fragments are dropped ("ipv4.fragment_dropped", "ipv6.fragment_dropped").
DecodeStatus decode_packet(capture::LinkType link, ByteView frame, DecodedPacket& out,
                           AnomalyCounter& anomalies);

// The same, with IPv4/IPv6 fragments reassembled in `reassembler` (packet
// time `time_ns`): a fragment that does not complete its datagram is
// kIgnored; the one that does gives the whole datagram, whose payload view
// points into the reassembler and is valid until its next use.
DecodeStatus decode_packet(capture::LinkType link, ByteView frame, DecodedPacket& out,
                           AnomalyCounter& anomalies, IpReassembler& reassembler,
                           std::uint64_t time_ns);

}  // namespace vagt::agent::flow
