#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "agent/flow/flow_table.h"
#include "agent/flow/packet_decoder.h"
#include "tests/agent/packet_builder.h"

namespace vagt::agent::flow {
namespace {

using capture::LinkType;
using testing::Bytes;
using testing::Tcp;
namespace tb = vagt::agent::testing;

// Keeps every decoded frame alive: DecodedPacket::payload points into it.
DecodeStatus decode(LinkType link, const Bytes& frame, DecodedPacket& out, AnomalyCounter& a) {
  static std::deque<Bytes> frames;
  frames.push_back(frame);
  return decode_packet(link, ByteView(frames.back()), out, a);
}

Bytes simple_tcp(std::string_view payload = "hi") {
  return tb::tcp_segment(
      Tcp{.sport = 50000, .dport = 389, .seq = 7, .payload = tb::bytes_of(payload)});
}

TEST(PacketDecoder, EthernetIpv4Tcp) {
  AnomalyCounter a;
  DecodedPacket p;
  const Bytes frame = tb::eth_tcp(Tcp{.sport = 1234,
                                      .dport = 389,
                                      .seq = 42,
                                      .ack = 9,
                                      .flags = tcp_flags::kAck | tcp_flags::kPsh,
                                      .payload = tb::bytes_of("hello")});
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p, a), DecodeStatus::kOk);
  EXPECT_EQ(p.transport, Transport::kTcp);
  EXPECT_EQ(p.src.address_length, 4);
  EXPECT_EQ(p.src.address[3], 1);
  EXPECT_EQ(p.dst.address[3], 2);
  EXPECT_EQ(p.src.port, 1234);
  EXPECT_EQ(p.dst.port, 389);
  EXPECT_EQ(p.seq, 42u);
  EXPECT_EQ(p.ack, 9u);
  EXPECT_EQ(p.flags, tcp_flags::kAck | tcp_flags::kPsh);
  EXPECT_EQ(as_chars(p.payload), "hello");
  EXPECT_EQ(a.total(), 0u);
}

TEST(PacketDecoder, EthernetPaddingIsNotPayload) {
  AnomalyCounter a;
  DecodedPacket p;
  Bytes frame = tb::eth_tcp(Tcp{.payload = {}});
  frame.resize(frame.size() + 6, 0);  // Ethernet minimum-size padding
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p, a), DecodeStatus::kOk);
  EXPECT_TRUE(p.payload.empty());
}

