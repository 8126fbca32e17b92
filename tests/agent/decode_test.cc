#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "agent/decode/json_lines.h"
#include "agent/decode/pipeline.h"
#include "agent/dissect/builtin.h"
#include "tests/agent/ldap_builder.h"
#include "tests/agent/pcap_writer.h"

namespace vagt::agent::decode {
namespace {

namespace tb = vagt::agent::testing;
using tb::Bytes;
using tb::Tcp;

const std::string kLdapDir = std::string(VAGT_TEST_DATA) + "/pcap/ldap/";

using Collect = EventCollector;

std::vector<v1::AccessEvent> with_action(const Collect& c, std::string_view action) {
  std::vector<v1::AccessEvent> out;
  for (const auto& e : c.events) {
    if (e.action() == action) out.push_back(e);
  }
  return out;
}

dissect::Registry builtin_registry() {
  dissect::Registry registry;
  EXPECT_TRUE(register_builtin_dissectors(registry));
  return registry;
}

struct CaptureRun {
  Collect sink;
  CaptureStats stats;
};

CaptureRun run_file(const std::string& name) {
  CaptureRun run;
  const dissect::Registry registry = builtin_registry();
  auto stats = process_capture_file(kLdapDir + name, registry, run.sink);
  EXPECT_TRUE(stats) << (stats ? "" : stats.error().describe());
  if (stats) run.stats = *stats;
  return run;
}

std::string detail(const v1::AccessEvent& e, const std::string& key) {
  auto it = e.detail().find(key);
  return it == e.detail().end() ? "<none>" : it->second;
}

std::string address(std::initializer_list<std::uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

// Every event, serialized and as JSON, must be free of these strings.
void expect_absent(const std::vector<v1::AccessEvent>& events,
                   std::initializer_list<std::string_view> secrets) {
  for (const auto& e : events) {
    const std::string wire = e.SerializeAsString();
    const std::string json = event_to_json_line(e);
    for (std::string_view s : secrets) {
      EXPECT_EQ(wire.find(s), std::string::npos) << s;
      EXPECT_EQ(json.find(s), std::string::npos) << s;
    }
  }
}

// ---- Real captures (tests/data/pcap/README.md) --------------------------------

TEST(LdapCaptures, SimpleAuthOnGlobalCatalogPort) {
  CaptureRun run = run_file("ldap-simpleauth.pcap");
  const auto binds = with_action(run.sink, "bind");
  ASSERT_EQ(binds.size(), 2u);
  EXPECT_EQ(binds[0].principal(), "xxxxxxxxxxx@xx.xxx.xxxxx.net");
  EXPECT_EQ(binds[1].principal(), "CN=xxxxxxxx,OU=Users,OU=Accounts,DC=xx,DC=xxx,DC=xxxxx,DC=net");
  for (const auto& b : binds) {
    EXPECT_EQ(b.protocol(), "ldap");
    EXPECT_EQ(b.outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_EQ(b.code(), "0");
    EXPECT_EQ(detail(b, "auth"), "simple");
    EXPECT_EQ(detail(b, "ldap_version"), "3");
    EXPECT_EQ(detail(b, "result_name"), "success");
    EXPECT_EQ(b.transport(), v1::TRANSPORT_TCP);
    EXPECT_EQ(b.src().address(), address({10, 0, 0, 1}));
    EXPECT_EQ(b.src().port(), 25936u);
    EXPECT_EQ(b.dst().address(), address({10, 0, 0, 2}));
    EXPECT_EQ(b.dst().port(), 3268u);  // found by sniffing, not by port
    EXPECT_TRUE(b.agent_id().empty());
  }
  // Packet time of the first BindRequest (frame 4): 1463256456.042522000.
  EXPECT_EQ(binds[0].time_ns(), 1463256456042522000ULL);
  EXPECT_EQ(run.stats.packets, 12u);
  EXPECT_EQ(run.stats.flows, 1u);
  EXPECT_EQ(run.stats.events, run.sink.events.size());
  EXPECT_EQ(run.stats.malformed, 0u);
  // The capture carries both passwords in clear.
  expect_absent(run.sink.events, {"passwor8d1", "/dev/rdsk/c0t0d0s0"});
}

TEST(LdapCaptures, SimpleAuthPcapngGivesTheSameEvents) {
  CaptureRun pcap = run_file("ldap-simpleauth.pcap");
  CaptureRun pcapng = run_file("ldap-simpleauth.pcapng");
  ASSERT_EQ(pcap.sink.events.size(), pcapng.sink.events.size());
  for (std::size_t i = 0; i < pcap.sink.events.size(); ++i) {
    // Map order in serialized bytes is not fixed: compare as messages.
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(pcap.sink.events[i],
                                                                   pcapng.sink.events[i]));
  }
}

TEST(LdapCaptures, InvalidCredentialsGssSpnegoNtlm) {
  CaptureRun run = run_file("ldap-invalid-credentials.pcap");
  const auto binds = with_action(run.sink, "bind");
  ASSERT_EQ(binds.size(), 12u);
  std::map<std::string, int> users;
  for (const auto& b : binds) {
    EXPECT_EQ(b.outcome(), v1::OUTCOME_FAILURE);
    EXPECT_EQ(b.code(), "49");
    EXPECT_EQ(detail(b, "result_name"), "invalidCredentials");
    EXPECT_EQ(detail(b, "auth"), "sasl");
    EXPECT_EQ(detail(b, "mechanism"), "GSS-SPNEGO");
    EXPECT_EQ(detail(b, "ntlm_workstation"), "DESKTOP-EVIL");
    EXPECT_EQ(b.realm(), "");  // the NTLM domain is empty on the wire
    EXPECT_EQ(b.dst().port(), 389u);
    EXPECT_EQ(b.src().address(), address({192, 168, 66, 141}));
    ++users[b.principal()];
  }
  const std::map<std::string, int> expected = {{"Administrator", 2}, {"DC01-ZION$", 2},
                                               {"DESKTOP-EVIL$", 2}, {"DESKTOP-VICTIM$", 2},
                                               {"agent.smith", 2},   {"mister.andersson", 2}};
  EXPECT_EQ(users, expected);
  // The capture starts mid-stream (no SYN): client still found by the service port.
  const auto unbinds = with_action(run.sink, "unbind");
  EXPECT_EQ(unbinds.size(), 1u);
  EXPECT_EQ(run.stats.anomalies.count("ldap.response_without_request"), 0u);
}

TEST(LdapCaptures, SicilyNtlmBind) {
  CaptureRun run = run_file("ldap-aduser1-ntlm.pcap");
  const auto binds = with_action(run.sink, "bind");
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(binds[0].principal(), "User1");
  EXPECT_EQ(binds[0].realm(), "ADHACKING.LOCAL");
  EXPECT_EQ(binds[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(binds[0].code(), "0");
  EXPECT_EQ(detail(binds[0], "auth"), "sicily");
  EXPECT_EQ(detail(binds[0], "mechanism"), "NTLM");
  EXPECT_EQ(binds[0].dst().address(), address({192, 168, 226, 136}));
  EXPECT_EQ(binds[0].src().port(), 37618u);
  // Frame 7 (the sicilyResponse) is the attempt that decides.
  EXPECT_EQ(binds[0].time_ns(), 1741598120039077000ULL);
}

TEST(LdapCaptures, SaslNtlmBind) {
  CaptureRun run = run_file("ldap-sasl-ntlm.pcap");
  const auto binds = with_action(run.sink, "bind");
  ASSERT_EQ(binds.size(), 1u);
  // On the wire (tshark: NTLMSSP_AUTH, User: LOCALHOST\sasladmin@slapd.ldap)
  // the NTLM user name is "sasladmin@slapd.ldap", domain LOCALHOST.
  EXPECT_EQ(binds[0].principal(), "sasladmin@slapd.ldap");
  EXPECT_EQ(binds[0].realm(), "LOCALHOST");
  EXPECT_EQ(binds[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(detail(binds[0], "auth"), "sasl");
  EXPECT_EQ(detail(binds[0], "mechanism"), "NTLM");
  const auto unbinds = with_action(run.sink, "unbind");
  ASSERT_EQ(unbinds.size(), 1u);
  EXPECT_EQ(unbinds[0].principal(), "sasladmin@slapd.ldap");
}

TEST(LdapCaptures, JsonLinesOutput) {
  const dissect::Registry registry = builtin_registry();
  std::ostringstream out;
  JsonLinesWriter writer(out);
  auto stats = process_capture_file(kLdapDir + "ldap-aduser1-ntlm.pcap", registry, writer);
  ASSERT_TRUE(stats);
  EXPECT_EQ(writer.written(), stats->events);
  std::istringstream lines(out.str());
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("protocol"), "ldap");
    EXPECT_EQ(j.at("principal"), "User1");
    EXPECT_EQ(j.at("outcome"), "success");
    EXPECT_EQ(j.at("dst"), "192.168.226.136:389");
    ++n;
  }
  EXPECT_EQ(n, 1);
}

// ---- Files that are not (whole) captures --------------------------------------

TEST(ProcessCaptureFile, NonCaptureAndMissingFilesAreErrors) {
  const dissect::Registry registry = builtin_registry();
  Collect sink;
  const std::string path = tb::temp_path("garbage.pcap");
  std::ofstream(path) << "\x01\x02garbage, not a capture";
  auto bad = process_capture_file(path, registry, sink);
  std::remove(path.c_str());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kMalformed);
  auto missing = process_capture_file(kLdapDir + "nope.pcap", registry, sink);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kIo);
  EXPECT_TRUE(sink.events.empty());
}

TEST(ProcessCaptureFile, TruncatedCaptureIsAnErrorButEarlierEventsArrive) {
  std::ifstream in(kLdapDir + "ldap-simpleauth.pcap", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string path = tb::temp_path("truncated-ldap.pcap");
  // Frame 10 (the second BindResponse) starts at byte 1142: cut inside it.
  ASSERT_EQ(bytes.size(), 1390u);
  std::ofstream(path, std::ios::binary) << bytes.substr(0, 1142 + 16 + 40);
  const dissect::Registry registry = builtin_registry();
  Collect sink;
  auto result = process_capture_file(path, registry, sink);
  std::remove(path.c_str());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kMalformed);
  // The first bind completed before the damage; the second is unanswered.
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(sink.events[1].outcome(), v1::OUTCOME_UNKNOWN);
}

// ---- Hand-built traffic through the whole pipeline ------------------------------

class PipelineTest : public ::testing::Test {
 protected:
  void packet(const Bytes& frame, std::uint64_t t = 1'000'000'000,
              capture::LinkType link = capture::LinkType::kEthernet) {
    frames.push_back(frame);
    pipeline.on_packet(tb::raw_packet(frames.back(), t, link));
  }
  void client(std::uint32_t seq, const Bytes& payload, std::uint16_t dport = 389) {
    packet(tb::eth_tcp(Tcp{.sport = 50000, .dport = dport, .seq = seq, .payload = payload}, true));
  }
  void server(std::uint32_t seq, const Bytes& payload, std::uint16_t sport = 389) {
    packet(tb::eth_tcp(Tcp{.sport = sport, .dport = 50000, .seq = seq, .payload = payload}, false));
  }

  dissect::Registry registry = builtin_registry();
  Collect sink;
  PacketPipeline pipeline{registry, sink};
  std::vector<Bytes> frames;
};

TEST_F(PipelineTest, BindSplitAcrossSegmentsOutOfOrder) {
  const Bytes req = tb::simple_bind(1, "cn=split,dc=example", "pw-split");
  const std::size_t half = req.size() / 2;
  const Bytes first(req.begin(), req.begin() + static_cast<std::ptrdiff_t>(half));
  const Bytes second(req.begin() + static_cast<std::ptrdiff_t>(half), req.end());
  packet(tb::eth_tcp(Tcp{.sport = 50000, .dport = 389, .seq = 99, .flags = flow::tcp_flags::kSyn}));
  client(100 + static_cast<std::uint32_t>(half), second);  // arrives first
  client(100, first);
  client(100, first);  // retransmitted
  server(900, tb::bind_response(1, 0));
  pipeline.finish();
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].principal(), "cn=split,dc=example");
  EXPECT_EQ(sink.events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(sink.events[0].src().port(), 50000u);
  EXPECT_EQ(sink.events[0].dst().port(), 389u);
  const CaptureStats stats = pipeline.stats();
  EXPECT_EQ(stats.anomalies.at("tcp.retransmission"), 1u);
  EXPECT_EQ(stats.events, 1u);
}

TEST_F(PipelineTest, BindWithoutResponseIsUnknownWhenTheCaptureEnds) {
  client(1, tb::simple_bind(3, "cn=waiting", "pw"));
  EXPECT_TRUE(sink.events.empty());
  pipeline.finish();
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].outcome(), v1::OUTCOME_UNKNOWN);
}

