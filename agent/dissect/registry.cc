#include "agent/dissect/registry.h"

#include <string>

namespace vagt::agent::dissect {

Result<void> Registry::add_stream(std::unique_ptr<StreamDissector> dissector,
                                  std::span<const std::uint16_t> tcp_ports) {
  if (!dissector) return fail(ErrorCode::kInvalidArgument, "null dissector");
  for (std::uint16_t port : tcp_ports) {
    if (auto it = tcp_ports_.find(port); it != tcp_ports_.end()) {
      return fail(ErrorCode::kInvalidArgument, "TCP port " + std::to_string(port) +
                                                   " already taken by " +
                                                   std::string(it->second->name()));
    }
  }
  for (std::uint16_t port : tcp_ports) tcp_ports_.emplace(port, dissector.get());
  stream_.push_back(std::move(dissector));
  return {};
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
  for (const auto& d : datagram_) out.push_back(d->name());
  return out;
}

Result<void> Registry::add_datagram(std::unique_ptr<DatagramDissector> dissector,
                                    std::span<const std::uint16_t> udp_ports) {
  if (!dissector) return fail(ErrorCode::kInvalidArgument, "null dissector");
  for (std::uint16_t port : udp_ports) {
    if (auto it = udp_ports_.find(port); it != udp_ports_.end()) {
      return fail(ErrorCode::kInvalidArgument, "UDP port " + std::to_string(port) +
                                                   " already taken by " +
                                                   std::string(it->second->name()));
    }
  }
  for (std::uint16_t port : udp_ports) udp_ports_.emplace(port, dissector.get());
  datagram_.push_back(std::move(dissector));
  return {};
}

const DatagramDissector* Registry::datagram_for_port(std::uint16_t port) const {
  auto it = udp_ports_.find(port);
  return it == udp_ports_.end() ? nullptr : it->second;
}

}  // namespace vagt::agent::dissect
