// Kerberos: the corpus captures (tests/data/pcap/README.md) through the whole
// pipeline, and hand-built messages for framing, pairing and bad input.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "agent/capture/pcap_file_source.h"
#include "agent/decode/pipeline.h"
#include "agent/dissect/krb/krb_dissector.h"
#include "agent/flow/packet_decoder.h"
#include "tests/agent/corpus_run.h"
#include "tests/agent/packet_builder.h"

namespace vagt::agent::decode {
namespace {

namespace tb = vagt::agent::testing;
using tb::Bytes;

const std::string kKrbDir = std::string(VAGT_TEST_DATA) + "/pcap/krb/";

using tb::run_capture;

std::string detail(const v1::AccessEvent& e, const std::string& key) {
  return tb::detail_of(e, key);
}

std::string outcome(const v1::AccessEvent& e) {
  switch (e.outcome()) {
    case v1::OUTCOME_SUCCESS:
      return "success";
    case v1::OUTCOME_FAILURE:
      return "failure " + e.code();
    default:
      return "unknown";
  }
}

TEST(KrbCaptures, KinitExchangesPerPrincipalAndError) {
  tb::CorpusRun run = run_capture(kKrbDir + "zeek_kinit.pcap");
  // (action, principal, resource, outcome) -> count. MANIFEST: 85 exchanges,
  // 51 successes, 34 failures; PREAUTH_REQUIRED steps give no event. Zeek's
  // "PREAUTH_FAILED" is error 31 (KRB_AP_ERR_BAD_INTEGRITY) on this MIT KDC.
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  std::map<Key, int> got;
  int successes = 0;
  int failures = 0;
  for (const auto& e : run.sink.events) {
    EXPECT_EQ(e.protocol(), "krb");
    EXPECT_EQ(e.realm(), "VLADG.NET");
    ++got[{e.action(), e.principal(), e.resource(), outcome(e)}];
    successes += e.outcome() == v1::OUTCOME_SUCCESS;
    failures += e.outcome() == v1::OUTCOME_FAILURE;
  }
  const std::map<Key, int> want = {
      {{"as", "valid_client_principal", "krbtgt/VLADG.NET", "success"}, 41},
      {{"as", "valid_client_principal", "valid_service_principal/test.vladg.net", "success"}, 3},
      {{"as", "expired_password_client_principal", "kadmin/changepw", "success"}, 2},
      {{"as", "WELLKNOWN/ANONYMOUS", "krbtgt/VLADG.NET", "success"}, 2},
      {{"as", "test_pkinit", "krbtgt/VLADG.NET", "success"}, 1},
      {{"as", "valid_service_principal/test.vladg.net", "krbtgt/VLADG.NET", "success"}, 1},
      {{"as", "requires_preauth_client_principal", "krbtgt/VLADG.NET", "success"}, 1},
      {{"as", "enterprise_principal@AD.VLADG.NET", "krbtgt/VLADG.NET", "failure 6"}, 17},
      {{"as", "lockout_policy_client_principal", "krbtgt/VLADG.NET", "failure 31"}, 3},
      {{"as", "lockout_policy_client_principal", "krbtgt/VLADG.NET", "failure 18"}, 2},
      {{"as", "invalid_client_principal", "krbtgt/VLADG.NET", "failure 6"}, 2},
      {{"as", "expired_client_principal", "krbtgt/VLADG.NET", "failure 1"}, 2},
      {{"as", "expired_password_client_principal", "krbtgt/VLADG.NET", "failure 23"}, 2},
      {{"as", "nokey_client_principal", "krbtgt/VLADG.NET", "failure 14"}, 2},
      {{"as", "valid_client_principal", "invalid_service_principal/test.vladg.net", "failure 7"},
       2},
      {{"as", "requires_preauth_client_principal", "krbtgt/VLADG.NET", "failure 31"}, 1},
      {{"tgs", "valid_client_principal", "krbtgt/VLADG.NET", "failure 13"}, 1},
  };
  EXPECT_EQ(got, want);
  EXPECT_EQ(run.sink.events.size(), 85u);
  EXPECT_EQ(successes, 51);
  EXPECT_EQ(failures, 34);

  // Names, enctypes and the PKINIT request in detail; nothing of a ticket.
  std::map<std::string, int> error_names;
  bool saw_pkinit = false;
  bool saw_tcp = false;
  for (const auto& e : run.sink.events) {
    if (e.outcome() == v1::OUTCOME_FAILURE) ++error_names[detail(e, "error_name")];
    if (e.principal() == "test_pkinit") {
      EXPECT_EQ(detail(e, "pkinit"), "true");
      saw_pkinit = true;
    }
    if (e.transport() == v1::TRANSPORT_TCP) saw_tcp = true;
    if (e.principal() == "valid_client_principal" && e.outcome() == v1::OUTCOME_SUCCESS &&
        e.resource() == "krbtgt/VLADG.NET") {
      EXPECT_EQ(detail(e, "ticket_etype"), "aes256-cts-hmac-sha1-96");
      EXPECT_NE(detail(e, "etypes").find("aes128-cts-hmac-sha1-96"), std::string::npos);
    }
  }
  EXPECT_TRUE(saw_pkinit);
  EXPECT_TRUE(saw_tcp);  // the large PKINIT replies go over TCP with record marks
  EXPECT_EQ(error_names["KDC_ERR_C_PRINCIPAL_UNKNOWN"], 19);
  EXPECT_EQ(error_names["KDC_ERR_CLIENT_REVOKED"], 2);
  EXPECT_EQ(error_names["KDC_ERR_KEY_EXPIRED"], 2);
  EXPECT_EQ(error_names["KDC_ERR_S_PRINCIPAL_UNKNOWN"], 2);
  EXPECT_EQ(error_names["KDC_ERR_BADOPTION"], 1);
  EXPECT_EQ(error_names.count("KDC_ERR_PREAUTH_REQUIRED"), 0u);
}

TEST(KrbCaptures, AuthIsOneTgsSuccess) {
  tb::CorpusRun run = run_capture(kKrbDir + "zeek_auth.pcap");
  ASSERT_EQ(run.sink.events.size(), 1u);
  const auto& e = run.sink.events[0];
  EXPECT_EQ(e.action(), "tgs");
  EXPECT_EQ(e.principal(), "vladg");
  EXPECT_EQ(e.realm(), "VLADG.NET");
  EXPECT_EQ(e.resource(), "krbtgt/VLADG.NET");
  EXPECT_EQ(e.outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(e.transport(), v1::TRANSPORT_UDP);
  EXPECT_EQ(detail(e, "ticket_etype"), "aes256-cts-hmac-sha1-96");
  EXPECT_NE(detail(e, "kdc_options").find("forwardable"), std::string::npos);
}

TEST(KrbCaptures, UnansweredAsReqOnVlanIsUnknown) {
  tb::CorpusRun run = run_capture(kKrbDir + "arkime_krb5-udp.pcap");
  ASSERT_EQ(run.sink.events.size(), 1u);
  const auto& e = run.sink.events[0];
  EXPECT_EQ(e.action(), "as");
  EXPECT_EQ(e.principal(), "xxxxxxxx$");
  EXPECT_EQ(e.realm(), "xx.xxx.xxxxx.NET");
  EXPECT_EQ(e.resource(), "krbtgt/xx.xxx.xxxxx.NET");
  EXPECT_EQ(e.outcome(), v1::OUTCOME_UNKNOWN);
  EXPECT_FALSE(e.has_code());
  EXPECT_EQ(detail(e, "etypes"),
            "aes256-cts-hmac-sha1-96,aes128-cts-hmac-sha1-96,des3-cbc-sha1,rc4-hmac");
  EXPECT_EQ(e.dst().port(), 88u);
}

TEST(KrbCaptures, WindowsDomainOverTcp) {
  tb::CorpusRun run = run_capture(kKrbDir + "ndpi_kerberos.pcap");
  // MANIFEST: AS-REQs for johnson-pc$ and theresa.johnson, 4 PREAUTH_REQUIRED
  // (no event), 1 BADOPTION, 3 TGS pairs, no AS-REP decoded (the capture
  // holds only their first segments).
  std::map<std::tuple<std::string, std::string, std::string>, int> got;
  for (const auto& e : run.sink.events) {
    EXPECT_EQ(e.transport(), v1::TRANSPORT_TCP);
    ++got[{e.action(), e.principal(), outcome(e)}];
  }
  const std::map<std::tuple<std::string, std::string, std::string>, int> want = {
      {{"as", "johnson-pc$", "unknown"}, 2},
      {{"as", "JOHNSON-PC$", "unknown"}, 1},
      {{"as", "theresa.johnson", "unknown"}, 1},
      {{"tgs", "JOHNSON-PC$", "success"}, 3},
      {{"tgs", "", "failure 13"}, 1},
  };
  EXPECT_EQ(got, want);
  // The BADOPTION reply's request is cut in the capture: the reply stands alone.
  for (const auto& e : run.sink.events) {
    if (e.code() == "13") {
      EXPECT_EQ(detail(e, "request_seen"), "false");
      EXPECT_EQ(e.resource(), "johnson-pc$@HAPPYCRAFT.ORG");
    }
  }
  EXPECT_EQ(run.stats.anomalies["krb.reply_without_request"], 1u);
}

// ---- Hand-built traffic -------------------------------------------------------

// The Kerberos messages of a capture (UDP payloads on port 88), in order, with
// whether the client sent them.
std::vector<std::pair<Bytes, bool>> udp_messages(const std::string& path) {
  std::vector<std::pair<Bytes, bool>> out;
  auto source = capture::PcapFileSource::open(path);
  EXPECT_TRUE(source);
  if (!source) return out;
  flow::AnomalyCounter anomalies;
  for (;;) {
    auto next = (*source)->next();
    if (!next || !next->has_value()) break;
    flow::DecodedPacket d;
    if (flow::decode_packet((*next)->link_type, (*next)->data, d, anomalies) !=
            flow::DecodeStatus::kOk ||
        d.transport != flow::Transport::kUdp) {
      continue;
    }
    out.emplace_back(Bytes(d.payload.begin(), d.payload.end()), d.dst.port == 88);
  }
  return out;
}

Bytes record(const Bytes& message) {
  Bytes out;
  tb::put32(out, static_cast<std::uint32_t>(message.size()));
  out.insert(out.end(), message.begin(), message.end());
  return out;
}

class KrbPipelineTest : public ::testing::Test {
 protected:
  void packet(const Bytes& frame, std::uint64_t t = 1'000'000'000) {
    frames.push_back(frame);
    pipeline.on_packet(tb::raw_packet(frames.back(), t));
  }
  void udp(std::uint16_t client_port, const Bytes& payload, bool from_client) {
    packet(
        tb::ethernet(0x0800, tb::ipv4(from_client ? tb::kClientIp : tb::kServerIp,
                                      from_client ? tb::kServerIp : tb::kClientIp, 17,
                                      tb::udp_datagram(from_client ? client_port : 88,
                                                       from_client ? 88 : client_port, payload))));
  }

  dissect::Registry registry = [] {
    dissect::Registry r;
    EXPECT_TRUE(dissect::register_builtin_dissectors(r));
    return r;
  }();
  EventCollector sink;
  PacketPipeline pipeline{registry, sink};
  std::deque<Bytes> frames;
};

TEST_F(KrbPipelineTest, TcpRecordsSplitIntoOneByteSegmentsGiveTheUdpEvents) {
  // The first 20 messages of kinit.pcap (10 AS exchanges), sent as TCP
  // records one byte per segment.
  const auto messages = udp_messages(kKrbDir + "zeek_kinit.pcap");
  ASSERT_GE(messages.size(), 20u);
  std::uint32_t seq[2] = {1000, 5000};
  for (std::size_t m = 0; m < 20; ++m) {
    const auto& [message, from_client] = messages[m];
    const Bytes rec = record(message);
    for (std::uint8_t byte : rec) {
      const std::size_t side = from_client ? 0 : 1;
      packet(tb::eth_tcp(tb::Tcp{.sport = static_cast<std::uint16_t>(from_client ? 50000 : 88),
                                 .dport = static_cast<std::uint16_t>(from_client ? 88 : 50000),
                                 .seq = seq[side]++,
                                 .payload = {byte}},
                         from_client));
    }
  }
  pipeline.finish();
  ASSERT_EQ(sink.events.size(), 10u);
  for (const auto& e : sink.events) {
    EXPECT_EQ(e.transport(), v1::TRANSPORT_TCP);
    EXPECT_EQ(e.action(), "as");
    EXPECT_EQ(e.principal(), "valid_client_principal");
    EXPECT_EQ(e.outcome(), v1::OUTCOME_SUCCESS);
  }
  EXPECT_EQ(pipeline.stats().anomalies.count("krb.truncated_message"), 0u);
}

TEST_F(KrbPipelineTest, PairsByClientPortAndPreauthRequiredIsNoEvent) {
  // requires_preauth_client_principal: AS-REQ -> PREAUTH_REQUIRED, then
  // AS-REQ with padata -> AS-REP; in kinit.pcap each on its own client port.
  const auto messages = udp_messages(kKrbDir + "zeek_kinit.pcap");
  std::vector<std::pair<Bytes, bool>> picked;
  std::string_view anomaly;
  for (std::size_t i = 0; i + 1 < messages.size(); ++i) {
    auto m = dissect::krb::parse_message(messages[i].first, anomaly);
    ASSERT_TRUE(m) << i;
    if (m->cname && m->cname->str() == "requires_preauth_client_principal" && m->is_request()) {
      picked.push_back(messages[i]);
      picked.push_back(messages[i + 1]);
    }
  }
  ASSERT_GE(picked.size(), 4u);
  // Interleave two exchanges on two client ports: request A, request B,
  // reply B, reply A. Pairing is per port, so each reply finds its request.
  udp(40001, picked[0].first, true);
  udp(40002, picked[2].first, true);
  udp(40002, picked[3].first, false);
  udp(40001, picked[1].first, false);
  pipeline.finish();
  ASSERT_EQ(sink.events.size(), 1u);  // the PREAUTH_REQUIRED step gives none
  EXPECT_EQ(sink.events[0].src().port(), 40002u);
  EXPECT_EQ(sink.events[0].transport(), v1::TRANSPORT_UDP);
  EXPECT_NE(sink.events[0].outcome(), v1::OUTCOME_UNKNOWN);
  EXPECT_NE(sink.events[0].code(), "25");
  EXPECT_EQ(pipeline.stats().udp_flows, 2u);
}

TEST_F(KrbPipelineTest, TruncatedAndGarbageMessagesAreAnomaliesNotEvents) {
  const auto messages = udp_messages(kKrbDir + "zeek_kinit.pcap");
  ASSERT_FALSE(messages.empty());
  const Bytes& good = messages[0].first;
  // Every proper prefix of a real AS-REQ is malformed.
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::string_view anomaly;
    EXPECT_FALSE(dissect::krb::parse_message(ByteView(good).first(n), anomaly)) << n;
    EXPECT_EQ(anomaly, "krb.malformed");
  }
  udp(40003, Bytes{0x30, 0x03, 0x02, 0x01, 0x05}, true);  // not an [APPLICATION n]
  udp(40004, Bytes{0x6e, 0x03, 0x30, 0x01, 0x00}, true);  // AP-REQ: not KDC traffic
  udp(40005, Bytes(good.begin(), good.begin() + 40), true);
  pipeline.finish();
  EXPECT_TRUE(sink.events.empty());
  const auto stats = pipeline.stats();
  EXPECT_EQ(stats.anomalies.at("krb.malformed"), 2u);
  EXPECT_EQ(stats.anomalies.at("krb.unknown_message"), 1u);
}

TEST_F(KrbPipelineTest, UnansweredUdpRequestIsUnknownAfterTheIdleTimeout) {
  const auto messages = udp_messages(kKrbDir + "zeek_kinit.pcap");
  ASSERT_FALSE(messages.empty());
  udp(40006, messages[0].first, true);
  EXPECT_TRUE(sink.events.empty());
  pipeline.expire_idle(1'000'000'000 + 31'000'000'000ULL);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].outcome(), v1::OUTCOME_UNKNOWN);
}

