#include "agent/capture/pcap_live_source.h"

#include <pcap/pcap.h>

#include <utility>

#include "agent/capture/pcap_file_source.h"

namespace vagt::agent::capture {
namespace {

Error pcap_error(pcap_t* handle, const std::string& interface, const std::string& what, int rc) {
  std::string reason = pcap_geterr(handle);
  if (reason.empty()) reason = pcap_statustostr(rc);
  return Error{
      ErrorCode::kIo,
      "capture on " + interface + ": " + what + ": " + reason +
          (rc == PCAP_ERROR_PERM_DENIED ? " (needs root or CAP_NET_RAW and CAP_NET_ADMIN)" : "")};
}

}  // namespace

Result<std::unique_ptr<PcapLiveSource>> PcapLiveSource::open(const LiveOptions& options) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_create(options.interface.c_str(), errbuf);
  if (handle == nullptr) {
    return fail(ErrorCode::kIo, "capture on " + options.interface + ": " + errbuf);
  }
  auto close_with = [handle](Error e) -> Result<std::unique_ptr<PcapLiveSource>> {
    pcap_close(handle);
    return tl::unexpected<Error>(std::move(e));
  };
  pcap_set_snaplen(handle, options.snaplen);
  pcap_set_promisc(handle, options.promiscuous ? 1 : 0);
  pcap_set_timeout(handle, options.read_timeout_ms);
  pcap_set_immediate_mode(handle, 1);
  pcap_set_buffer_size(handle, options.buffer_bytes);
  const bool nano = pcap_set_tstamp_precision(handle, PCAP_TSTAMP_PRECISION_NANO) == 0;
  const int rc = pcap_activate(handle);
  if (rc < 0) return close_with(pcap_error(handle, options.interface, "cannot start", rc));
  const int dlt = pcap_datalink(handle);
  const auto link = link_type_from_dlt(dlt);
  if (!link) {
    return close_with(Error{
        ErrorCode::kInvalidArgument,
        "capture on " + options.interface + ": unsupported link type " + std::to_string(dlt)});
  }
  if (!options.filter.empty()) {
    bpf_program program{};
    if (pcap_compile(handle, &program, options.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return close_with(Error{ErrorCode::kInvalidArgument, "capture on " + options.interface +
                                                               ": bad filter '" + options.filter +
                                                               "': " + pcap_geterr(handle)});
    }
    const int set = pcap_setfilter(handle, &program);
    pcap_freecode(&program);
    if (set != 0)
      return close_with(pcap_error(handle, options.interface, "cannot set filter", set));
  }
  return std::unique_ptr<PcapLiveSource>(new PcapLiveSource(handle, *link, options, nano));
}

PcapLiveSource::PcapLiveSource(pcap* handle, LinkType link_type, LiveOptions options, bool nano)
    : handle_(handle), link_type_(link_type), options_(std::move(options)), nano_(nano) {}

PcapLiveSource::~PcapLiveSource() { pcap_close(handle_); }

Result<std::optional<RawPacket>> PcapLiveSource::next() {
  pcap_pkthdr* header = nullptr;
  const std::uint8_t* data = nullptr;
  const int rc = pcap_next_ex(handle_, &header, &data);
  if (rc == 1) {
    RawPacket packet;
    const auto frac = static_cast<std::uint64_t>(header->ts.tv_usec);
    packet.time_ns = static_cast<std::uint64_t>(header->ts.tv_sec) * 1'000'000'000ULL +
                     (nano_ ? frac : frac * 1000);
    packet.link_type = link_type_;
    packet.data = ByteView(data, header->caplen);
    packet.wire_length = header->len;
    return packet;
  }
  if (rc == 0 || rc == PCAP_ERROR_BREAK) return std::optional<RawPacket>{};
  return fail(ErrorCode::kIo, "capture on " + options_.interface + ": " + pcap_geterr(handle_));
}

std::string PcapLiveSource::describe() const {
  return "interface " + options_.interface + ", " + std::string(link_type_name(link_type_));
}

void PcapLiveSource::break_loop() { pcap_breakloop(handle_); }

Result<LiveStats> PcapLiveSource::stats() const {
  pcap_stat s{};
  if (pcap_stats(handle_, &s) != 0) {
    return fail(ErrorCode::kIo,
                "pcap_stats on " + options_.interface + ": " + pcap_geterr(handle_));
  }
  return LiveStats{s.ps_recv, s.ps_drop, s.ps_ifdrop};
}

}  // namespace vagt::agent::capture