TEST_F(PipelineTest, GarbageOnLdapPortIsCountedNotFatal) {
  client(1, tb::bytes_of("\x16\x03\x01 definitely not LDAP at all"));
  client(40, tb::bytes_of("more garbage"));
  server(1, Bytes(64, 0xFF));
  pipeline.finish();
  EXPECT_TRUE(sink.events.empty());
  const CaptureStats stats = pipeline.stats();
  EXPECT_EQ(stats.anomalies.at("ldap.malformed_framing"), 1u);
  EXPECT_EQ(stats.flows, 1u);
}

TEST_F(PipelineTest, OversizedBerLengthOnLdapPort) {
  client(1, Bytes{0x30, 0x84, 0x10, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01});
  pipeline.finish();
  EXPECT_EQ(pipeline.stats().anomalies.at("ldap.message_too_large"), 1u);
}

TEST_F(PipelineTest, UnknownPortIsSniffedOrIgnored) {
  client(1, tb::simple_bind(1, "cn=gc", "pw"), 3268);
  server(1, tb::bind_response(1, 0), 3268);
  // Nothing any dissector knows, on another unregistered port: ignored.
  packet(tb::eth_tcp(
      Tcp{.sport = 50001, .dport = 9999, .seq = 1, .payload = tb::bytes_of("xyzzy plugh\r\n")}));
  pipeline.finish();
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].principal(), "cn=gc");
  EXPECT_EQ(sink.events[0].dst().port(), 3268u);
  EXPECT_EQ(pipeline.stats().flows, 2u);
}