TEST_F(KrbPipelineTest, FragmentedUdpReplyIsReassembled) {
  const auto messages = udp_messages(kKrbDir + "zeek_kinit.pcap");
  ASSERT_GE(messages.size(), 2u);
  udp(40007, messages[0].first, true);
  // The AS-REP as three IPv4 fragments, last first.
  const Bytes dgram = tb::udp_datagram(88, 40007, messages[1].first);
  ASSERT_GT(dgram.size(), 600u);
  std::vector<Bytes> pieces;
  for (std::size_t off = 0; off < dgram.size(); off += 296) {
    const std::size_t n = std::min<std::size_t>(296, dgram.size() - off);
    const bool more = off + n < dgram.size();
    pieces.push_back(tb::ethernet(
        0x0800, tb::ipv4(tb::kServerIp, tb::kClientIp, 17,
                         Bytes(dgram.begin() + static_cast<std::ptrdiff_t>(off),
                               dgram.begin() + static_cast<std::ptrdiff_t>(off + n)),
                         static_cast<std::uint16_t>((more ? 0x2000 : 0) | (off / 8)))));
  }
  ASSERT_EQ(pieces.size(), 3u);
  packet(pieces[2]);
  packet(pieces[0]);
  EXPECT_TRUE(sink.events.empty());
  packet(pieces[1]);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(pipeline.stats().reassembled, 1u);
}

