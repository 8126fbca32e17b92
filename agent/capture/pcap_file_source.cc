#include "agent/capture/pcap_file_source.h"

#include <pcap/pcap.h>

#include <cstdio>
#include <utility>

namespace vagt::agent::capture {

std::string_view link_type_name(LinkType type) noexcept {
  switch (type) {
    case LinkType::kEthernet:
      return "Ethernet";
    case LinkType::kLinuxSll:
      return "Linux cooked (SLL)";
    case LinkType::kLinuxSll2:
      return "Linux cooked v2 (SLL2)";
    case LinkType::kRawIp:
      return "raw IP";
    case LinkType::kNull:
      return "BSD null/loopback";
    case LinkType::kLoop:
      return "OpenBSD loopback";
  }
  return "unknown";
}

std::optional<LinkType> link_type_from_dlt(int dlt) noexcept {
  switch (dlt) {
    case DLT_EN10MB:
      return LinkType::kEthernet;
    case DLT_LINUX_SLL:
      return LinkType::kLinuxSll;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2:
      return LinkType::kLinuxSll2;
#endif
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
#endif
#ifdef DLT_IPV6
    case DLT_IPV6:
#endif
      return LinkType::kRawIp;
    case DLT_NULL:
      return LinkType::kNull;
    case DLT_LOOP:
      return LinkType::kLoop;
    default:
      return std::nullopt;
  }
}

Result<std::unique_ptr<PcapFileSource>> PcapFileSource::open(const std::string& path) {
  // libpcap reports a missing file and a non-capture file through the same
  // call; look at the file first so the error code says which it is.
  std::FILE* probe = std::fopen(path.c_str(), "rb");
  if (probe == nullptr) return fail(ErrorCode::kIo, "cannot open capture file " + path);
  std::fclose(probe);

  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (handle == nullptr) {
    return fail(ErrorCode::kMalformed,
                "not a readable pcap/pcapng capture: " + path + " (" + errbuf + ")");
  }
  const int dlt = pcap_datalink(handle);
  const auto link = link_type_from_dlt(dlt);
  if (!link) {
    const char* name = pcap_datalink_val_to_name(dlt);
    pcap_close(handle);
    return fail(ErrorCode::kInvalidArgument, "unsupported link type " + std::to_string(dlt) + " (" +
                                                 (name != nullptr ? name : "unknown") + ") in " +
                                                 path);
  }
  return std::unique_ptr<PcapFileSource>(new PcapFileSource(handle, *link, path));
}

PcapFileSource::PcapFileSource(pcap* handle, LinkType link_type, std::string path)
    : handle_(handle), link_type_(link_type), path_(std::move(path)) {}

PcapFileSource::~PcapFileSource() {
  if (handle_ != nullptr) pcap_close(handle_);
}

Result<std::optional<RawPacket>> PcapFileSource::next() {
  if (error_) return tl::unexpected<Error>(*error_);
  if (at_end_) return std::optional<RawPacket>{};

  pcap_pkthdr* header = nullptr;
  const std::uint8_t* data = nullptr;
  const int rc = pcap_next_ex(handle_, &header, &data);
  if (rc == 1) {
    RawPacket packet;
    // Opened with nanosecond precision: tv_usec holds nanoseconds.
    packet.time_ns = static_cast<std::uint64_t>(header->ts.tv_sec) * 1'000'000'000ULL +
                     static_cast<std::uint64_t>(header->ts.tv_usec);
    packet.link_type = link_type_;
    packet.data = ByteView(data, header->caplen);
    packet.wire_length = header->len;
    return packet;
  }
  if (rc == PCAP_ERROR_BREAK) {  // end of file
    at_end_ = true;
    return std::optional<RawPacket>{};
  }
  // PCAP_ERROR: a truncated record or a read failure ("truncated dump file").
  error_ = Error{ErrorCode::kMalformed,
                 "capture file " + path_ + " is damaged: " + pcap_geterr(handle_)};
  return tl::unexpected<Error>(*error_);
}

std::string PcapFileSource::describe() const {
  return "file " + path_ + ", " + std::string(link_type_name(link_type_));
}

}  // namespace vagt::agent::capture
