// RADIUS: the corpus captures and hand-built packets through the pipeline.

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "agent/decode/json_lines.h"
#include "tests/agent/corpus_run.h"
#include "tests/agent/packet_builder.h"

namespace vagt::agent::decode {
namespace {

namespace tb = vagt::agent::testing;
using tb::Bytes;

const std::string kRadiusDir = std::string(VAGT_TEST_DATA) + "/pcap/radius/";

TEST(RadiusCaptures, EapLoginSucceeds) {
  tb::CorpusRun run = tb::run_capture(kRadiusDir + "zeek_radius.pcap");
  ASSERT_EQ(run.sink.events.size(), 1u);
  const auto& e = run.sink.events[0];
  EXPECT_EQ(e.protocol(), "radius");
  EXPECT_EQ(e.action(), "access");
  EXPECT_EQ(e.principal(), "John.McGuirk");
  EXPECT_EQ(e.outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(e.code(), "2");
  EXPECT_EQ(e.transport(), v1::TRANSPORT_UDP);
  EXPECT_EQ(e.dst().port(), 1812u);
  EXPECT_EQ(tb::detail_of(e, "nas_ip"), "10.0.0.1");
  EXPECT_EQ(tb::detail_of(e, "calling_station_id"), "00-14-22-E9-54-5E");
  EXPECT_EQ(tb::detail_of(e, "framed_ip"), "255.255.255.254");
  EXPECT_EQ(tb::detail_of(e, "auth"), "eap");
  EXPECT_EQ(tb::detail_of(e, "challenges"), "1");
}

TEST(RadiusCaptures, AccountingOnly) {
  tb::CorpusRun run = tb::run_capture(kRadiusDir + "arkime_radius.pcap");
  ASSERT_FALSE(run.sink.events.empty());
  for (const auto& e : run.sink.events) {
    EXPECT_EQ(e.action(), "accounting");
    EXPECT_EQ(e.principal(), "xxxxxxxxx");
    EXPECT_EQ(e.dst().port(), 1813u);
    EXPECT_EQ(tb::detail_of(e, "nas_ip"), "10.0.0.1");
    EXPECT_EQ(tb::detail_of(e, "framed_ip"), "10.0.0.3");
    EXPECT_EQ(tb::detail_of(e, "calling_station_id"), "985AEB898000");
  }
}

// A RADIUS packet: code, identifier, attributes (type, value).
Bytes radius(std::uint8_t code, std::uint8_t id,
             std::vector<std::pair<std::uint8_t, std::string>> attrs) {
  Bytes body;
  for (const auto& [type, value] : attrs) {
    body.push_back(type);
    body.push_back(static_cast<std::uint8_t>(2 + value.size()));
    body.insert(body.end(), value.begin(), value.end());
  }
  Bytes out{code, id};
  tb::put16(out, static_cast<std::uint16_t>(20 + body.size()));
  out.insert(out.end(), 16, 0xAB);  // authenticator
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

class RadiusPipelineTest : public ::testing::Test {
 protected:
  void udp(std::uint16_t client_port, const Bytes& payload, bool from_client,
           std::uint16_t server_port = 1812) {
    frames.push_back(tb::ethernet(
        0x0800, tb::ipv4(from_client ? tb::kClientIp : tb::kServerIp,
                         from_client ? tb::kServerIp : tb::kClientIp, 17,
                         tb::udp_datagram(from_client ? client_port : server_port,
                                          from_client ? server_port : client_port, payload))));
    pipeline.on_packet(tb::raw_packet(frames.back(), 1'000'000'000));
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

TEST_F(RadiusPipelineTest, RejectIsFailureAndThePasswordNeverAppears) {
  const std::string password = "Sommer2024hemmeligt";
  udp(40000, radius(1, 7, {{1, "alice"}, {2, password}, {32, "wifi-ap-3"}, {31, "aa-bb"}}), true);
  udp(40000, radius(1, 8, {{1, "bob"}, {2, password}}), true);
  udp(40000, radius(3, 7, {}), false);  // reject alice; bob never answered
  pipeline.finish();
  ASSERT_EQ(sink.events.size(), 2u);
  const auto& alice = sink.events[0];
  EXPECT_EQ(alice.principal(), "alice");
  EXPECT_EQ(alice.outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(alice.code(), "3");
  EXPECT_EQ(alice.resource(), "wifi-ap-3");
  EXPECT_EQ(tb::detail_of(alice, "auth"), "pap");
  EXPECT_EQ(tb::detail_of(alice, "reply"), "Access-Reject");
  EXPECT_EQ(sink.events[1].principal(), "bob");
  EXPECT_EQ(sink.events[1].outcome(), v1::OUTCOME_UNKNOWN);
  for (const auto& e : sink.events) {
    EXPECT_EQ(e.SerializeAsString().find(password), std::string::npos);
    EXPECT_EQ(event_to_json_line(e).find(password), std::string::npos);
  }
}

TEST_F(RadiusPipelineTest, SameIdentifierOnAnotherClientPortIsAnotherExchange) {
  udp(40001, radius(1, 1, {{1, "carol"}}), true);
  udp(40002, radius(1, 1, {{1, "dave"}}), true);
  udp(40002, radius(2, 1, {}), false);
  udp(40001, radius(3, 1, {}), false);
  pipeline.finish();
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].principal(), "dave");
  EXPECT_EQ(sink.events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(sink.events[1].principal(), "carol");
  EXPECT_EQ(sink.events[1].outcome(), v1::OUTCOME_FAILURE);
}

TEST_F(RadiusPipelineTest, AccountingStartAndStop) {
  udp(40003, radius(4, 2, {{1, "erin"}, {40, std::string("\0\0\0\1", 4)}, {44, "S1"}}), true, 1813);
  udp(40003, radius(5, 2, {}), false, 1813);
  udp(40003, radius(4, 3, {{1, "erin"}, {40, std::string("\0\0\0\2", 4)}, {44, "S1"}}), true, 1813);
  pipeline.finish();
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].action(), "accounting");
  EXPECT_EQ(tb::detail_of(sink.events[0], "status"), "start");
  EXPECT_EQ(sink.events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(tb::detail_of(sink.events[1], "status"), "stop");
  EXPECT_EQ(sink.events[1].outcome(), v1::OUTCOME_UNKNOWN);
  EXPECT_EQ(tb::detail_of(sink.events[1], "session_id"), "S1");
}

TEST_F(RadiusPipelineTest, MalformedPacketsAreAnomalies) {
  Bytes bad_attr = radius(1, 4, {{1, "frank"}});
  bad_attr[21] = 1;  // attribute length below 2
  udp(40004, bad_attr, true);
  Bytes long_length = radius(1, 5, {{1, "gina"}});
  long_length[3] = 0xFF;  // length past the datagram
  udp(40004, long_length, true);
  udp(40004, Bytes{1, 2, 3}, true);      // shorter than the header
  udp(40004, radius(2, 99, {}), false);  // reply with no request
  udp(40004, radius(42, 6, {}), true);   // unknown code
  pipeline.finish();
  EXPECT_TRUE(sink.events.empty());
  const auto stats = pipeline.stats();
  EXPECT_EQ(stats.anomalies.at("radius.malformed"), 3u);
  EXPECT_EQ(stats.anomalies.at("radius.reply_without_request"), 1u);
  EXPECT_EQ(stats.anomalies.at("radius.unknown_code"), 1u);
}

}  // namespace
}  // namespace vagt::agent::decode
