#pragma once

// Hand-built frames for tests: Ethernet / IPv4 / IPv6 / TCP / UDP.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "agent/capture/packet_source.h"
#include "agent/flow/packet_decoder.h"

namespace vagt::agent::testing {

using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
inline Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Tcp {
  std::uint16_t sport = 50000;
  std::uint16_t dport = 389;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = flow::tcp_flags::kAck;
  Bytes payload;
};

inline Bytes tcp_segment(const Tcp& t) {
  Bytes b;
  put16(b, t.sport);
  put16(b, t.dport);
  put32(b, t.seq);
  put32(b, t.ack);
  b.push_back(5 << 4);  // data offset 5 words
  b.push_back(t.flags);
  put16(b, 65535);  // window
  put16(b, 0);      // checksum (not checked)
  put16(b, 0);
  b.insert(b.end(), t.payload.begin(), t.payload.end());
  return b;
}

inline Bytes udp_datagram(std::uint16_t sport, std::uint16_t dport, const Bytes& payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<std::uint16_t>(8 + payload.size()));
  put16(b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline Bytes ipv4(std::array<std::uint8_t, 4> src, std::array<std::uint8_t, 4> dst,
                  std::uint8_t proto, const Bytes& l4, std::uint16_t frag = 0) {
  Bytes b;
  b.push_back(0x45);
  b.push_back(0);
  put16(b, static_cast<std::uint16_t>(20 + l4.size()));
  put16(b, 1);
  put16(b, frag);
  b.push_back(64);
  b.push_back(proto);
  put16(b, 0);
  b.insert(b.end(), src.begin(), src.end());
  b.insert(b.end(), dst.begin(), dst.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

inline Bytes ipv6(std::uint8_t last_src, std::uint8_t last_dst, std::uint8_t next_header,
                  const Bytes& payload) {
  Bytes b;
  put32(b, 0x60000000);
  put16(b, static_cast<std::uint16_t>(payload.size()));
  b.push_back(next_header);
  b.push_back(64);
  std::array<std::uint8_t, 16> src{0x20, 0x01, 0x0d, 0xb8};
  std::array<std::uint8_t, 16> dst{0x20, 0x01, 0x0d, 0xb8};
  src[15] = last_src;
  dst[15] = last_dst;
  b.insert(b.end(), src.begin(), src.end());
  b.insert(b.end(), dst.begin(), dst.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline Bytes ethernet(std::uint16_t ether_type, const Bytes& payload,
                      std::initializer_list<std::uint16_t> vlan_tpids = {}) {
  Bytes b(12, 0x02);
  std::uint16_t vid = 10;
  for (std::uint16_t tpid : vlan_tpids) {
    put16(b, tpid);
    put16(b, vid++);
  }
  put16(b, ether_type);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline const std::array<std::uint8_t, 4> kClientIp = {10, 0, 0, 1};
inline const std::array<std::uint8_t, 4> kServerIp = {10, 0, 0, 2};

// Ethernet/IPv4/TCP from client (10.0.0.1) to server (10.0.0.2) or back.
inline Bytes eth_tcp(const Tcp& t, bool from_client = true) {
  return ethernet(0x0800, ipv4(from_client ? kClientIp : kServerIp,
                               from_client ? kServerIp : kClientIp, 6, tcp_segment(t)));
}

inline capture::RawPacket raw_packet(const Bytes& frame, std::uint64_t time_ns,
                                     capture::LinkType link = capture::LinkType::kEthernet) {
  capture::RawPacket p;
  p.time_ns = time_ns;
  p.link_type = link;
  p.data = ByteView(frame);
  p.wire_length = static_cast<std::uint32_t>(frame.size());
  return p;
}

}  // namespace vagt::agent::testing
