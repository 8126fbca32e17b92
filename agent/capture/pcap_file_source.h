#pragma once

// PacketSource over a pcap or pcapng file, read with libpcap at nanosecond
// precision.

#include <memory>
#include <optional>
#include <string>

#include "agent/capture/packet_source.h"
#include "common/result.h"

struct pcap;  // libpcap's pcap_t, kept out of this header

namespace vagt::agent::capture {

class PcapFileSource final : public PacketSource {
 public:
  // Fails with kIo when the file cannot be opened, kMalformed when it is not a
  // pcap/pcapng capture, kInvalidArgument when its link type is not supported.
  [[nodiscard]] static Result<std::unique_ptr<PcapFileSource>> open(const std::string& path);

  ~PcapFileSource() override;
  PcapFileSource(const PcapFileSource&) = delete;
  PcapFileSource& operator=(const PcapFileSource&) = delete;

  [[nodiscard]] Result<std::optional<RawPacket>> next() override;
  std::string describe() const override;

  LinkType link_type() const { return link_type_; }

 private:
  PcapFileSource(pcap* handle, LinkType link_type, std::string path);

  pcap* handle_;
  LinkType link_type_;
  std::string path_;
  std::optional<Error> error_;
  bool at_end_ = false;
};

// The LinkType for a libpcap DLT value, std::nullopt when vagt does not decode it.
std::optional<LinkType> link_type_from_dlt(int dlt) noexcept;

}  // namespace vagt::agent::capture
