// Writes a mixed capture for the capture benchmark: mostly TLS-like TCP
// flows on port 443 (handshake, records of random bytes, FIN), with a few
// per cent authentication traffic: LDAP simple binds on 389 (alternately
// accepted and refused with 49) and Kerberos AS exchanges over UDP 88
// replayed from a real capture (tests/data/pcap/krb/zeek_kinit.pcap).
//
//   vagt_gen_mixed_pcap OUT.pcap PACKETS KINIT.pcap
//
// Prints the numbers of LDAP binds (accepted, refused) and Kerberos
// exchanges written, which the benchmark script checks both tools find.

#include <pcap/pcap.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "agent/capture/pcap_file_source.h"
#include "agent/flow/packet_decoder.h"
#include "tests/agent/ldap_builder.h"
#include "tests/agent/packet_builder.h"

namespace tb = vagt::agent::testing;
using tb::Bytes;

namespace {

class Writer {
 public:
  explicit Writer(const std::string& path) {
    dead_ = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    dumper_ = pcap_dump_open(dead_, path.c_str());
  }
  ~Writer() {
    if (dumper_ != nullptr) pcap_dump_close(dumper_);
    pcap_close(dead_);
  }
  bool ok() const { return dumper_ != nullptr; }
  void write(const Bytes& frame) {
    time_ns_ += 20'000;  // 50k packets per second of capture time
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(time_ns_ / 1'000'000'000ULL);
    h.ts.tv_usec = static_cast<suseconds_t>(time_ns_ % 1'000'000'000ULL);
    h.caplen = h.len = static_cast<bpf_u_int32>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, frame.data());
    ++packets_;
  }
  std::uint64_t packets() const { return packets_; }

 private:
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  std::uint64_t time_ns_ = 1'700'000'000'000'000'000ULL;
  std::uint64_t packets_ = 0;
};

Bytes frame(std::array<std::uint8_t, 4> src, std::array<std::uint8_t, 4> dst, std::uint8_t proto,
            const Bytes& l4) {
  return tb::ethernet(0x0800, tb::ipv4(src, dst, proto, l4));
}

// A TCP conversation: handshake, the given payloads (client first, then
// alternating as listed), FIN from both sides.
void tcp_flow(Writer& w, std::array<std::uint8_t, 4> client, std::array<std::uint8_t, 4> server,
              std::uint16_t sport, std::uint16_t dport,
              const std::vector<std::pair<bool, Bytes>>& payloads) {
  std::uint32_t seq[2] = {1000, 90000};
  auto seg = [&](bool from_client, std::uint8_t flags, const Bytes& data) {
    tb::Tcp t{.sport = from_client ? sport : dport,
              .dport = from_client ? dport : sport,
              .seq = seq[from_client ? 0 : 1],
              .ack = seq[from_client ? 1 : 0],
              .flags = flags,
              .payload = data};
    w.write(
        frame(from_client ? client : server, from_client ? server : client, 6, tb::tcp_segment(t)));
    seq[from_client ? 0 : 1] +=
        static_cast<std::uint32_t>(data.size()) + ((flags & (0x01 | 0x02)) != 0 ? 1 : 0);
  };
  seg(true, 0x02, {});
  seg(false, 0x12, {});
  seg(true, 0x10, {});
  for (const auto& [from_client, data] : payloads) seg(from_client, 0x18, data);
  seg(true, 0x11, {});
  seg(false, 0x11, {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s OUT.pcap PACKETS KINIT.pcap\n", argv[0]);
    return 2;
  }
  const std::uint64_t target = std::strtoull(argv[2], nullptr, 10);
  // The AS exchanges of the first 40 messages of kinit.pcap (all answered AS-REPs).
  std::vector<Bytes> krb;
  {
    auto source = vagt::agent::capture::PcapFileSource::open(argv[3]);
    if (!source) {
      std::fprintf(stderr, "%s\n", source.error().message.c_str());
      return 1;
    }
    vagt::agent::flow::AnomalyCounter anomalies;
    while (krb.size() < 40) {
      auto next = (*source)->next();
      if (!next || !next->has_value()) break;
      vagt::agent::flow::DecodedPacket d;
      if (vagt::agent::flow::decode_packet((*next)->link_type, (*next)->data, d, anomalies) ==
              vagt::agent::flow::DecodeStatus::kOk &&
          d.transport == vagt::agent::flow::Transport::kUdp) {
        krb.emplace_back(d.payload.begin(), d.payload.end());
      }
    }
  }
  Writer w(argv[1]);
  if (!w.ok()) return 1;
  std::mt19937 rng(20261124);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> size(100, 1400);
  auto tls_record = [&] {
    Bytes r{0x17, 0x03, 0x03};
    const int n = size(rng);
    tb::put16(r, static_cast<std::uint16_t>(n));
    for (int i = 0; i < n; ++i) r.push_back(static_cast<std::uint8_t>(byte(rng)));
    return r;
  };
  std::uint64_t binds_ok = 0;
  std::uint64_t binds_refused = 0;
  std::uint64_t krb_exchanges = 0;
  std::uint32_t session = 0;
  while (w.packets() < target) {
    ++session;
    const auto client = std::array<std::uint8_t, 4>{10, 1, static_cast<std::uint8_t>(session >> 8),
                                                    static_cast<std::uint8_t>(session)};
    const auto port = static_cast<std::uint16_t>(20000 + session % 40000);
    if (session % 25 == 0) {
      // LDAP: bind, result, unbind.
      const bool accept = (session / 25) % 2 == 0;
      const std::string user = "cn=user" + std::to_string(session) + ",ou=people,dc=region,dc=dk";
      tcp_flow(w, client, {10, 0, 0, 10}, port, 389,
               {{true, tb::simple_bind(1, user, "not-a-real-password")},
                {false, tb::bind_response(1, accept ? 0 : 49)},
                {true, tb::unbind(2)}});
      ++(accept ? binds_ok : binds_refused);
    } else if (session % 25 == 12 && krb.size() >= 2) {
      // Kerberos over UDP: one AS exchange.
      const std::size_t i = (session / 25 % (krb.size() / 2)) * 2;
      w.write(frame(client, {10, 0, 0, 88}, 17, tb::udp_datagram(port, 88, krb[i])));
      w.write(frame({10, 0, 0, 88}, client, 17, tb::udp_datagram(88, port, krb[i + 1])));
      ++krb_exchanges;
    } else {
      std::vector<std::pair<bool, Bytes>> records;
      for (int i = 0; i < 8; ++i) records.emplace_back(i % 3 != 0, tls_record());
      tcp_flow(w, client, {10, 0, 0, 44}, port, 443, records);
    }
  }
  std::printf("packets %llu ldap_binds_ok %llu ldap_binds_refused %llu krb_exchanges %llu\n",
              static_cast<unsigned long long>(w.packets()),
              static_cast<unsigned long long>(binds_ok),
              static_cast<unsigned long long>(binds_refused),
              static_cast<unsigned long long>(krb_exchanges));
  return 0;
}