TEST_F(PipelineTest, TruncatedAndMalformedPacketsAreCounted) {
  const Bytes good = tb::eth_tcp(Tcp{.seq = 1, .payload = tb::simple_bind(1, "cn=t", "pw")});
  packet(Bytes(good.begin(), good.begin() + 20));  // inside the IP header
  packet(Bytes(good.begin(), good.begin() + 40));  // IP says longer than captured
  packet(Bytes(5, 0));
  packet(tb::ethernet(0x0806, Bytes(28, 0)));  // ARP
  const CaptureStats stats = pipeline.stats();
  EXPECT_EQ(stats.packets, 4u);
  EXPECT_EQ(stats.malformed, 3u);
  EXPECT_EQ(stats.ignored, 1u);
  EXPECT_EQ(stats.anomalies.at("ipv4.truncated_header"), 1u);
  EXPECT_EQ(stats.anomalies.at("ip.truncated_payload"), 1u);
  EXPECT_EQ(stats.anomalies.at("ethernet.truncated_header"), 1u);
}

TEST_F(PipelineTest, GapInTheClientStreamThenResync) {
  const Bytes lost = tb::simple_bind(1, "cn=lost", "pw");
  const Bytes next = tb::simple_bind(2, "cn=after-gap", "pw");
  client(1, Bytes(lost.begin(), lost.begin() + 4));
  // lost[4..] never captured; the next message follows.
  client(1 + static_cast<std::uint32_t>(lost.size()), next);
  server(1, tb::bind_response(2, 0));
  pipeline.finish();
  const CaptureStats stats = pipeline.stats();
  EXPECT_EQ(stats.anomalies.at("tcp.gap"), 1u);
  EXPECT_EQ(stats.anomalies.at("ldap.gap"), 1u);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].principal(), "cn=after-gap");
}