TEST(PacketDecoder, VlanAndQinQ) {
  AnomalyCounter a;
  DecodedPacket p;
  const Bytes ip = tb::ipv4(tb::kClientIp, tb::kServerIp, 6, simple_tcp());
  ASSERT_EQ(decode(LinkType::kEthernet, tb::ethernet(0x0800, ip, {0x8100}), p, a),
            DecodeStatus::kOk);
  EXPECT_EQ(as_chars(p.payload), "hi");
  ASSERT_EQ(decode(LinkType::kEthernet, tb::ethernet(0x0800, ip, {0x88A8, 0x8100}), p, a),
            DecodeStatus::kOk);
  EXPECT_EQ(as_chars(p.payload), "hi");
  EXPECT_EQ(decode(LinkType::kEthernet,
                   tb::ethernet(0x0800, ip, {0x88A8, 0x8100, 0x8100, 0x8100, 0x8100}), p, a),
            DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("vlan.too_many_tags"), 1u);
  Bytes cut = tb::ethernet(0x0800, {}, {0x8100});
  cut.resize(15);
  EXPECT_EQ(decode(LinkType::kEthernet, cut, p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("vlan.truncated_header"), 1u);
}

TEST(PacketDecoder, Ipv6SkipsExtensionHeaders) {
  AnomalyCounter a;
  DecodedPacket p;
  Bytes ext;
  // Hop-by-hop (next: destination options), 8 bytes.
  ext.insert(ext.end(), {60, 0, 1, 4, 0, 0, 0, 0});
  // Destination options (next: TCP), 16 bytes.
  ext.insert(ext.end(), {6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  const Bytes payload = tb::concat({ext, simple_tcp("v6")});
  ASSERT_EQ(decode(LinkType::kEthernet, tb::ethernet(0x86DD, tb::ipv6(1, 2, 0, payload)), p, a),
            DecodeStatus::kOk);
  EXPECT_EQ(p.src.address_length, 16);
  EXPECT_EQ(p.src.address[0], 0x20);
  EXPECT_EQ(p.dst.address[15], 2);
  EXPECT_EQ(as_chars(p.payload), "v6");

  // An extension header that claims more than is there.
  const Bytes bad = {6, 200, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(decode(LinkType::kRawIp, tb::ipv6(1, 2, 60, bad), p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("ipv6.truncated_ext_header"), 1u);

  // A non-first fragment is not reassembled.
  const Bytes frag = {6, 0, 0x00, 0x09, 0, 0, 0, 1};
  EXPECT_EQ(decode(LinkType::kRawIp, tb::ipv6(1, 2, 44, frag), p, a), DecodeStatus::kIgnored);
  EXPECT_EQ(a.count("ipv6.fragment_dropped"), 1u);
}

TEST(PacketDecoder, LinuxCookedRawAndLoopback) {
  AnomalyCounter a;
  DecodedPacket p;
  const Bytes ip = tb::ipv4(tb::kClientIp, tb::kServerIp, 6, simple_tcp());

  Bytes sll = {0, 0, 0, 1, 0, 6, 2, 2, 2, 2, 2, 2, 0, 0, 0x08, 0x00};
  EXPECT_EQ(decode(LinkType::kLinuxSll, tb::concat({sll, ip}), p, a), DecodeStatus::kOk);
  EXPECT_EQ(as_chars(p.payload), "hi");

  Bytes sll2 = {0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 2, 2, 2, 2, 2, 0, 0};
  EXPECT_EQ(decode(LinkType::kLinuxSll2, tb::concat({sll2, ip}), p, a), DecodeStatus::kOk);
  EXPECT_EQ(as_chars(p.payload), "hi");

  EXPECT_EQ(decode(LinkType::kRawIp, ip, p, a), DecodeStatus::kOk);
  EXPECT_EQ(as_chars(p.payload), "hi");

  // DLT_NULL written by a little-endian host, then by a big-endian one.
  EXPECT_EQ(decode(LinkType::kNull, tb::concat({{2, 0, 0, 0}, ip}), p, a), DecodeStatus::kOk);
  EXPECT_EQ(decode(LinkType::kNull, tb::concat({{0, 0, 0, 2}, ip}), p, a), DecodeStatus::kOk);
  // DLT_LOOP: network byte order; AF_INET6 as on BSD (24).
  const Bytes ip6 = tb::ipv6(1, 2, 6, simple_tcp("six"));
  EXPECT_EQ(decode(LinkType::kLoop, tb::concat({{0, 0, 0, 24}, ip6}), p, a), DecodeStatus::kOk);
  EXPECT_EQ(as_chars(p.payload), "six");
  EXPECT_EQ(a.total(), 0u);

  EXPECT_EQ(decode(LinkType::kLinuxSll, Bytes(10, 0), p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("sll.truncated_header"), 1u);
  EXPECT_EQ(decode(LinkType::kNull, Bytes(3, 0), p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("null.truncated_header"), 1u);
}

TEST(PacketDecoder, TruncatedAndBrokenHeadersAreCounted) {
  AnomalyCounter a;
  DecodedPacket p;
  EXPECT_EQ(decode(LinkType::kEthernet, Bytes(10, 0), p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("ethernet.truncated_header"), 1u);

  const Bytes frame = tb::eth_tcp(Tcp{.payload = tb::bytes_of("payload")});
  // Cut inside the IPv4 header, inside the TCP header, inside the payload.
  EXPECT_EQ(decode(LinkType::kEthernet, Bytes(frame.begin(), frame.begin() + 14 + 10), p, a),
            DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("ipv4.truncated_header"), 1u);
  Bytes ip_only(frame.begin() + 14, frame.end());
  Bytes cut_tcp = tb::ipv4(tb::kClientIp, tb::kServerIp, 6, Bytes(10, 0));
  EXPECT_EQ(decode(LinkType::kRawIp, cut_tcp, p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("tcp.truncated_header"), 1u);
  EXPECT_EQ(decode(LinkType::kEthernet, Bytes(frame.begin(), frame.end() - 3), p, a),
            DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("ip.truncated_payload"), 1u);

  Bytes bad_offset = ip_only;
  bad_offset[20 + 12] = 0x20;  // data offset 2 words
  EXPECT_EQ(decode(LinkType::kRawIp, bad_offset, p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("tcp.bad_data_offset"), 1u);

  Bytes bad_ihl = ip_only;
  bad_ihl[0] = 0x43;
  EXPECT_EQ(decode(LinkType::kRawIp, bad_ihl, p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("ipv4.bad_header_length"), 1u);

  Bytes bad_version = ip_only;
  bad_version[0] = 0x55;
  EXPECT_EQ(decode(LinkType::kRawIp, bad_version, p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("ip.bad_version"), 1u);

  EXPECT_EQ(decode(LinkType::kRawIp, tb::ipv4(tb::kClientIp, tb::kServerIp, 17, Bytes(5, 0)), p, a),
            DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("udp.truncated_header"), 1u);

  // A fragment is ignored and counted; ARP is ignored silently.
  EXPECT_EQ(decode(LinkType::kRawIp,
                   tb::ipv4(tb::kClientIp, tb::kServerIp, 6, simple_tcp(), 0x2000), p, a),
            DecodeStatus::kIgnored);
  EXPECT_EQ(a.count("ipv4.fragment_dropped"), 1u);
  EXPECT_EQ(decode(LinkType::kEthernet, tb::ethernet(0x0806, Bytes(28, 0)), p, a),
            DecodeStatus::kIgnored);
}

TEST(PacketDecoder, RemainingAnomalyIds) {
  AnomalyCounter a;
  DecodedPacket p;
  Bytes short_total = tb::ipv4(tb::kClientIp, tb::kServerIp, 6, simple_tcp());
  short_total[2] = 0;
  short_total[3] = 10;  // total length below the header length
  EXPECT_EQ(decode(LinkType::kRawIp, short_total, p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("ipv4.bad_total_length"), 1u);

  EXPECT_EQ(decode(LinkType::kRawIp, Bytes{0x60, 0, 0, 0, 0, 8}, p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("ipv6.truncated_header"), 1u);

  Bytes many;
  for (int i = 0; i < 12; ++i) many.insert(many.end(), {0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(decode(LinkType::kRawIp, tb::ipv6(1, 2, 0, many), p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("ipv6.too_many_ext_headers"), 1u);

  Bytes jumbo = tb::ipv6(1, 2, 6, simple_tcp());
  jumbo[4] = jumbo[5] = 0;
  EXPECT_EQ(decode(LinkType::kRawIp, jumbo, p, a), DecodeStatus::kIgnored);
  EXPECT_EQ(a.count("ipv6.jumbogram_unsupported"), 1u);

  Bytes udp = tb::udp_datagram(1, 2, tb::bytes_of("x"));
  udp[5] = 200;  // UDP length beyond the datagram
  EXPECT_EQ(decode(LinkType::kRawIp, tb::ipv4(tb::kClientIp, tb::kServerIp, 17, udp), p, a),
            DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("udp.bad_length"), 1u);

  EXPECT_EQ(decode(LinkType::kLinuxSll2, Bytes(19, 0), p, a), DecodeStatus::kMalformed);
  EXPECT_EQ(a.count("sll2.truncated_header"), 1u);
}

TEST(PacketDecoder, EveryPrefixOfAFrameIsSafe) {
  const Bytes frames[] = {
      tb::eth_tcp(Tcp{.payload = tb::bytes_of("abcdef")}),
      tb::ethernet(0x86DD, tb::ipv6(1, 2, 0, tb::concat({{6, 0, 0, 0, 0, 0, 0, 0}, simple_tcp()})),
                   {0x88A8, 0x8100}),
      tb::ethernet(0x0800, tb::ipv4(tb::kClientIp, tb::kServerIp, 17,
                                    tb::udp_datagram(53, 5353, tb::bytes_of("dns")))),
  };
  for (const Bytes& frame : frames) {
    for (std::size_t n = 0; n <= frame.size(); ++n) {
      AnomalyCounter a;
      DecodedPacket p;
      const Bytes prefix(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
      const DecodeStatus st = decode(LinkType::kEthernet, prefix, p, a);
      if (n < frame.size()) {
        EXPECT_EQ(st, DecodeStatus::kMalformed) << "prefix " << n;
        EXPECT_EQ(a.total(), 1u);
      } else {
        EXPECT_EQ(st, DecodeStatus::kOk);
      }
    }
  }
}

// ---- Flows and reassembly --------------------------------------------------

struct Recorded {
  FlowInfo info;
  std::string data[2];
  std::vector<std::pair<int, std::uint64_t>> gaps;  // direction, length
  std::string log;                                  // "c:..", "s:..", "gap", "close"
  bool closed = false;
  CloseReason reason = CloseReason::kShutdown;
  std::uint64_t close_time = 0;
};

class Recorder final : public StreamHandlerFactory {
 public:
  class Handler final : public StreamHandler {
   public:
    explicit Handler(Recorded& r, bool& want) : r_(r), want_(want) {}
    void on_data(Direction d, ByteView data, std::uint64_t) override {
      r_.data[static_cast<int>(d)] += as_chars(data);
      r_.log += (d == Direction::kClientToServer ? "c:" : "s:") + std::string(as_chars(data)) + ";";
    }
    void on_gap(Direction d, std::uint64_t length, std::uint64_t) override {
      r_.gaps.emplace_back(static_cast<int>(d), length);
      r_.log += "gap" + std::to_string(length) + ";";
    }
    void on_close(CloseReason reason, std::uint64_t time_ns) override {
      r_.closed = true;
      r_.reason = reason;
      r_.close_time = time_ns;
    }
    bool wants_data() const override { return want_; }

   private:
    Recorded& r_;
    bool& want_;
  };

  std::unique_ptr<StreamHandler> new_stream(const FlowInfo& info) override {
    flows.push_back(std::make_unique<Recorded>());
    flows.back()->info = info;
    return std::make_unique<Handler>(*flows.back(), want);
  }

  std::vector<std::unique_ptr<Recorded>> flows;
  bool want = true;
};

class FlowTableTest : public ::testing::Test {
 protected:
  void send(const Tcp& t, bool from_client, std::uint64_t time_ns = 1000) {
    const Bytes frame = tb::eth_tcp(t, from_client);
    DecodedPacket p;
    ASSERT_EQ(decode(LinkType::kEthernet, frame, p, anomalies), DecodeStatus::kOk);
    table->on_tcp_packet(p, time_ns);
  }
  // Client 50000 -> server 389; client ISN 1000, server ISN 5000.
  void handshake() {
    send(Tcp{.seq = 1000, .flags = tcp_flags::kSyn}, true);
    send(Tcp{.sport = 389,
             .dport = 50000,
             .seq = 5000,
             .ack = 1001,
             .flags = tcp_flags::kSyn | tcp_flags::kAck},
         false);
    send(Tcp{.seq = 1001, .ack = 5001}, true);
  }
  void client_data(std::uint32_t offset, std::string_view s, std::uint64_t t = 1000) {
    send(Tcp{.seq = 1001 + offset, .ack = 5001, .payload = tb::bytes_of(s)}, true, t);
  }
  void server_data(std::uint32_t offset, std::string_view s) {
    send(Tcp{.sport = 389,
             .dport = 50000,
             .seq = 5001 + offset,
             .ack = 1001,
             .payload = tb::bytes_of(s)},
         false);
  }
  void make_table(FlowLimits limits = {}) {
    table = std::make_unique<FlowTable>(recorder, anomalies, limits);
  }
  void SetUp() override { make_table(); }

  Recorder recorder;
  AnomalyCounter anomalies;
  std::unique_ptr<FlowTable> table;
};

TEST_F(FlowTableTest, InOrderDeliveryBothDirectionsAndFinClose) {
  handshake();
  client_data(0, "abc");
  server_data(0, "XY");
  client_data(3, "def");
  ASSERT_EQ(recorder.flows.size(), 1u);
  const Recorded& r = *recorder.flows[0];
  EXPECT_TRUE(r.info.saw_syn);
  EXPECT_EQ(r.info.client.port, 50000);
  EXPECT_EQ(r.info.server.port, 389);
  EXPECT_EQ(r.data[0], "abcdef");
  EXPECT_EQ(r.data[1], "XY");
  EXPECT_FALSE(r.closed);
  send(Tcp{.seq = 1007, .ack = 5003, .flags = tcp_flags::kFin | tcp_flags::kAck}, true);
  EXPECT_FALSE(r.closed);
  send(Tcp{.sport = 389,
           .dport = 50000,
           .seq = 5003,
           .ack = 1008,
           .flags = tcp_flags::kFin | tcp_flags::kAck},
       false);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.reason, CloseReason::kFin);
  EXPECT_EQ(table->active_flows(), 0u);
  // The last ACK of a closed flow does not open a new one.
  send(Tcp{.seq = 1008, .ack = 5004}, true);
  EXPECT_EQ(recorder.flows.size(), 1u);
  EXPECT_EQ(anomalies.total(), 0u);
}

TEST_F(FlowTableTest, OutOfOrderIsBufferedAndDeliveredInOrder) {
  handshake();
  client_data(6, "ghi");
  client_data(3, "def");
  EXPECT_EQ(recorder.flows[0]->data[0], "");
  EXPECT_GT(table->buffered_bytes(), 0u);
  client_data(0, "abc");
  EXPECT_EQ(recorder.flows[0]->data[0], "abcdefghi");
  EXPECT_EQ(table->buffered_bytes(), 0u);
  EXPECT_EQ(anomalies.total(), 0u);
}

TEST_F(FlowTableTest, RetransmissionIsDroppedAndCounted) {
  handshake();
  client_data(0, "abc");
  client_data(0, "abc");
  client_data(3, "def");
  client_data(3, "def");
  EXPECT_EQ(recorder.flows[0]->data[0], "abcdef");
  EXPECT_EQ(anomalies.count("tcp.retransmission"), 2u);
}

TEST_F(FlowTableTest, OverlapKeepsFirstCopy) {
  handshake();
  client_data(0, "abcd");
  client_data(2, "XXef");  // overlaps "cd": the first copy wins
  EXPECT_EQ(recorder.flows[0]->data[0], "abcdef");
  EXPECT_EQ(anomalies.count("tcp.overlap"), 1u);
  // Overlapping out-of-order segments, then the hole is filled.
  client_data(10, "klm");
  client_data(8, "ijKL");
  client_data(6, "gh");
  EXPECT_EQ(recorder.flows[0]->data[0], "abcdefghijklm");
  EXPECT_EQ(anomalies.count("tcp.overlap"), 2u);
}

TEST_F(FlowTableTest, HoleAtCloseIsReportedAsGap) {
  handshake();
  client_data(0, "abc");
  client_data(8, "xyz");  // bytes 3..7 never arrive
  table->close_all(2000);
  const Recorded& r = *recorder.flows[0];
  EXPECT_EQ(r.log, "c:abc;gap5;c:xyz;");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.reason, CloseReason::kShutdown);
  EXPECT_EQ(anomalies.count("tcp.gap"), 1u);
}

TEST_F(FlowTableTest, MissingDataBeforeFinIsAGap) {
  handshake();
  client_data(0, "abc");
  send(Tcp{.seq = 1001 + 10, .ack = 5001, .flags = tcp_flags::kFin | tcp_flags::kAck}, true);
  send(Tcp{.sport = 389,
           .dport = 50000,
           .seq = 5001,
           .ack = 1012,
           .flags = tcp_flags::kFin | tcp_flags::kAck},
       false);
  const Recorded& r = *recorder.flows[0];
  EXPECT_TRUE(r.closed);
  ASSERT_EQ(r.gaps.size(), 1u);
  EXPECT_EQ(r.gaps[0], std::make_pair(0, std::uint64_t{7}));
}

TEST_F(FlowTableTest, PerFlowBufferLimitForcesGap) {
  make_table(FlowLimits{.max_buffered_per_flow = 8});
  handshake();
  client_data(0, "ab");
  client_data(4, "efgh");   // 4 buffered
  client_data(10, "klmn");  // 8 buffered: at the limit
  EXPECT_EQ(recorder.flows[0]->data[0], "ab");
  client_data(16, "q");  // over: give up on the first hole
  EXPECT_EQ(anomalies.count("tcp.buffer_overflow"), 1u);
  EXPECT_EQ(anomalies.count("tcp.gap"), 1u);
  EXPECT_EQ(recorder.flows[0]->log, "c:ab;gap2;c:efgh;");
  EXPECT_LE(table->buffered_bytes(), 8u);
  // The rest still arrives in order once its hole is filled.
  client_data(8, "ij");
  EXPECT_EQ(recorder.flows[0]->data[0], "abefghijklmn");
}

TEST_F(FlowTableTest, TotalBufferLimitAcrossFlows) {
  make_table(FlowLimits{.max_buffered_per_flow = 100, .max_buffered_total = 6});
  handshake();
  client_data(0, "a");
  client_data(5, "wxyz");  // 4 buffered in flow 1
  // A second flow from another client port, mid-stream.
  send(Tcp{.sport = 50001, .dport = 389, .seq = 1, .payload = tb::bytes_of("1")}, true);
  send(Tcp{.sport = 50001, .dport = 389, .seq = 10, .payload = tb::bytes_of("789")}, true);
  EXPECT_EQ(anomalies.count("tcp.buffer_overflow_total"), 1u);
  EXPECT_LE(table->buffered_bytes(), 6u);
  ASSERT_EQ(recorder.flows.size(), 2u);
  EXPECT_EQ(recorder.flows[1]->log, "c:1;gap8;c:789;");
}

TEST_F(FlowTableTest, ResetClosesTheFlow) {
  handshake();
  client_data(0, "abc");
  client_data(5, "f");
  send(Tcp{.sport = 389, .dport = 50000, .seq = 5001, .flags = tcp_flags::kRst}, false);
  const Recorded& r = *recorder.flows[0];
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.reason, CloseReason::kReset);
  EXPECT_EQ(r.log, "c:abc;gap2;c:f;");
  EXPECT_EQ(table->active_flows(), 0u);
  EXPECT_EQ(table->buffered_bytes(), 0u);
}

TEST_F(FlowTableTest, IdleFlowsTimeOut) {
  make_table(FlowLimits{.idle_timeout_ns = 1'000'000'000});
  send(Tcp{.sport = 50000, .dport = 389, .seq = 1, .payload = tb::bytes_of("old")}, true, 1'000);
  send(Tcp{.sport = 50001, .dport = 389, .seq = 1, .payload = tb::bytes_of("new")}, true,
       3'000'000'000);
  ASSERT_EQ(recorder.flows.size(), 2u);
  EXPECT_TRUE(recorder.flows[0]->closed);
  EXPECT_EQ(recorder.flows[0]->reason, CloseReason::kIdleTimeout);
  EXPECT_EQ(recorder.flows[0]->close_time, 1'000u);
  EXPECT_FALSE(recorder.flows[1]->closed);
  EXPECT_EQ(table->counters().flows_timed_out, 1u);
}

TEST_F(FlowTableTest, MidStreamClientIsTheSideTalkingToTheServicePort) {
  // First packet seen comes from the server.
  send(Tcp{.sport = 389, .dport = 50000, .seq = 77, .payload = tb::bytes_of("resp")}, false);
  send(Tcp{.sport = 50000, .dport = 389, .seq = 900, .payload = tb::bytes_of("req")}, true);
  ASSERT_EQ(recorder.flows.size(), 1u);
  const Recorded& r = *recorder.flows[0];
  EXPECT_FALSE(r.info.saw_syn);
  EXPECT_EQ(r.info.client.port, 50000);
  EXPECT_EQ(r.info.client.address[3], 1);
  EXPECT_EQ(r.data[0], "req");
  EXPECT_EQ(r.data[1], "resp");
}

TEST_F(FlowTableTest, MidStreamWithoutServicePortTakesHigherPortAsClient) {
  send(Tcp{.sport = 3268, .dport = 40000, .seq = 1, .payload = tb::bytes_of("x")}, false);
  ASSERT_EQ(recorder.flows.size(), 1u);
  EXPECT_EQ(recorder.flows[0]->info.client.port, 40000);
  EXPECT_EQ(recorder.flows[0]->info.server.port, 3268);
}

TEST_F(FlowTableTest, SynAckFirstMakesTheReceiverTheClient) {
  send(Tcp{.sport = 389,
           .dport = 50000,
           .seq = 5000,
           .ack = 1001,
           .flags = tcp_flags::kSyn | tcp_flags::kAck},
       false);
  ASSERT_EQ(recorder.flows.size(), 1u);
  EXPECT_EQ(recorder.flows[0]->info.client.port, 50000);
  EXPECT_TRUE(recorder.flows[0]->info.saw_syn);
}

TEST_F(FlowTableTest, SequenceNumbersWrapAround) {
  send(Tcp{.seq = 0xFFFFFFF0u, .flags = tcp_flags::kSyn}, true);
  send(Tcp{.seq = 0xFFFFFFF1u, .payload = tb::bytes_of("0123456789")}, true);
  send(Tcp{.seq = 0xFFFFFFF1u + 10, .payload = tb::bytes_of("abcdefghij")}, true);
  send(Tcp{.seq = 0xFFFFFFF1u + 25, .payload = tb::bytes_of("pq")}, true);
  send(Tcp{.seq = 0xFFFFFFF1u + 20, .payload = tb::bytes_of("klmno")}, true);
  EXPECT_EQ(recorder.flows[0]->data[0], "0123456789abcdefghijklmnopq");
  EXPECT_EQ(anomalies.total(), 0u);
}

TEST_F(FlowTableTest, WildSequenceJumpIsNotBelieved) {
  handshake();
  client_data(0, "abc");
  client_data(0x70000000u, "zzz");
  EXPECT_EQ(anomalies.count("tcp.seq_out_of_window"), 1u);
  EXPECT_EQ(table->buffered_bytes(), 0u);
}

TEST_F(FlowTableTest, HandlerThatWantsNoMoreDataStopsReassembly) {
  handshake();
  client_data(0, "abc");
  recorder.want = false;
  client_data(10, "later");
  client_data(3, "def");
  EXPECT_EQ(recorder.flows[0]->data[0], "abc");
  EXPECT_EQ(table->buffered_bytes(), 0u);
}

TEST_F(FlowTableTest, FlowTableLimit) {
  make_table(FlowLimits{.max_flows = 1});
  send(Tcp{.sport = 50000, .seq = 1, .payload = tb::bytes_of("a")}, true);
  send(Tcp{.sport = 50001, .seq = 1, .payload = tb::bytes_of("b")}, true);
  EXPECT_EQ(recorder.flows.size(), 1u);
  EXPECT_EQ(anomalies.count("flow.table_full"), 1u);
}

}  // namespace
}  // namespace vagt::agent::flow
