#pragma once

// Where packets come from. A PacketSource yields raw link-layer frames with
// their capture time; what consumes them (flow decoding, dissectors) does not
// know whether they came from a file or a live interface.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/byte_reader.h"
#include "common/result.h"

namespace vagt::agent::capture {

// The link layers vagt decodes. Sources map their own numbering (libpcap
// DLT_*) onto this and refuse anything else when opened.
enum class LinkType : std::uint8_t {
  kEthernet,   // DLT_EN10MB, with 802.1Q / 802.1ad (QinQ) tags
  kLinuxSll,   // DLT_LINUX_SLL, Linux "cooked" v1 (16-byte header)
  kLinuxSll2,  // DLT_LINUX_SLL2, Linux "cooked" v2 (20-byte header)
  kRawIp,      // DLT_RAW / DLT_IPV4 / DLT_IPV6: the frame starts with the IP header
  kNull,       // DLT_NULL: 4-byte address family in the capturing host's byte order
  kLoop,       // DLT_LOOP: 4-byte address family in network byte order
};

std::string_view link_type_name(LinkType type) noexcept;

// One captured frame. `data` points into the source's buffer and is valid only
// until the next call to PacketSource::next(); copy what must outlive it.
struct RawPacket {
  std::uint64_t time_ns = 0;  // Unix epoch, nanoseconds
  LinkType link_type = LinkType::kEthernet;
  ByteView data;                  // the captured bytes (caplen)
  std::uint32_t wire_length = 0;  // length on the wire (>= data.size() when snapped)
};

class PacketSource {
 public:
  virtual ~PacketSource() = default;

  // The next packet; std::nullopt at the end of the input; an Error when the
  // input is broken (truncated file, read failure). After an Error or the end,
  // further calls keep returning the same.
  [[nodiscard]] virtual Result<std::optional<RawPacket>> next() = 0;

  // A short human description ("file foo.pcap, Ethernet").
  virtual std::string describe() const = 0;
};

}  // namespace vagt::agent::capture
