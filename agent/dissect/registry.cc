#include "agent/dissect/registry.h"

#include <algorithm>
#include <string>

namespace vagt::agent::dissect {
namespace {

// Registers `dissector` for `ports` in `table` unless one is taken.
template <typename D>
Result<void> add_ports(std::vector<std::unique_ptr<D>>& owned,
                       std::unordered_map<std::uint16_t, const D*>& table,
                       std::unique_ptr<D> dissector, std::span<const std::uint16_t> ports,
                       std::string_view transport) {
  if (!dissector) return fail(ErrorCode::kInvalidArgument, "null dissector");
  for (std::uint16_t port : ports) {
    if (auto it = table.find(port); it != table.end()) {
      return fail(ErrorCode::kInvalidArgument, std::string(transport) + " port " +
                                                   std::to_string(port) + " already taken by " +
                                                   std::string(it->second->name()));
    }
  }
  for (std::uint16_t port : ports) table.emplace(port, dissector.get());
  owned.push_back(std::move(dissector));
  return {};
}

}  // namespace

Result<void> Registry::add_stream(std::unique_ptr<StreamDissector> dissector,
                                  std::span<const std::uint16_t> tcp_ports) {
  return add_ports(stream_, tcp_ports_, std::move(dissector), tcp_ports, "TCP");
}

const StreamDissector* Registry::stream_for_port(std::uint16_t port) const {
  auto it = tcp_ports_.find(port);
  return it == tcp_ports_.end() ? nullptr : it->second;
}

const StreamDissector* Registry::sniff_stream(ByteView first_client_bytes) const {
  for (const auto& d : stream_) {
    if (d->sniff(first_client_bytes)) return d.get();
  }
  return nullptr;
}

std::vector<std::string_view> Registry::names() const {
  std::vector<std::string_view> out;
  for (const auto& d : stream_) out.push_back(d->name());
  for (const auto& d : datagram_) {
    // Kerberos is both a stream and a datagram dissector: one name.
    if (std::find(out.begin(), out.end(), d->name()) == out.end()) out.push_back(d->name());
  }
  return out;
}

Result<void> Registry::add_datagram(std::unique_ptr<DatagramDissector> dissector,
                                    std::span<const std::uint16_t> udp_ports) {
  return add_ports(datagram_, udp_ports_, std::move(dissector), udp_ports, "UDP");
}

const DatagramDissector* Registry::datagram_for_port(std::uint16_t port) const {
  auto it = udp_ports_.find(port);
  return it == udp_ports_.end() ? nullptr : it->second;
}

}  // namespace vagt::agent::dissect
