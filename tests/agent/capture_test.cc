#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "agent/capture/capture_config.h"
#include "agent/capture/pcap_file_source.h"
#include "common/yaml_util.h"
#include "tests/agent/pcap_writer.h"

namespace vagt::agent::capture {
namespace {

namespace tb = vagt::agent::testing;

const std::string kLdapDir = std::string(VAGT_TEST_DATA) + "/pcap/ldap/";

std::size_t count_packets(PacketSource& source, std::uint64_t* first_time = nullptr) {
  std::size_t n = 0;
  for (;;) {
    auto next = source.next();
    EXPECT_TRUE(next) << next.error().describe();
    if (!next || !next->has_value()) break;
    if (n == 0 && first_time != nullptr) *first_time = (*next)->time_ns;
    EXPECT_GE((*next)->wire_length, (*next)->data.size());
    ++n;
  }
  return n;
}

TEST(PcapFileSource, ReadsPcapWithNanosecondTimestamps) {
  auto source = PcapFileSource::open(kLdapDir + "ldap-simpleauth.pcap");
  ASSERT_TRUE(source) << source.error().describe();
  EXPECT_EQ((*source)->link_type(), LinkType::kEthernet);
  std::uint64_t first = 0;
  EXPECT_EQ(count_packets(**source, &first), 12u);
  EXPECT_EQ(first / 1'000'000'000ULL, 1463256456u);  // 2016-05-14, as tshark shows
  // The end stays the end.
  auto again = (*source)->next();
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
}

TEST(PcapFileSource, ReadsPcapng) {
  auto source = PcapFileSource::open(kLdapDir + "ldap-simpleauth.pcapng");
  ASSERT_TRUE(source) << source.error().describe();
  EXPECT_EQ(count_packets(**source), 12u);
}

TEST(PcapFileSource, MissingFileIsAnIoError) {
  auto source = PcapFileSource::open(kLdapDir + "does-not-exist.pcap");
  ASSERT_FALSE(source);
  EXPECT_EQ(source.error().code, ErrorCode::kIo);
}

TEST(PcapFileSource, NonCaptureFileIsMalformed) {
  const std::string path = tb::temp_path("not-a-capture.pcap");
  std::ofstream(path) << "this is not a capture file, just text\n";
  auto source = PcapFileSource::open(path);
  std::remove(path.c_str());
  ASSERT_FALSE(source);
  EXPECT_EQ(source.error().code, ErrorCode::kMalformed);
  EXPECT_NE(source.error().message.find("not a readable pcap"), std::string::npos);

  const std::string empty = tb::temp_path("empty.pcap");
  std::ofstream{empty};
  auto empty_source = PcapFileSource::open(empty);
  std::remove(empty.c_str());
  ASSERT_FALSE(empty_source);
  EXPECT_EQ(empty_source.error().code, ErrorCode::kMalformed);
}

TEST(PcapFileSource, TruncatedFileGivesAnErrorAfterTheGoodPackets) {
  std::ifstream in(kLdapDir + "ldap-simpleauth.pcap", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 700u);
  const std::string path = tb::temp_path("truncated.pcap");
  std::ofstream(path, std::ios::binary) << bytes.substr(0, 700);
  auto source = PcapFileSource::open(path);
  std::remove(path.c_str());
  ASSERT_TRUE(source) << source.error().describe();
  std::size_t good = 0;
  for (;;) {
    auto next = (*source)->next();
    if (!next) {
      EXPECT_EQ(next.error().code, ErrorCode::kMalformed);
      EXPECT_NE(next.error().message.find("damaged"), std::string::npos);
      break;
    }
    ASSERT_TRUE(next->has_value()) << "a truncated file must not look complete";
    ++good;
  }
  EXPECT_GT(good, 0u);
  // The error sticks.
  EXPECT_FALSE((*source)->next());
}

TEST(PcapFileSource, LinkTypesMapAndUnsupportedOnesAreRefused) {
  EXPECT_EQ(link_type_from_dlt(DLT_EN10MB), LinkType::kEthernet);
  EXPECT_EQ(link_type_from_dlt(DLT_LINUX_SLL), LinkType::kLinuxSll);
  EXPECT_EQ(link_type_from_dlt(DLT_LINUX_SLL2), LinkType::kLinuxSll2);
  EXPECT_EQ(link_type_from_dlt(DLT_RAW), LinkType::kRawIp);
  EXPECT_EQ(link_type_from_dlt(DLT_NULL), LinkType::kNull);
  EXPECT_EQ(link_type_from_dlt(DLT_LOOP), LinkType::kLoop);
  EXPECT_FALSE(link_type_from_dlt(DLT_IEEE802_11));

  const std::string path = tb::temp_path("wifi.pcap");
  ASSERT_TRUE(tb::write_pcap(path, DLT_IEEE802_11, {{1, tb::Bytes(30, 0)}}));
  auto source = PcapFileSource::open(path);
  std::remove(path.c_str());
  ASSERT_FALSE(source);
  EXPECT_EQ(source.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace vagt::agent::capture

// ---- The capture: section of agent.yaml ----------------------------------------

namespace vagt::agent::capture {
namespace {

TEST(CaptureConfig, ParsesEveryKeyAndDefaults) {
  const auto c = parse_capture_config(
      "agent.yaml", YAML::Load("interfaces: [eth0, eth1]\nfilter: tcp port 389 or port 88\n"
                               "snaplen: 4096\nbuffer_bytes: 33554432\npromiscuous: true\n"
                               "health_interval_s: 30\n"));
  EXPECT_EQ(c.interfaces, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(c.filter, "tcp port 389 or port 88");
  EXPECT_EQ(c.snaplen, 4096);
  EXPECT_EQ(c.buffer_bytes, 33554432);
  EXPECT_TRUE(c.promiscuous);
  EXPECT_EQ(c.health_interval_s, 30u);
  const auto d = parse_capture_config("agent.yaml", YAML::Load("interfaces: [lo]"));
  EXPECT_FALSE(d.promiscuous);
  EXPECT_EQ(d.snaplen, 65535);
  EXPECT_EQ(d.health_interval_s, 60u);
}

TEST(CaptureConfig, ErrorsNameFileAndKey) {
  auto message = [](const std::string& text) -> std::string {
    try {
      (void)parse_capture_config("agent.yaml", YAML::Load(text));
    } catch (const yaml::ConfigError& e) {
      return e.message;
    }
    return "no error";
  };
  EXPECT_NE(message("interface: eth0").find("unknown key 'interface'"), std::string::npos);
  EXPECT_NE(message("snaplen: 10").find("capture.snaplen must be"), std::string::npos);
  EXPECT_NE(message("interfaces: eth0").find("must be a list"), std::string::npos);
  EXPECT_NE(message("buffer_bytes: 5").find("agent.yaml:1:"), std::string::npos);
}

}  // namespace
}  // namespace vagt::agent::capture
