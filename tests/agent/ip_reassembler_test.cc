// IPv4/IPv6 fragment reassembly: the reassembler alone, and fragmented
// Kerberos datagrams through the pipeline.

#include "agent/flow/ip_reassembler.h"

#include <gtest/gtest.h>

#include <deque>
#include <numeric>
#include <vector>

#include "agent/flow/packet_decoder.h"
#include "tests/agent/packet_builder.h"

namespace vagt::agent::flow {
namespace {

namespace tb = vagt::agent::testing;
using tb::Bytes;

constexpr std::uint64_t kSecond = 1'000'000'000;

Bytes pattern(std::size_t n) {
  Bytes b(n);
  std::iota(b.begin(), b.end(), std::uint8_t{1});
  return b;
}

FragmentKey key(std::uint32_t id = 7) {
  FragmentKey k;
  k.src[0] = 10;
  k.dst[0] = 11;
  k.protocol = 17;
  k.id = id;
  return k;
}

ByteView part(const Bytes& b, std::size_t offset, std::size_t n) {
  return ByteView(b).subspan(offset, n);
}

TEST(IpReassembler, OutOfOrderFragmentsCompleteOnTheLastArrival) {
  AnomalyCounter anomalies;
  IpReassembler r(anomalies);
  const Bytes whole = pattern(100);
  EXPECT_FALSE(r.add(key(), 80, false, part(whole, 80, 20), kSecond));
  EXPECT_FALSE(r.add(key(), 0, true, part(whole, 0, 40), kSecond));
  EXPECT_EQ(r.in_progress(), 1u);
  EXPECT_EQ(r.buffered_bytes(), 60u);
  // An exact duplicate changes nothing.
  EXPECT_FALSE(r.add(key(), 0, true, part(whole, 0, 40), kSecond));
  auto done = r.add(key(), 40, true, part(whole, 40, 40), kSecond);
  ASSERT_TRUE(done);
  EXPECT_EQ(Bytes(done->begin(), done->end()), whole);
  EXPECT_EQ(r.in_progress(), 0u);
  EXPECT_EQ(r.buffered_bytes(), 0u);
  EXPECT_EQ(r.counters().reassembled, 1u);
  EXPECT_EQ(anomalies.total(), 0u);
}

TEST(IpReassembler, OverlapDropsTheDatagram) {
  AnomalyCounter anomalies;
  IpReassembler r(anomalies);
  const Bytes whole = pattern(64);
  EXPECT_FALSE(r.add(key(), 0, true, part(whole, 0, 32), kSecond));
  // Starts inside the first piece with other bytes (a teardrop-style overlap).
  Bytes other(24, 0xEE);
  EXPECT_FALSE(r.add(key(), 24, true, ByteView(other), kSecond));
  EXPECT_EQ(anomalies.count("ip.fragment_overlap"), 1u);
  EXPECT_EQ(r.in_progress(), 0u);
  EXPECT_EQ(r.buffered_bytes(), 0u);
  // What follows starts afresh and cannot complete from the dropped piece.
  EXPECT_FALSE(r.add(key(), 32, false, part(whole, 32, 32), kSecond));
  EXPECT_EQ(r.in_progress(), 1u);
}

TEST(IpReassembler, MissingFragmentTimesOut) {
  AnomalyCounter anomalies;
  FragmentLimits limits;
  limits.timeout_ns = 5 * kSecond;
  IpReassembler r(anomalies, limits);
  const Bytes whole = pattern(48);
  EXPECT_FALSE(r.add(key(), 0, true, part(whole, 0, 16), kSecond));
  EXPECT_FALSE(r.add(key(), 32, false, part(whole, 32, 16), kSecond));
  r.expire(3 * kSecond);
  EXPECT_EQ(r.in_progress(), 1u);
  r.expire(7 * kSecond);
  EXPECT_EQ(r.in_progress(), 0u);
  EXPECT_EQ(r.buffered_bytes(), 0u);
  EXPECT_EQ(anomalies.count("ip.fragment_timeout"), 1u);
  // The late middle fragment alone completes nothing.
  EXPECT_FALSE(r.add(key(), 16, true, part(whole, 16, 16), 8 * kSecond));
}

TEST(IpReassembler, LimitsOnFragmentsSizeAndTable) {
  AnomalyCounter anomalies;
  FragmentLimits limits;
  limits.max_fragments = 4;
  limits.max_datagrams = 2;
  limits.max_datagram_bytes = 1000;
  IpReassembler r(anomalies, limits);
  const Bytes whole = pattern(200);
  for (std::size_t i = 0; i < 5; ++i) r.add(key(1), i * 8, true, part(whole, i * 8, 8), kSecond);
  EXPECT_EQ(anomalies.count("ip.fragment_too_many"), 1u);
  r.add(key(2), 992, true, part(whole, 0, 16), kSecond);
  EXPECT_EQ(anomalies.count("ip.fragment_too_large"), 1u);
  r.add(key(3), 0, true, part(whole, 0, 8), kSecond);
  r.add(key(4), 0, true, part(whole, 0, 8), kSecond);
  r.add(key(5), 0, true, part(whole, 0, 8), kSecond);
  EXPECT_EQ(anomalies.count("ip.fragment_table_full"), 1u);
  EXPECT_EQ(r.in_progress(), 2u);
  // Two last fragments that disagree on the end.
  r.add(key(3), 64, false, part(whole, 0, 8), kSecond);
  r.add(key(3), 80, false, part(whole, 0, 8), kSecond);
  EXPECT_EQ(anomalies.count("ip.fragment_inconsistent"), 1u);
}

// A UDP datagram (header + payload) split into IPv4 fragments of `size`
// bytes (a multiple of 8), returned as Ethernet frames in the given order.
std::vector<Bytes> ipv4_fragments(const Bytes& udp, std::size_t size,
                                  const std::vector<std::size_t>& order) {
  std::vector<Bytes> pieces;
  for (std::size_t off = 0; off < udp.size(); off += size) {
    const std::size_t n = std::min(size, udp.size() - off);
    const bool more = off + n < udp.size();
    const auto frag = static_cast<std::uint16_t>((more ? 0x2000 : 0) | (off / 8));
    pieces.push_back(
        tb::ethernet(0x0800, tb::ipv4(tb::kClientIp, tb::kServerIp, 17,
                                      Bytes(udp.begin() + static_cast<std::ptrdiff_t>(off),
                                            udp.begin() + static_cast<std::ptrdiff_t>(off + n)),
                                      frag)));
  }
  std::vector<Bytes> out;
  for (std::size_t i : order) out.push_back(pieces.at(i));
  return out;
}

TEST(FragmentDecoding, Ipv4FragmentsOutOfOrderGiveTheWholeUdpDatagram) {
  AnomalyCounter anomalies;
  IpReassembler r(anomalies);
  const Bytes payload = pattern(300);
  const Bytes udp = tb::udp_datagram(50000, 88, payload);
  const auto frames = ipv4_fragments(udp, 104, {2, 0, 1});
  DecodedPacket d;
  EXPECT_EQ(decode_packet(capture::LinkType::kEthernet, frames[0], d, anomalies, r, kSecond),
            DecodeStatus::kIgnored);
  EXPECT_EQ(decode_packet(capture::LinkType::kEthernet, frames[1], d, anomalies, r, kSecond),
            DecodeStatus::kIgnored);
  ASSERT_EQ(decode_packet(capture::LinkType::kEthernet, frames[2], d, anomalies, r, kSecond),
            DecodeStatus::kOk);
  EXPECT_EQ(d.transport, Transport::kUdp);
  EXPECT_EQ(d.dst.port, 88);
  EXPECT_EQ(Bytes(d.payload.begin(), d.payload.end()), payload);
  EXPECT_EQ(anomalies.total(), 0u);
}

TEST(FragmentDecoding, Ipv6FragmentHeader) {
  AnomalyCounter anomalies;
  IpReassembler r(anomalies);
  const Bytes payload = pattern(150);
  const Bytes udp = tb::udp_datagram(50000, 1812, payload);
  auto frame = [&](std::size_t off, std::size_t n, bool more) {
    Bytes ext{17, 0};
    tb::put16(ext, static_cast<std::uint16_t>(off | (more ? 1 : 0)));
    tb::put32(ext, 0xC0FFEE);
    ext.insert(ext.end(), udp.begin() + static_cast<std::ptrdiff_t>(off),
               udp.begin() + static_cast<std::ptrdiff_t>(off + n));
    return tb::ethernet(0x86DD, tb::ipv6(1, 2, 44, ext));
  };
  const Bytes second = frame(80, udp.size() - 80, false);
  const Bytes first = frame(0, 80, true);
  DecodedPacket d;
  EXPECT_EQ(decode_packet(capture::LinkType::kEthernet, second, d, anomalies, r, kSecond),
            DecodeStatus::kIgnored);
  ASSERT_EQ(decode_packet(capture::LinkType::kEthernet, first, d, anomalies, r, kSecond),
            DecodeStatus::kOk);
  EXPECT_EQ(d.dst.port, 1812);
  EXPECT_EQ(d.src.address_length, 16);
  EXPECT_EQ(Bytes(d.payload.begin(), d.payload.end()), payload);
}

}  // namespace
}  // namespace vagt::agent::flow
