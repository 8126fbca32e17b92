#pragma once

// A live libpcap capture on one interface: pcap_create, immediate mode (no
// batching delay), the configured snaplen and kernel buffer, promiscuous mode
// off unless asked, an optional BPF filter, nanosecond timestamps where the
// platform has them.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "agent/capture/packet_source.h"
#include "common/result.h"

struct pcap;

namespace vagt::agent::capture {

struct LiveOptions {
  std::string interface;
  std::string filter;
  int snaplen = 65535;
  int buffer_bytes = 16 << 20;
  bool promiscuous = false;
  int read_timeout_ms = 100;  // how often next() returns to look at the stop flag
};

struct LiveStats {
  std::uint64_t received = 0;    // ps_recv
  std::uint64_t dropped = 0;     // ps_drop: no room in the buffer
  std::uint64_t if_dropped = 0;  // ps_ifdrop: dropped by the interface or driver
};

class PcapLiveSource final : public PacketSource {
 public:
  // Fails with kIo naming the interface and libpcap's reason (no such
  // device, "Operation not permitted" without CAP_NET_RAW), kInvalidArgument
  // for a filter that does not compile or an unsupported link type.
  [[nodiscard]] static Result<std::unique_ptr<PcapLiveSource>> open(const LiveOptions& options);

  ~PcapLiveSource() override;
  PcapLiveSource(const PcapLiveSource&) = delete;
  PcapLiveSource& operator=(const PcapLiveSource&) = delete;

  // The next packet; std::nullopt when the read timeout passed with nothing
  // (live capture has no end; see stopped()) or after break_loop().
  [[nodiscard]] Result<std::optional<RawPacket>> next() override;
  std::string describe() const override;

  // Makes a blocked next() return (any thread).
  void break_loop();
  [[nodiscard]] Result<LiveStats> stats() const;
  const std::string& interface() const { return options_.interface; }
  LinkType link_type() const { return link_type_; }

 private:
  PcapLiveSource(pcap* handle, LinkType link_type, LiveOptions options, bool nano);

  pcap* handle_;
  LinkType link_type_;
  LiveOptions options_;
  bool nano_;
};

}  // namespace vagt::agent::capture
