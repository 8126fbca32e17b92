#pragma once

// Writes hand-built frames to a pcap file (nanosecond precision) for tests.

#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "tests/agent/packet_builder.h"

namespace vagt::agent::testing {

inline bool write_pcap(const std::string& path, int dlt,
                       const std::vector<std::pair<std::uint64_t, Bytes>>& frames) {
  pcap_t* dead = pcap_open_dead_with_tstamp_precision(dlt, 262144, PCAP_TSTAMP_PRECISION_NANO);
  if (dead == nullptr) return false;
  pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
  if (dumper == nullptr) {
    pcap_close(dead);
    return false;
  }
  for (const auto& [time_ns, frame] : frames) {
    pcap_pkthdr header{};
    header.ts.tv_sec = static_cast<time_t>(time_ns / 1'000'000'000ULL);
    header.ts.tv_usec = static_cast<suseconds_t>(time_ns % 1'000'000'000ULL);
    header.caplen = static_cast<bpf_u_int32>(frame.size());
    header.len = header.caplen;
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.data());
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
  return true;
}

inline std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/vagt_agent_test_" +
         std::to_string(::getpid()) + "_" + name;
}

}  // namespace vagt::agent::testing
