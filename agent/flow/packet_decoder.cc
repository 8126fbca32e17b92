#include "agent/flow/packet_decoder.h"

#include <algorithm>

namespace vagt::agent::flow {
namespace {

constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeIpv6 = 0x86DD;
constexpr std::uint16_t kEtherTypeVlan = 0x8100;
constexpr std::uint16_t kEtherTypeQinQ = 0x88A8;
constexpr std::uint16_t kEtherTypeQinQOld = 0x9100;
constexpr int kMaxVlanTags = 4;
constexpr int kMaxIpv6ExtensionHeaders = 10;

constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;

// BSD address families seen in DLT_NULL/DLT_LOOP headers.
constexpr std::uint32_t kAfInet = 2;
bool is_af_inet6(std::uint32_t af) { return af == 10 || af == 24 || af == 28 || af == 30; }

DecodeStatus malformed(AnomalyCounter& anomalies, std::string_view id) {
  anomalies.add(id);
  return DecodeStatus::kMalformed;
}

DecodeStatus decode_transport(std::uint8_t proto, ByteView data, DecodedPacket& out,
                              AnomalyCounter& anomalies) {
  ByteReader r(data);
  if (proto == kProtoTcp) {
    out.transport = Transport::kTcp;
    out.src.port = r.u16be();
    out.dst.port = r.u16be();
    out.seq = r.u32be();
    out.ack = r.u32be();
    const std::uint8_t offset_byte = r.u8();
    out.flags = r.u8();
    r.skip(6);  // window, checksum, urgent pointer
    if (!r.ok()) return malformed(anomalies, "tcp.truncated_header");
    const std::size_t header_len = static_cast<std::size_t>(offset_byte >> 4) * 4;
    if (header_len < 20) return malformed(anomalies, "tcp.bad_data_offset");
    if (header_len > data.size()) return malformed(anomalies, "tcp.truncated_header");
    out.payload = data.subspan(header_len);
    return DecodeStatus::kOk;
  }
  if (proto == kProtoUdp) {
    out.transport = Transport::kUdp;
    out.src.port = r.u16be();
    out.dst.port = r.u16be();
    const std::uint16_t length = r.u16be();
    r.skip(2);  // checksum
    if (!r.ok()) return malformed(anomalies, "udp.truncated_header");
    if (length < 8 || length > data.size()) return malformed(anomalies, "udp.bad_length");
    out.payload = data.subspan(8, length - 8u);
    return DecodeStatus::kOk;
  }
  return DecodeStatus::kIgnored;
}

// Where fragments go (no reassembler: they are dropped and counted).
struct Fragments {
  IpReassembler* reassembler = nullptr;
  std::uint64_t now_ns = 0;
};

DecodeStatus decode_ipv4(ByteView data, DecodedPacket& out, AnomalyCounter& anomalies,
                         Fragments fragments) {
  ByteReader r(data);
  const std::uint8_t version_ihl = r.u8();
  r.skip(1);  // DSCP/ECN
  const std::uint16_t total_length = r.u16be();
  const std::uint16_t identification = r.u16be();
  const std::uint16_t frag = r.u16be();
  r.skip(1);  // TTL
  const std::uint8_t proto = r.u8();
  r.skip(2);  // checksum
  const ByteView src = r.bytes(4);
  const ByteView dst = r.bytes(4);
  if (!r.ok()) return malformed(anomalies, "ipv4.truncated_header");
  if ((version_ihl >> 4) != 4) return malformed(anomalies, "ip.bad_version");
  const std::size_t header_len = static_cast<std::size_t>(version_ihl & 0x0F) * 4;
  if (header_len < 20) return malformed(anomalies, "ipv4.bad_header_length");
  if (header_len > data.size()) return malformed(anomalies, "ipv4.truncated_header");
  if (total_length < header_len) return malformed(anomalies, "ipv4.bad_total_length");
  if (total_length > data.size()) return malformed(anomalies, "ip.truncated_payload");

  out.src.address_length = out.dst.address_length = 4;
  std::copy(src.begin(), src.end(), out.src.address.begin());
  std::copy(dst.begin(), dst.end(), out.dst.address.begin());

  const bool more_fragments = (frag & 0x2000) != 0;
  const std::uint16_t fragment_offset = frag & 0x1FFF;
  if (more_fragments || fragment_offset != 0) {
    if (fragments.reassembler == nullptr) {
      anomalies.add("ipv4.fragment_dropped");
      return DecodeStatus::kIgnored;
    }
    FragmentKey key;
    key.version = 4;
    std::copy(src.begin(), src.end(), key.src.begin());
    std::copy(dst.begin(), dst.end(), key.dst.begin());
    key.protocol = proto;
    key.id = identification;
    const std::optional<ByteView> whole = fragments.reassembler->add(
        key, static_cast<std::size_t>(fragment_offset) * 8, more_fragments,
        data.subspan(header_len, total_length - header_len), fragments.now_ns);
    if (!whole) return DecodeStatus::kIgnored;  // held until the datagram is whole
    return decode_transport(proto, *whole, out, anomalies);
  }
  // Ethernet padding beyond total_length is dropped here.
  return decode_transport(proto, data.subspan(header_len, total_length - header_len), out,
                          anomalies);
}

DecodeStatus decode_ipv6(ByteView data, DecodedPacket& out, AnomalyCounter& anomalies,
                         Fragments fragments) {
  ByteReader r(data);
  const std::uint32_t first = r.u32be();
  const std::uint16_t payload_length = r.u16be();
  std::uint8_t next = r.u8();
  r.skip(1);  // hop limit
  const ByteView src = r.bytes(16);
  const ByteView dst = r.bytes(16);
  if (!r.ok()) return malformed(anomalies, "ipv6.truncated_header");
  if ((first >> 28) != 6) return malformed(anomalies, "ip.bad_version");
  if (payload_length == 0) {
    // Jumbograms (RFC 2675) are not supported.
    anomalies.add("ipv6.jumbogram_unsupported");
    return DecodeStatus::kIgnored;
  }
  if (payload_length > r.remaining()) return malformed(anomalies, "ip.truncated_payload");

  out.src.address_length = out.dst.address_length = 16;
  std::copy(src.begin(), src.end(), out.src.address.begin());
  std::copy(dst.begin(), dst.end(), out.dst.address.begin());

  ByteView payload = data.subspan(40, payload_length);
  for (int i = 0;; ++i) {
    if (next == kProtoTcp || next == kProtoUdp) break;
    if (i >= kMaxIpv6ExtensionHeaders) return malformed(anomalies, "ipv6.too_many_ext_headers");
    ByteReader ext(payload);
    switch (next) {
      case 0:      // hop-by-hop options
      case 43:     // routing
      case 60:     // destination options
      case 135:    // mobility
      case 139:    // HIP
      case 140: {  // shim6
        const std::uint8_t nh = ext.u8();
        const std::uint8_t len = ext.u8();
        const std::size_t size = (static_cast<std::size_t>(len) + 1) * 8;
        if (!ext.ok() || size > payload.size()) {
          return malformed(anomalies, "ipv6.truncated_ext_header");
        }
        next = nh;
        payload = payload.subspan(size);
        break;
      }
      case 44: {  // fragment
        const std::uint8_t nh = ext.u8();
        ext.skip(1);
        const std::uint16_t off_flags = ext.u16be();
        const std::uint32_t identification = ext.u32be();
        if (!ext.ok()) return malformed(anomalies, "ipv6.truncated_ext_header");
        next = nh;
        payload = payload.subspan(8);
        if ((off_flags & 0xFFF8) == 0 && (off_flags & 0x1) == 0) break;  // atomic fragment
        if (fragments.reassembler == nullptr) {
          anomalies.add("ipv6.fragment_dropped");
          return DecodeStatus::kIgnored;
        }
        FragmentKey key;
        key.version = 6;
        std::copy(src.begin(), src.end(), key.src.begin());
        std::copy(dst.begin(), dst.end(), key.dst.begin());
        key.id = identification;
        const std::optional<ByteView> whole = fragments.reassembler->add(
            key, off_flags & 0xFFF8, (off_flags & 0x1) != 0, payload, fragments.now_ns);
        if (!whole) return DecodeStatus::kIgnored;  // held until the datagram is whole
        // The next header is the first fragment's; RFC 8200 4.5 requires it
        // to be the same in every fragment.
        payload = *whole;
        break;
      }
      case 51: {  // authentication header: length in 4-octet units minus 2
        const std::uint8_t nh = ext.u8();
        const std::uint8_t len = ext.u8();
        const std::size_t size = (static_cast<std::size_t>(len) + 2) * 4;
        if (!ext.ok() || size > payload.size()) {
          return malformed(anomalies, "ipv6.truncated_ext_header");
        }
        next = nh;
        payload = payload.subspan(size);
        break;
      }
      default:  // ESP, no next header (59), ICMPv6, anything else
        return DecodeStatus::kIgnored;
    }
  }
  return decode_transport(next, payload, out, anomalies);
}

DecodeStatus decode_ethertype(std::uint16_t ether_type, ByteView data, DecodedPacket& out,
                              AnomalyCounter& anomalies, Fragments fragments) {
  for (int tags = 0; ether_type == kEtherTypeVlan || ether_type == kEtherTypeQinQ ||
                     ether_type == kEtherTypeQinQOld;
       ++tags) {
    if (tags >= kMaxVlanTags) return malformed(anomalies, "vlan.too_many_tags");
    ByteReader r(data);
    r.skip(2);  // TCI
    ether_type = r.u16be();
    if (!r.ok()) return malformed(anomalies, "vlan.truncated_header");
    data = data.subspan(4);
  }
  if (ether_type == kEtherTypeIpv4) return decode_ipv4(data, out, anomalies, fragments);
  if (ether_type == kEtherTypeIpv6) return decode_ipv6(data, out, anomalies, fragments);
  return DecodeStatus::kIgnored;
}

DecodeStatus decode_by_ip_version(ByteView data, DecodedPacket& out, AnomalyCounter& anomalies,
                                  Fragments fragments) {
  std::uint8_t first = 0;
  if (!ByteReader(data).peek_u8(first)) return malformed(anomalies, "ip.truncated_header");
  if ((first >> 4) == 4) return decode_ipv4(data, out, anomalies, fragments);
  if ((first >> 4) == 6) return decode_ipv6(data, out, anomalies, fragments);
  return malformed(anomalies, "ip.bad_version");
}

DecodeStatus decode_frame(capture::LinkType link, ByteView frame, DecodedPacket& out,
                          AnomalyCounter& anomalies, Fragments fragments) {
  out = DecodedPacket{};
  ByteReader r(frame);
  switch (link) {
    case capture::LinkType::kEthernet: {
      r.skip(12);  // destination, source MAC
      const std::uint16_t ether_type = r.u16be();
      if (!r.ok()) return malformed(anomalies, "ethernet.truncated_header");
      if (ether_type < 0x0600) return DecodeStatus::kIgnored;  // 802.3 length, LLC
      return decode_ethertype(ether_type, frame.subspan(14), out, anomalies, fragments);
    }
    case capture::LinkType::kLinuxSll: {
      r.skip(14);  // packet type, ARPHRD, address length, address
      const std::uint16_t protocol = r.u16be();
      if (!r.ok()) return malformed(anomalies, "sll.truncated_header");
      return decode_ethertype(protocol, frame.subspan(16), out, anomalies, fragments);
    }
    case capture::LinkType::kLinuxSll2: {
      const std::uint16_t protocol = r.u16be();
      r.skip(18);  // reserved, ifindex, ARPHRD, packet type, address length, address
      if (!r.ok()) return malformed(anomalies, "sll2.truncated_header");
      return decode_ethertype(protocol, frame.subspan(20), out, anomalies, fragments);
    }
    case capture::LinkType::kRawIp:
      return decode_by_ip_version(frame, out, anomalies, fragments);
    case capture::LinkType::kNull:
    case capture::LinkType::kLoop: {
      std::uint32_t family = link == capture::LinkType::kLoop ? r.u32be() : r.u32le();
      if (!r.ok()) return malformed(anomalies, "null.truncated_header");
      // DLT_NULL is in the capturing host's byte order; a big-endian writer
      // leaves the family in the high bytes.
      if (link == capture::LinkType::kNull && family > 0xFFFF) {
        family = ((family & 0xFF) << 24) | ((family & 0xFF00) << 8) | ((family >> 8) & 0xFF00) |
                 (family >> 24);
      }
      const ByteView rest = frame.subspan(4);
      if (family == kAfInet) return decode_ipv4(rest, out, anomalies, fragments);
      if (is_af_inet6(family)) return decode_ipv6(rest, out, anomalies, fragments);
      return DecodeStatus::kIgnored;
    }
  }
  return DecodeStatus::kIgnored;
}

}  // namespace

DecodeStatus decode_packet(capture::LinkType link, ByteView frame, DecodedPacket& out,
                           AnomalyCounter& anomalies) {
  return decode_frame(link, frame, out, anomalies, Fragments{});
}

DecodeStatus decode_packet(capture::LinkType link, ByteView frame, DecodedPacket& out,
                           AnomalyCounter& anomalies, IpReassembler& reassembler,
                           std::uint64_t time_ns) {
  return decode_frame(link, frame, out, anomalies, Fragments{&reassembler, time_ns});
}

}  // namespace vagt::agent::flow