// ---- Other link types, through pcap files ---------------------------------------

Bytes ldap_ipv4(bool from_client, const Bytes& payload, std::uint32_t seq) {
  return tb::ipv4(
      from_client ? tb::kClientIp : tb::kServerIp, from_client ? tb::kServerIp : tb::kClientIp, 6,
      tb::tcp_segment(Tcp{.sport = static_cast<std::uint16_t>(from_client ? 50000 : 389),
                          .dport = static_cast<std::uint16_t>(from_client ? 389 : 50000),
                          .seq = seq,
                          .payload = payload}));
}

TEST(LinkTypes, CookedRawAndLoopbackFilesDecode) {
  const Bytes req = tb::simple_bind(1, "cn=link", "pw");
  const Bytes resp = tb::bind_response(1, 0);
  const Bytes sll = {0, 0, 0, 1, 0, 6, 2, 2, 2, 2, 2, 2, 0, 0, 0x08, 0x00};
  const Bytes sll2 = {0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 2, 2, 2, 2, 2, 0, 0};
  const Bytes null_le = {2, 0, 0, 0};
  const Bytes loop_be = {0, 0, 0, 2};
  struct Case {
    int dlt;
    Bytes prefix;
  };
  const Case cases[] = {{DLT_LINUX_SLL, sll},
                        {DLT_LINUX_SLL2, sll2},
                        {DLT_RAW, {}},
                        {DLT_NULL, null_le},
                        {DLT_LOOP, loop_be}};
  const dissect::Registry registry = builtin_registry();
  for (const Case& c : cases) {
    const std::string path = tb::temp_path("link" + std::to_string(c.dlt) + ".pcap");
    ASSERT_TRUE(tb::write_pcap(
        path, c.dlt,
        {{1'700'000'000'123'456'789ULL, tb::concat({c.prefix, ldap_ipv4(true, req, 1)})},
         {1'700'000'000'223'456'789ULL, tb::concat({c.prefix, ldap_ipv4(false, resp, 1)})}}));
    Collect sink;
    auto stats = process_capture_file(path, registry, sink);
    std::remove(path.c_str());
    ASSERT_TRUE(stats) << stats.error().describe();
    ASSERT_EQ(sink.events.size(), 1u) << "dlt " << c.dlt;
    EXPECT_EQ(sink.events[0].principal(), "cn=link");
    EXPECT_EQ(sink.events[0].time_ns(), 1'700'000'000'123'456'789ULL);
    EXPECT_EQ(stats->malformed, 0u);
  }
}