TEST(Registry, UdpPortsAreTakenOnceAndNamesAreListedOnce) {
  dissect::Registry registry;
  ASSERT_TRUE(dissect::register_builtin_dissectors(registry));
  EXPECT_NE(registry.datagram_for_port(88), nullptr);
  EXPECT_NE(registry.datagram_for_port(1812), nullptr);
  EXPECT_EQ(registry.datagram_for_port(53), nullptr);
  auto again = registry.add_datagram(std::make_unique<dissect::KrbDatagramDissector>(),
                                     std::array<std::uint16_t, 1>{88});
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("UDP port 88 already taken by krb"), std::string::npos);
  const auto names = registry.names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "krb"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "radius"), 1);
}

TEST(KrbNames, ErrorAndEnctypeNames) {
  EXPECT_EQ(dissect::krb::error_name(24), "KDC_ERR_PREAUTH_FAILED");
  EXPECT_EQ(dissect::krb::error_name(25), "KDC_ERR_PREAUTH_REQUIRED");
  EXPECT_EQ(dissect::krb::error_name(6), "KDC_ERR_C_PRINCIPAL_UNKNOWN");
  EXPECT_EQ(dissect::krb::error_name(18), "KDC_ERR_CLIENT_REVOKED");
  EXPECT_EQ(dissect::krb::error_name(23), "KDC_ERR_KEY_EXPIRED");
  EXPECT_EQ(dissect::krb::error_name(999), "");
  EXPECT_EQ(dissect::krb::enctype_name(18), "aes256-cts-hmac-sha1-96");
  EXPECT_EQ(dissect::krb::enctype_name(23), "rc4-hmac");
  EXPECT_EQ(dissect::krb::enctype_name(-135), "-135");
}

}  // namespace
}  // namespace vagt::agent::decode
