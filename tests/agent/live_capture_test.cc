// Live capture on the loopback interface against a real OpenLDAP slapd
// (Debian package slapd, started with a throwaway config in a temporary
// directory on a free port). Capture needs root or CAP_NET_RAW; without it
// the test fails and says so.

#include "agent/decode/live_capture.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/capture/pcap_live_source.h"
#include "agent/dissect/builtin.h"

namespace vagt::agent::decode {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSlapd = "/usr/sbin/slapd";
constexpr const char* kLdapWhoami = "/usr/bin/ldapwhoami";
constexpr const char* kAdmin = "cn=admin,dc=example,dc=org";
constexpr const char* kPassword = "Vagt-test-Secret-1";

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(s);
    return -1;
  }
  ::close(s);
  return ntohs(a.sin_port);
}

bool port_open(int port) {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// slapd in the foreground (-d 0) on 127.0.0.1:port; killed by the destructor.
class Slapd {
 public:
  bool start(const fs::path& dir, int port) {
    fs::create_directories(dir / "db");
    std::ofstream conf(dir / "slapd.conf");
    conf << "include /etc/ldap/schema/core.schema\n"
         << "pidfile " << (dir / "slapd.pid").string() << "\n"
         << "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
         << "database mdb\nmaxsize 10485760\nsuffix \"dc=example,dc=org\"\n"
         << "rootdn \"" << kAdmin << "\"\nrootpw " << kPassword << "\n"
         << "directory " << (dir / "db").string() << "\n";
    conf.close();
    const std::string conf_path = (dir / "slapd.conf").string();
    const std::string url = "ldap://127.0.0.1:" + std::to_string(port) + "/";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(kSlapd, kSlapd, "-f", conf_path.c_str(), "-h", url.c_str(), "-d", "0",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      if (port_open(port)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  ~Slapd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

TEST(LiveCapture, LdapBindsOnLoopbackFromRealSlapd) {
  // Capture permission first: without it there is nothing to test, and a
  // silent pass would hide that.
  {
    capture::LiveOptions probe;
    probe.interface = "lo";
    auto source = capture::PcapLiveSource::open(probe);
    ASSERT_TRUE(source) << "live capture on lo is not permitted here (" << source.error().message
                        << "): run the tests as root or give the test binary CAP_NET_RAW";
  }
  ASSERT_TRUE(fs::exists(kSlapd) && fs::exists(kLdapWhoami))
      << "slapd and ldap-utils are needed (Debian packages slapd ldap-utils; .ci/setup)";

  const fs::path dir = fs::temp_directory_path() / ("vagt-slapd-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const int port = free_port();
  ASSERT_GT(port, 0);
  Slapd slapd;
  ASSERT_TRUE(slapd.start(dir, port)) << "slapd did not start on port " << port;

  dissect::Registry registry;
  ASSERT_TRUE(dissect::register_builtin_dissectors(registry));
  EventCollector sink;
  capture::CaptureConfig config;
  config.interfaces = {"lo"};
  config.filter = "tcp port " + std::to_string(port);
  config.health_interval_s = 3600;  // only the final report
  LiveCapture live(registry, sink, config);
  ASSERT_TRUE(live.start());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  const std::string base = std::string(kLdapWhoami) +
                           " -x -H ldap://127.0.0.1:" + std::to_string(port) + " -D " + kAdmin +
                           " -w ";
  EXPECT_EQ(std::system((base + kPassword + " >/dev/null 2>&1").c_str()), 0);
  EXPECT_NE(std::system((base + "wrong-password >/dev/null 2>&1").c_str()), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  live.stop();
  fs::remove_all(dir);
  EXPECT_FALSE(live.error().has_value());

  std::vector<v1::AccessEvent> binds;
  int health = 0;
  for (const auto& e : sink.events) {
    if (e.protocol() == "ldap" && e.action() == "bind") binds.push_back(e);
    if (e.protocol() == "vagt" && e.action() == "capture_health") {
      ++health;
      EXPECT_EQ(e.detail().at("interface"), "lo");
      EXPECT_GT(std::stoull(e.detail().at("received")), 0u);
    }
    EXPECT_EQ(e.SerializeAsString().find(kPassword), std::string::npos);
  }
  EXPECT_EQ(health, 1);
  ASSERT_EQ(binds.size(), 2u);
  EXPECT_EQ(binds[0].principal(), kAdmin);
  EXPECT_EQ(binds[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(binds[0].code(), "0");
  EXPECT_EQ(binds[0].dst().port(), static_cast<std::uint32_t>(port));
  EXPECT_EQ(binds[1].principal(), kAdmin);
  EXPECT_EQ(binds[1].outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(binds[1].code(), "49");
}

TEST(LiveCapture, BadInterfaceAndFilterAreClearErrors) {
  capture::LiveOptions o;
  o.interface = "vagt-no-such0";
  auto missing = capture::PcapLiveSource::open(o);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("vagt-no-such0"), std::string::npos);
  o.interface = "lo";
  o.filter = "tcp port not-a-port";
  auto bad = capture::PcapLiveSource::open(o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("bad filter"), std::string::npos)
      << bad.error().message;  // (or a permission error, which names itself)
}

TEST(CaptureHealth, EventCarriesPcapAndPipelineCounters) {
  CaptureStats stats;
  stats.packets = 10;
  stats.anomalies["tcp.gap"] = 2;
  stats.anomalies["ip.fragment_timeout"] = 1;
  const auto e = capture_health_event("eth0", capture::LiveStats{100, 3, 1}, stats, 42);
  EXPECT_EQ(e.protocol(), "vagt");
  EXPECT_EQ(e.action(), "capture_health");
  EXPECT_EQ(e.outcome(), v1::OUTCOME_FAILURE);  // drops
  EXPECT_EQ(e.detail().at("received"), "100");
  EXPECT_EQ(e.detail().at("dropped"), "3");
  EXPECT_EQ(e.detail().at("if_dropped"), "1");
  EXPECT_EQ(e.detail().at("tcp_gaps"), "2");
  EXPECT_EQ(e.detail().at("fragments_dropped"), "1");
  EXPECT_EQ(e.detail().at("anomalies"), "3");
}

}  // namespace
}  // namespace vagt::agent::decode