TEST(LinkTypes, VlanTaggedIpv6File) {
  const Bytes req = tb::simple_bind(1, "cn=v6", "pw");
  const Bytes resp = tb::bind_response(1, 0);
  auto frame = [](bool from_client, const Bytes& payload) {
    const Bytes seg =
        tb::tcp_segment(Tcp{.sport = static_cast<std::uint16_t>(from_client ? 50000 : 389),
                            .dport = static_cast<std::uint16_t>(from_client ? 389 : 50000),
                            .seq = 1,
                            .payload = payload});
    return tb::ethernet(0x86DD, tb::ipv6(from_client ? 1 : 2, from_client ? 2 : 1, 6, seg),
                        {0x88A8, 0x8100});
  };
  const std::string path = tb::temp_path("qinq6.pcap");
  ASSERT_TRUE(tb::write_pcap(path, DLT_EN10MB, {{10, frame(true, req)}, {20, frame(false, resp)}}));
  const dissect::Registry registry = builtin_registry();
  Collect sink;
  auto stats = process_capture_file(path, registry, sink);
  std::remove(path.c_str());
  ASSERT_TRUE(stats);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].src().address().size(), 16u);
  EXPECT_EQ(sink.events[0].src().address()[15], 1);
  EXPECT_EQ(sink.events[0].dst().address()[15], 2);
}

}  // namespace
}  // namespace vagt::agent::decode
