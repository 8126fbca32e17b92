#pragma once

// The one JSON form of an AccessEvent, shared by `vagt-agent decode` and
// `vagtctl --json`. Field names are stable (docs/events.md):
// ts, protocol, transport, src, dst, principal, realm, action, resource,
// patient, outcome, code, detail (+ agent, seq when the event was signed).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/proto/vagt.pb.h"

namespace vagt {

// RFC 3339 in UTC with nanoseconds: 2024-05-01T12:00:00.123456789Z
std::string format_time_ns(std::uint64_t time_ns);
// "10.0.0.1:389" or "[2001:db8::1]:389"; "" when the address is empty.
std::string format_endpoint(const v1::Endpoint& ep);
// "10.0.0.1" / "2001:db8::1"; "" when the address is not 4 or 16 bytes.
std::string format_address(const std::string& address_bytes);
const char* outcome_name(v1::Outcome outcome) noexcept;
const char* transport_name(v1::Transport transport) noexcept;

nlohmann::ordered_json event_to_json(const v1::AccessEvent& event);

}  // namespace vagt
